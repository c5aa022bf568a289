// Package mctest starts real memcached processes on free loopback ports for tests.
//
// Every process runs in its own process group and is killed by t.Cleanup, so
// a test never leaks one. When the memcached binary is missing, Start skips
// the test with a message saying how to install it.
package mctest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/proc"
)

// Binary is the memcached executable Start runs, looked up on PATH.
const Binary = "memcached"

// readyTimeout bounds how long Start waits for a new process to answer.
const readyTimeout = 5 * time.Second

// Server is one memcached child process listening on 127.0.0.1:Port.
// Its methods are safe for concurrent use. Create it with Start.
type Server struct {
	Addr string // "127.0.0.1:PORT"
	Port int

	path  string             // memcached binary
	args  []string           // full argument list, stable across restarts
	ready func(string) error // answers once the server at the address serves; nil: ping

	mu   sync.Mutex // guards proc
	proc *proc.Proc // nil while stopped
}

// Start runs memcached -l 127.0.0.1 -p PORT -U 0 -m 64 -t 2 [extraArgs...]
// on a free port and returns once it answers "version". The process is
// killed when the test ends.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	return StartReady(t, nil, extraArgs...)
}

// StartReady is Start for a server that a plain "version" cannot reach
// (TLS with -Z, login with -Y): ready(addr) returns nil once it serves.
func StartReady(t testing.TB, ready func(addr string) error, extraArgs ...string) *Server {
	t.Helper()
	path := lookPath(t, Binary, "memcached not installed: apt-get install memcached (CI installs it)")
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s := newServer(path, FreePort(t), extraArgs)
		s.ready = ready
		lastErr = s.start()
		if lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break // another test took the port between FreePort and bind: retry; anything else is fatal
		}
	}
	t.Fatalf("mctest: start memcached: %v", lastErr)
	return nil
}

// StartN starts n memcached servers with Start.
func StartN(t testing.TB, n int, extraArgs ...string) []*Server {
	t.Helper()
	servers := make([]*Server, n)
	for i := range servers {
		servers[i] = Start(t, extraArgs...)
	}
	return servers
}

func newServer(path string, port int, extraArgs []string) *Server {
	return &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port: port,
		path: path,
		args: append(proc.MemcachedArgs(port), extraArgs...),
	}
}

// start runs the process and waits until it answers; on failure the process is gone.
func (s *Server) start() error {
	p, err := spawn(s.path, s.args)
	if err != nil {
		return err
	}
	ready := proc.Ping
	if s.ready != nil {
		ready = s.ready
	}
	if err := waitReady(p, func() error { return ready(s.Addr) }); err != nil {
		p.Kill()
		if strings.Contains(p.Output(), "Address already in use") {
			return fmt.Errorf("%w: %s: %s", errAddrInUse, s.Addr, p.Output())
		}
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// Stop kills the process and waits for it to exit. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// Restart stops the server if it runs and starts it again on the same port,
// retrying while the port is still busy.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	deadline := time.Now().Add(readyTimeout)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 200*time.Millisecond) {
		err := s.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			t.Fatalf("mctest: restart memcached on %s: %v", s.Addr, err)
		}
		time.Sleep(backoff)
	}
}

// Pause stops the process with SIGSTOP: the kernel still accepts connections
// on its port but nothing answers, like a hung node. It returns once every
// thread of the process is stopped.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP, true) }

// Resume continues a paused process with SIGCONT and returns once it runs.
func (s *Server) Resume() { s.signal(syscall.SIGCONT, false) }

func (s *Server) signal(sig syscall.Signal, stopped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Signal(sig)
		proc.WaitThreads(s.proc.Pid(), stopped, time.Second)
	}
}

// Running reports whether the process was started and not stopped.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Stats sends "stats" over a fresh connection and returns the STAT lines.
func (s *Server) Stats(t testing.TB) map[string]string {
	t.Helper()
	stats, err := proc.Stats(s.Addr, "stats", 2*time.Second)
	if err != nil {
		t.Fatalf("mctest: stats %s: %v", s.Addr, err)
	}
	return stats
}

// FreePort returns a TCP port on 127.0.0.1 claimed for this process
// (proc.ClaimPort): free when claimed, never handed to another test
// process, and never handed out twice by this one.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := proc.ClaimPort()
	if err != nil {
		t.Fatalf("mctest: free port: %v", err)
	}
	return p
}

var errAddrInUse = errors.New("mctest: address in use")
