// Command herdbench is shepherd's load harness: it starts memcached,
// shepherd and nutcracker on loopback, runs scenarios against them and
// reports what happened.
//
// Usage:
//
//	herdbench run bench/scenarios/herd.yaml [more.yaml ...] [flags]
//	herdbench run bench/scenarios/*.yaml --json out/results.json --report out/report.html
//	herdbench list [dir]
//
// Every process it starts is stopped when it ends, on error and on Ctrl-C
// (a second Ctrl-C kills them at once). See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shepherd-proxy/shepherd/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit: 0 when every scenario ran, 1 when one
// failed, 2 on bad usage, 130 when interrupted.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "list":
		return listCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "herdbench: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  herdbench run FILE.yaml [FILE.yaml ...] [flags]   run scenarios (flags may come before or after files)
  herdbench list [DIR]                              list the scenarios in DIR (default bench/scenarios)

Run "herdbench run -h" for the flags.
`)
}

// cli holds the parsed flags of "run".
type cli struct {
	jsonOut, reportOut                string
	shepherd, memcached, nutcracker   string
	comments                          string
	proxies                           []bench.ProxyCommand
	verbose, quiet                    bool
	connections, multigets            string
	targets, variants, modes, changes string
	zipf, getRatio, writes            string
	o                                 bench.Overrides
}

func newFlags(c *cli, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("herdbench run", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.StringVar(&c.jsonOut, "json", "", "write results as JSON to `FILE` (schema: bench/README.md)")
	fs.StringVar(&c.reportOut, "report", "", "write a self-contained HTML report to `FILE`")
	fs.StringVar(&c.shepherd, "shepherd", "", "shepherd binary `PATH` (default: go build ./cmd/shepherd)")
	fs.StringVar(&c.memcached, "memcached", "", "memcached binary `PATH` (default: from PATH)")
	fs.StringVar(&c.nutcracker, "nutcracker", "", "nutcracker binary `PATH` (default: /usr/sbin/nutcracker)")
	fs.StringVar(&c.comments, "comments", "", "comment service binary `PATH` (default: go build ./cmd/comments, when a comments scenario runs)")
	fs.Func("proxy", "throughput: one more target `NAME=COMMAND`, started with {listen} and {nodes} filled in (repeatable)", func(v string) error {
		p, err := bench.ParseProxyCommand(v)
		c.proxies = append(c.proxies, p)
		return err
	})
	fs.BoolVar(&c.verbose, "v", false, "log every process started and stopped")
	fs.BoolVar(&c.quiet, "quiet", false, "no live progress line")
	fs.DurationVar(&c.o.Duration, "duration", 0, "measured time of each point/mode/run (timed events scale with it)")
	fs.IntVar(&c.o.Nodes, "nodes", 0, "memcached nodes")
	fs.StringVar(&c.connections, "connections", "", "throughput: comma-separated connection counts")
	fs.IntVar(&c.o.Clients, "clients", 0, "herd readers; failover, rebalance and comments clients")
	fs.IntVar(&c.o.Shepherds, "shepherds", 0, "herd: shepherd processes")
	fs.Float64Var(&c.o.Rate, "rate", 0, "throughput: fixed rate (ops/s) instead of closed loop")
	fs.IntVar(&c.o.Pipeline, "pipeline", 0, "throughput: pipelining depth")
	fs.IntVar(&c.o.Rounds, "rounds", 0, "throughput: repeat the sweep N times and report medians")
	fs.IntVar(&c.o.ValueSize, "value-size", 0, "throughput: value bytes")
	fs.IntVar(&c.o.Keys, "keys", 0, "distinct keys")
	fs.StringVar(&c.zipf, "zipf", "", "key skew s > 1, or 0 for uniform; comments: thread skew > 1")
	fs.StringVar(&c.getRatio, "get-ratio", "", "throughput: share of gets, 0..1")
	fs.StringVar(&c.multigets, "multigets", "", "throughput: comma-separated multi-get widths")
	fs.StringVar(&c.targets, "targets", "", "comma-separated: direct, shepherd, nutcracker")
	fs.StringVar(&c.variants, "variants", "", "failover: comma-separated: stop, kill, slow")
	fs.StringVar(&c.modes, "modes", "", "herd: comma-separated: off, on, origin")
	fs.StringVar(&c.changes, "changes", "", "rebalance: comma-separated: add, remove")
	fs.IntVar(&c.o.Posts, "posts", 0, "comments: posts seeded into the service's SQLite database")
	fs.StringVar(&c.writes, "writes", "", "comments: share of requests that write (replies and edits), 0..1")
	return fs
}

// parseRun separates scenario files from flags, which may be interleaved.
func parseRun(args []string, w io.Writer) (*cli, []string, error) {
	c := &cli{}
	fs := newFlags(c, w)
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) == 0 {
		return nil, nil, errors.New("no scenario file; try bench/scenarios/throughput.yaml")
	}
	return c, files, c.lists()
}

// lists converts the comma-separated flags into overrides.
func (c *cli) lists() error {
	var err error
	if c.o.Connections, err = ints(c.connections); err != nil {
		return fmt.Errorf("--connections: %w", err)
	}
	if c.o.MultiGets, err = ints(c.multigets); err != nil {
		return fmt.Errorf("--multigets: %w", err)
	}
	if c.o.Zipf, err = optFloat(c.zipf); err != nil {
		return fmt.Errorf("--zipf: %w", err)
	}
	if c.o.GetRatio, err = optFloat(c.getRatio); err != nil {
		return fmt.Errorf("--get-ratio: %w", err)
	}
	if c.o.Writes, err = optFloat(c.writes); err != nil {
		return fmt.Errorf("--writes: %w", err)
	}
	c.o.Targets, c.o.Variants = words(c.targets), words(c.variants)
	c.o.Modes, c.o.Changes = words(c.modes), words(c.changes)
	return nil
}

func words(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func ints(s string) ([]int, error) {
	var out []int
	for _, w := range words(s) {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func optFloat(s string) (*float64, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	return &v, err
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	c, files, err := parseRun(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "herdbench: %v\n", err)
		return 2
	}
	scenarios, err := load(files, c.o)
	if err != nil {
		fmt.Fprintf(stderr, "herdbench: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	env, err := bench.NewEnv(ctx, c.options(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "herdbench: %v\n", err)
		return 1
	}
	defer env.Close()
	stopSignals := onSignals(cancel, env, stderr)
	defer stopSignals()
	rep := bench.Run(ctx, env, scenarios)
	env.Close() // before printing: nothing keeps running behind the table
	return finish(rep, c, ctx, stdout, stderr)
}

func (c *cli) options(stderr io.Writer) bench.Options {
	o := bench.Options{Shepherd: c.shepherd, Memcached: c.memcached, Nutcracker: c.nutcracker, Comments: c.comments, Proxies: c.proxies}
	if !c.quiet {
		o.Progress = stderr
	}
	if c.verbose {
		o.Log = stderr
	}
	return o
}

// load parses every file and applies the overrides.
func load(files []string, o bench.Overrides) ([]*bench.Scenario, error) {
	var out []*bench.Scenario
	for _, f := range files {
		s, err := bench.ParseFile(f)
		if err != nil {
			return nil, err
		}
		if err := s.Apply(o); err != nil {
			return nil, fmt.Errorf("%s with flags: %w", f, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// onSignals cancels the run on the first SIGINT or SIGTERM and kills every
// child at once on the second.
func onSignals(cancel context.CancelCauseFunc, env *bench.Env, stderr io.Writer) func() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(stderr, "\nherdbench: %v: stopping (again to kill at once)\n", sig)
			cancel(fmt.Errorf("%v", sig))
		case <-done:
			return
		}
		select {
		case <-sigs:
			env.Procs.StopAll(0)
			os.Exit(130)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// finish prints the table and writes the files asked for.
func finish(rep *bench.Report, c *cli, ctx context.Context, stdout, stderr io.Writer) int {
	rep.WriteTable(stdout)
	code := 0
	for _, r := range rep.Results {
		if r.Error != "" {
			code = 1
		}
	}
	if c.jsonOut != "" {
		code = max(code, write(c.jsonOut, rep.WriteJSON, stderr))
	}
	if c.reportOut != "" {
		code = max(code, write(c.reportOut, rep.WriteHTML, stderr))
	}
	if ctx.Err() != nil {
		return 130
	}
	return code
}

func write(path string, fn func(string) error, stderr io.Writer) int {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintf(stderr, "herdbench: %v\n", err)
		return 1
	}
	if err := fn(path); err != nil {
		fmt.Fprintf(stderr, "herdbench: write %s: %v\n", path, err)
		return 1
	}
	fmt.Fprintf(stderr, "herdbench: wrote %s\n", path)
	return 0
}

// listCmd prints each scenario file in dir with its kind and description.
func listCmd(args []string, stdout, stderr io.Writer) int {
	dir := "bench/scenarios"
	if len(args) > 0 {
		dir = args[0]
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		fmt.Fprintf(stderr, "herdbench: no *.yaml in %s\n", dir)
		return 1
	}
	for _, f := range files {
		s, err := bench.ParseFile(f)
		if err != nil {
			fmt.Fprintf(stdout, "%-40s  invalid: %v\n", f, err)
			continue
		}
		fmt.Fprintf(stdout, "%-40s  %-10s  %s\n", f, s.Kind, s.Description)
	}
	return 0
}
