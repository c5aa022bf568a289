// Processes: every child herdbench starts runs in its own process group,
// is registered with a Procs, and is stopped by Procs.StopAll. The
// supervision itself is internal/proc, shared with the test helpers.
package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/proc"
)

// Procs starts child processes and stops them all (see proc.Procs), and
// memcached nodes (StartMemcached).
type Procs struct{ *proc.Procs }

// Proc is one started child (see proc.Proc).
type Proc = proc.Proc

// NewProcs returns an empty set that logs "herdbench: started …" and
// "herdbench: stopped …" lines to log (nil: nowhere).
func NewProcs(log io.Writer) *Procs { return &Procs{proc.NewProcs(log, "herdbench")} }

// waitReady polls ready with capped backoff until it succeeds, p exits,
// ctx ends or timeout passes.
func waitReady(ctx context.Context, p *Proc, timeout time.Duration, ready func() error) error {
	return proc.WaitReady(ctx, p, timeout, ready)
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) { return proc.FreeAddr() }

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

var errAddrInUse = errors.New("bench: address in use")
