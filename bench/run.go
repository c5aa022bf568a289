// Run: the environment a run shares (binaries, work directory, processes)
// and the loop over scenarios.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Options configure an Env. Zero fields mean: look the binary up on PATH
// (and in /usr/sbin), build shepherd (at once) and the comment service
// (when a comments scenario first needs it) from the module around the
// working directory, and print nothing.
type Options struct {
	Memcached  string
	Nutcracker string
	Shepherd   string
	Comments   string         // cmd/comments
	Proxies    []ProxyCommand // more throughput targets (--proxy)
	Progress   io.Writer      // live progress line
	Log        io.Writer      // process starts and stops
}

// Env is what one run shares. It is not safe for concurrent use by
// several scenarios at once; scenarios run one after another.
type Env struct {
	Memcached, Nutcracker, Shepherd string
	Comments                        string // "" until built; see commentsBinary
	Dir                             string // configs and logs; removed by Close
	Procs                           *Procs
	Proxies                         []ProxyCommand // more throughput targets, after shepherd
	progressW                       io.Writer
	features                        *Features // detected on first use
}

// NewEnv finds the binaries and makes a work directory. Without memcached
// it fails; without nutcracker, comparisons skip it with a note.
func NewEnv(ctx context.Context, o Options) (*Env, error) {
	dir, err := os.MkdirTemp("", "herdbench-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, Procs: NewProcs(o.Log), progressW: o.Progress, Comments: o.Comments, Proxies: o.Proxies}
	if e.Memcached = findBinary(o.Memcached, "memcached"); e.Memcached == "" {
		e.Close()
		return nil, errors.New("bench: memcached not found; apt-get install memcached")
	}
	e.Nutcracker = findBinary(o.Nutcracker, "nutcracker")
	if e.Shepherd = o.Shepherd; e.Shepherd == "" {
		if e.Shepherd, err = buildFromCwd(ctx, dir); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

func buildFromCwd(ctx context.Context, dir string) (string, error) {
	return buildCmdFromCwd(ctx, dir, "shepherd")
}

// buildCmdFromCwd compiles ./cmd/name of the module around the working
// directory into dir.
func buildCmdFromCwd(ctx context.Context, dir, name string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, err := ModuleRoot(wd)
	if err != nil {
		return "", err
	}
	return buildCommand(ctx, root, dir, name)
}

// commentsBinary returns the comment service's binary, building it from
// the module on first use.
func (e *Env) commentsBinary(ctx context.Context) (string, error) {
	if e.Comments == "" {
		bin, err := buildCmdFromCwd(ctx, e.Dir, "comments")
		if err != nil {
			return "", fmt.Errorf("%w (or pass --comments PATH)", err)
		}
		e.Comments = bin
	}
	return e.Comments, nil
}

// findBinary returns given if set, else name from PATH or the sbin dirs.
func findBinary(given, name string) string {
	if given != "" {
		return given
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/bin"} {
		if p, err := exec.LookPath(dir + "/" + name); err == nil {
			return p
		}
	}
	return ""
}

// Close stops every process the run started and removes the work directory.
func (e *Env) Close() {
	e.Procs.StopAll(time.Second)
	os.RemoveAll(e.Dir)
}

// tempPath names a new file in the work directory.
func (e *Env) tempPath(pattern string) string {
	f, err := os.CreateTemp(e.Dir, pattern)
	if err != nil {
		return fmt.Sprintf("%s/%d-%s", e.Dir, time.Now().UnixNano(), strings.ReplaceAll(pattern, "*", ""))
	}
	f.Close()
	return f.Name()
}

// shepherdFeatures detects, once per run, what the shepherd binary has.
func (e *Env) shepherdFeatures(ctx context.Context, nodes []*Node, pool Pool) (Features, error) {
	if e.features != nil {
		return *e.features, nil
	}
	f, err := e.detect(ctx, addrsOf(nodes), pool)
	if err != nil {
		return f, err
	}
	e.features = &f
	return f, nil
}

func addrsOf(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Addr
	}
	return out
}

// runners maps each kind to its implementation.
var runners = map[string]func(context.Context, *Env, *Scenario, *Result) error{
	KindThroughput: runThroughput,
	KindHerd:       runHerd,
	KindFailover:   runFailover,
	KindRebalance:  runRebalance,
	KindComments:   runComments,
}

// Run executes scenarios in order. A failing scenario records its error
// and the run goes on; a cancelled ctx ends the run after stopping every
// process.
func Run(ctx context.Context, e *Env, scenarios []*Scenario) *Report {
	rep := newReport(e)
	for _, s := range scenarios {
		if ctx.Err() != nil {
			break
		}
		res := &Result{Name: s.Name, Kind: s.Kind, File: s.File, Description: s.Description, Started: time.Now()}
		if err := runners[s.Kind](ctx, e, s, res); err != nil {
			res.Error = err.Error()
		}
		e.Procs.StopAll(time.Second) // a scenario's leftovers never leak into the next
		res.Seconds = time.Since(res.Started).Seconds()
		rep.Results = append(rep.Results, res)
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	if ctx.Err() != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("run interrupted: %v", context.Cause(ctx)))
	}
	return rep
}

func newReport(e *Env) *Report {
	return &Report{
		Schema:  SchemaVersion,
		Started: time.Now(),
		Env: EnvInfo{
			CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
			Memcached: versionOf(e.Memcached, "-V"), Nutcracker: versionOf(e.Nutcracker, "-V"),
			Shepherd: versionOf(e.Shepherd, "--version"),
		},
		Notes: []string{fmt.Sprintf("all processes share this machine's %d CPU cores with the load client; points are seconds long, so ratios matter more than absolute numbers", runtime.NumCPU())},
	}
}

// versionOf runs bin with flag and returns its first line.
func versionOf(bin, flag string) string {
	if bin == "" {
		return "not installed"
	}
	out, _ := exec.Command(bin, flag).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
