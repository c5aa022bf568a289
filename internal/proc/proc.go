// Package proc supervises child processes: each in its own process group,
// registered with a Procs and stopped by it, waited for until it answers.
// The load harness (bench) and the test helpers (internal/mctest) both
// start memcached, nutcracker and shepherd through it.
package proc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Procs starts child processes and stops them all. It is safe for
// concurrent use; the zero value is not usable, call NewProcs.
type Procs struct {
	log    io.Writer // one line per start and stop; never nil
	prefix string    // starts each log line

	mu   sync.Mutex // guards live
	live map[*Proc]struct{}
}

// NewProcs returns an empty set that logs "prefix: started …" and
// "prefix: stopped …" lines to log (nil: nowhere).
func NewProcs(log io.Writer, prefix string) *Procs {
	if log == nil {
		log = io.Discard
	}
	return &Procs{log: log, prefix: prefix, live: map[*Proc]struct{}{}}
}

// Proc is one started child. Its methods are safe for concurrent use.
type Proc struct {
	Name   string
	cmd    *exec.Cmd
	out    *tailBuffer
	exited chan struct{} // closed once reaped
	err    error         // Wait's result, read after exited
	procs  *Procs
}

// Start runs path with args in a new process group. On Linux the child is
// killed if this process dies (Pdeathsig).
func (ps *Procs) Start(name, path string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, cmd: exec.Command(path, args...), out: &tailBuffer{}, exited: make(chan struct{}), procs: ps}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	ps.mu.Lock()
	ps.live[p] = struct{}{}
	ps.mu.Unlock()
	fmt.Fprintf(ps.log, "%s: started %s pid %d: %s\n", ps.prefix, name, p.cmd.Process.Pid, p.cmd)
	go p.reap()
	return p, nil
}

// Run starts path with args like Start and waits until it ends (killing
// it if ctx ends first); it returns the tail of its output and how it ended.
func (ps *Procs) Run(ctx context.Context, name, path string, args ...string) (string, error) {
	p, err := ps.Start(name, path, args...)
	if err != nil {
		return "", err
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		p.Kill()
		return p.Output(), context.Cause(ctx)
	}
	if p.err != nil {
		return p.Output(), fmt.Errorf("%s: %w: %s", name, p.err, p.Output())
	}
	return p.Output(), nil
}

func (p *Proc) reap() {
	p.err = p.cmd.Wait()
	p.procs.mu.Lock()
	delete(p.procs.live, p)
	p.procs.mu.Unlock()
	close(p.exited)
}

// Pid is the child's process id (also its process group id).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output returns the tail of the child's stdout and stderr.
func (p *Proc) Output() string { return p.out.String() }

// Signal sends sig to the child's process group unless it has ended.
func (p *Proc) Signal(sig syscall.Signal) {
	select {
	case <-p.exited:
	default:
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// Stop asks the child to end (SIGTERM, and SIGCONT in case it is stopped),
// waits up to grace, then kills the group and waits for the reap.
func (p *Proc) Stop(grace time.Duration) {
	if grace > 0 {
		p.Signal(syscall.SIGTERM)
		p.Signal(syscall.SIGCONT)
		select {
		case <-p.exited:
		case <-time.After(grace):
		}
	}
	p.Signal(syscall.SIGKILL) // also ends a SIGSTOPped process
	<-p.exited
	fmt.Fprintf(p.procs.log, "%s: stopped %s pid %d\n", p.procs.prefix, p.Name, p.Pid())
}

// Kill ends the child's group at once and waits for the reap.
func (p *Proc) Kill() { p.Stop(0) }

// StopAll stops every live child, all at once, each with grace.
func (ps *Procs) StopAll(grace time.Duration) {
	ps.mu.Lock()
	live := make([]*Proc, 0, len(ps.live))
	for p := range ps.live {
		live = append(live, p)
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range live {
		wg.Go(func() { p.Stop(grace) })
	}
	wg.Wait()
}

// Live returns how many children are running.
func (ps *Procs) Live() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.live)
}

// WaitReady polls ready with capped backoff until it succeeds, p exits,
// ctx ends or timeout passes.
func WaitReady(ctx context.Context, p *Proc, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for backoff := 2 * time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v): %s", p.Name, p.err, p.Output())
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(backoff):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v; output: %s", p.Name, timeout, err, p.Output())
		}
	}
}

// FreeAddr returns a loopback address on a port claimed with ClaimPort.
func FreeAddr() (string, error) {
	p, err := ClaimPort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// tailBuffer keeps the last 64 to 128 KiB a child writes.
type tailBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.buf.Len() > 128<<10 {
		b.buf.Next(b.buf.Len() - 64<<10)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
