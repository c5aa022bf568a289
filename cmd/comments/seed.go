// seed: bulk-generate data and report time and size.

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shepherd-proxy/shepherd/comments"
)

func seed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://...")
	var o comments.SeedOptions
	fs.IntVar(&o.Posts, "posts", 0, "posts to generate (required)")
	fs.IntVar(&o.Threads, "threads", 0, "threads; default posts/100")
	fs.IntVar(&o.Users, "users", 0, "users; default posts/20")
	fs.IntVar(&o.Forums, "forums", 0, "forums; default 10")
	fs.Float64Var(&o.Zipf, "zipf", 0, "thread popularity exponent (> 1); default 1.1")
	fs.Uint64Var(&o.Seed, "seed", 0, "random seed; default 1")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	st, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	o.Progress = func(n int) { fmt.Fprintf(stderr, "\rseeded %d/%d posts", n, o.Posts) }
	rep, err := st.Seed(ctx, o)
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d forums, %d users, %d threads, %d posts in %s (%.0f posts/s)\n",
		rep.Forums, rep.Users, rep.Threads, rep.Posts, rep.Elapsed.Round(1e7), float64(rep.Posts)/rep.Elapsed.Seconds())
	if size, err := dbSize(ctx, st, *dsn); err == nil {
		fmt.Fprintf(stdout, "database size: %.1f MiB\n", float64(size)/(1<<20))
	}
	return nil
}

// dbSize is the SQLite file (with its WAL) or pg_database_size.
func dbSize(ctx context.Context, st *comments.Store, dsn string) (int64, error) {
	if st.Postgres() {
		var n int64
		err := st.DB().QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
		return n, err
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return total, nil
}
