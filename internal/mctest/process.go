// Process: one child in its own process group, reaped by a single goroutine.

package mctest

import (
	"bytes"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a started child. exited is closed once it has been reaped.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error // Wait's result; read only after exited is closed
}

func spawn(path string, args []string) (*process, error) {
	p := &process{
		cmd:    exec.Command(path, args...),
		stderr: &syncBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	go p.reap()
	return p, nil
}

func (p *process) reap() {
	p.err = p.cmd.Wait()
	close(p.exited)
}

// signal sends sig to the child's whole process group.
func (p *process) signal(sig syscall.Signal) {
	select {
	case <-p.exited:
	default:
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// kill sends SIGKILL to the process group and waits until the child is reaped.
// SIGKILL also ends a SIGSTOPped process.
func (p *process) kill() {
	p.signal(syscall.SIGKILL)
	<-p.exited
}

// waitReady polls ready with capped backoff until it succeeds, the child
// exits, or readyTimeout passes.
func waitReady(p *process, ready func() error) error {
	deadline := time.Now().Add(readyTimeout)
	for backoff := 2 * time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v): %s", p.cmd.Path, p.err, p.stderr.String())
		case <-time.After(backoff):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %v; output: %s", p.cmd.Path, readyTimeout, err, p.stderr.String())
		}
	}
}

// lookPath finds a binary on PATH (and in the sbin directories, which a
// non-root PATH often lacks) or skips the test with why.
func lookPath(t testing.TB, name, why string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/usr/local/bin"} {
		if path, err := exec.LookPath(dir + "/" + name); err == nil {
			return path
		}
	}
	t.Skip(why)
	return ""
}

// syncBuffer collects a child's output; it keeps at most 64 KiB.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 64<<10 - b.buf.Len(); room < len(p) {
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
