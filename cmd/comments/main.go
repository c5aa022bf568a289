// Command comments is shepherd's bundled comment service: a JSON API and an
// embeddable widget whose reads go through a shepherd sidecar.
//
// Usage:
//
//	comments serve --listen 127.0.0.1:8080 --db sqlite:comments.db --memcache 127.0.0.1:11211
//	comments seed --posts 1000000 --db sqlite:comments.db
//	comments migrate --db postgres://user@127.0.0.1/comments
//	comments top --n 100 --db sqlite:comments.db
//
// --db takes sqlite:PATH (the default, no set-up needed) or a postgres://
// URL. SIGINT and SIGTERM stop serve gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/shepherd-proxy/shepherd/comments"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

const defaultDB = "sqlite:comments.db"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the exit: 0 on success, 2 on bad usage, 1 on failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"serve": serve, "seed": seed, "migrate": migrate, "top": top,
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	case "version", "--version":
		fmt.Fprintf(stdout, "comments %s\n", version)
		return 0
	}
	cmd := cmds[args[0]]
	if cmd == nil {
		fmt.Fprintf(stderr, "comments: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd(ctx, args[1:], stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "comments %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

var errUsage = errors.New("bad usage")

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  comments serve   [--listen 127.0.0.1:8080] [--db sqlite:comments.db|postgres://...] [--memcache 127.0.0.1:11211|off] [--page-size 50] [--herd-fills] [--sso-secrets FILE]
  comments seed    --posts N [--db ...] [--threads N] [--users N] [--forums N] [--zipf 1.1] [--seed 1]
  comments migrate [--db ...]
  comments top     [--db ...] [--n 10]     ids of the threads with the most posts
`)
}

// parse parses flags, reporting errors once and as errUsage.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "comments %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return errUsage
	}
	return nil
}

// openStore opens and migrates the database.
func openStore(ctx context.Context, dsn string) (*comments.Store, error) {
	st, err := comments.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://...")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	st, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "schema at version %d\n", comments.SchemaVersion())
	return nil
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
