// Test helpers: nodes on a real memcached (internal/mctest) or, for what
// memcached cannot be made to do, a tiny in-process server on loopback.
package backend

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// testTimeout is the request timeout of test nodes: long enough for a
// loaded machine, short enough for the tests that wait it out.
const testTimeout = 2 * time.Second

// newTestNode returns a started node for addr, closed when the test ends.
// cfg's zero fields get one connection, 64 in flight and testTimeout.
func newTestNode(t *testing.T, addr string, cfg Config) *Node {
	t.Helper()
	if cfg.Connections == 0 {
		cfg.Connections = 1
	}
	if cfg.MaxInflight == 0 {
		cfg.MaxInflight = 64
	}
	if cfg.Timeouts == nil {
		cfg.Timeouts = func() (time.Duration, time.Duration) { return testTimeout, testTimeout }
	}
	n := NewNode(addr, cfg)
	n.Start()
	t.Cleanup(n.Close)
	return n
}

// send sends a request of kind on lane 0 and returns its op, not waited for.
func send(n *Node, kind protocol.ReplyKind, wire string) *Op {
	o := GetOp(n, kind)
	o.Wire = append(o.Wire, wire...)
	n.Send(o, 0)
	return o
}

// do sends a request and waits for it: its reply (raw) and error.
func do(n *Node, kind protocol.ReplyKind, wire string) (string, error) {
	o := send(n, kind, wire)
	err := o.Wait()
	raw := string(o.Reply.Raw)
	PutOp(o)
	return raw, err
}

// mustDo is do for a request that must succeed.
func mustDo(t *testing.T, n *Node, kind protocol.ReplyKind, wire string) string {
	t.Helper()
	raw, err := do(n, kind, wire)
	if err != nil {
		t.Fatalf("%q: %v", wire, err)
	}
	return raw
}

// fakeServer listens on loopback and runs serve for each connection
// (closing it after), until the test ends. It returns the address.
func fakeServer(t *testing.T, serve func(nc net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serve(nc, bufio.NewReader(nc))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// script answers the i-th request line of a connection with replies[i]
// (a request with a data block must not be used), then reads until the
// client closes.
func script(replies ...string) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		for _, r := range replies {
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
			if _, err := nc.Write([]byte(r)); err != nil {
				return
			}
		}
		for {
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
		}
	}
}

// gateConn is a connection whose writes the test can see and hold:
// each write's bytes go to writes; each of the first holds writes sends
// a channel to held and waits until the test closes it. Close closes
// closed.
type gateConn struct {
	net.Conn
	writes    chan string
	held      chan chan struct{}
	holds     atomic.Int32
	closed    chan struct{}
	closeOnce sync.Once
}

func newGate(holds int) *gateConn {
	g := &gateConn{writes: make(chan string, 64), held: make(chan chan struct{}, 1), closed: make(chan struct{})}
	g.holds.Store(int32(holds))
	return g
}

// wrap is a Config.Secure hook that puts g around the node's connection
// (one connection per test).
func (g *gateConn) wrap(nc net.Conn) (net.Conn, error) {
	g.Conn = nc
	return g, nil
}

func (g *gateConn) Write(b []byte) (int, error) {
	if g.holds.Add(-1) >= 0 {
		r := make(chan struct{})
		g.held <- r
		<-r
	}
	g.writes <- string(b)
	return g.Conn.Write(b)
}

func (g *gateConn) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Conn.Close()
}

// within waits for ch at most waitLimit, failing the test with what
// otherwise.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no %s after %v", what, waitLimit)
	}
	panic("unreachable")
}

// waitLimit bounds every wait for something that should happen soon.
const waitLimit = 10 * time.Second

// waitOp is o.Wait bounded by waitLimit.
func waitOp(t *testing.T, o *Op) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- o.Wait() }()
	return within(t, done, "end of the op")
}
