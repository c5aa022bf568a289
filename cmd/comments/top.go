// top: the ids of the most popular threads, for load tests.

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/shepherd-proxy/shepherd/comments"
)

func top(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://...")
	n := fs.Int("n", 10, "how many threads")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	st, err := comments.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	ids, err := st.TopThreads(ctx, *n)
	if err != nil {
		return err
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	fmt.Fprintln(stdout, strings.Join(s, " "))
	return nil
}
