// Node I/O: the per-node connections, sending with a cap on requests in
// flight, dialing and probing.
package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what a Node needs from its owner. The hooks run on the
// goroutines named beside them and must not block.
type Config struct {
	Connections int // pipelined connections to the node; at least 1
	MaxInflight int // requests in flight to the node before Send refuses with ErrBusy

	// Timeouts returns the connect timeout and the per-request timeout
	// in force now (they follow reloads). Required.
	Timeouts func() (connect, request time.Duration)
	// Secure makes a connection just dialed ready for requests (TLS,
	// login), on the dialing goroutine. Nil: plain connections.
	Secure func(nc net.Conn) (net.Conn, error)
	// Redial reports whether a failed Secure is worth one more dial at
	// once (a refused TLS session resumption). Nil: never.
	Redial func(err error) bool
	// Serving reports whether the node takes client requests; while it
	// does not (ejected), queued ops not marked Internal fail with
	// ErrEjected before they are written. Nil: always.
	Serving func() bool
	// Done runs once per op as it finishes, before its waiter wakes, on
	// the goroutine that finishes it (a sender, a writer or the reader).
	// Nil: nothing.
	Done func(o *Op)
}

// Node is one backend memcached server's I/O. It is safe for concurrent
// use; create it with NewNode, then Start it.
type Node struct {
	addr    string // as configured: host:port, or a unix socket path (or unix:path)
	network string
	cfg     Config
	conns   []*conn
	maxIn   int64
	quit    chan struct{} // closed by Close

	partWait time.Duration // PartWait, shorter in tests

	stopped   atomic.Bool // new requests fail at once
	closeOnce sync.Once

	inflight   atomic.Int64
	requests   atomic.Uint64 // written to the node
	connErrors atomic.Uint64
	dials      atomic.Uint64
}

// NewNode returns the I/O of the node at addr (host:port, /path or
// unix:path). It does no I/O.
func NewNode(addr string, cfg Config) *Node {
	n := &Node{addr: addr, network: "tcp", cfg: cfg, maxIn: int64(cfg.MaxInflight), quit: make(chan struct{}), partWait: PartWait}
	if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "unix:") {
		n.network = "unix"
	}
	perConn := cfg.MaxInflight / cfg.Connections
	for i := 0; i < cfg.Connections; i++ {
		n.conns = append(n.conns, newConn(n, perConn+1, n.quit))
	}
	return n
}

// Addr is the node's address as configured.
func (n *Node) Addr() string { return n.addr }

// Network is "tcp", or "unix" for a socket path.
func (n *Node) Network() string { return n.network }

// Start starts the node's connections' background writers.
func (n *Node) Start() {
	for _, c := range n.conns {
		go c.writeLoop()
	}
}

// Stop makes every later Send fail at once with ErrClosed; what is in
// flight goes on.
func (n *Node) Stop() { n.stopped.Store(true) }

// Close stops the node for good: its connections close, failing what is
// queued and pending on them.
func (n *Node) Close() {
	n.closeOnce.Do(func() {
		n.Stop()
		close(n.quit)
	})
}

// Inflight, Requests, ConnErrors and Dials count the node's traffic:
// requests in flight now, written so far, connections that failed to open
// or died with requests pending, and connections opened.
func (n *Node) Inflight() int64    { return n.inflight.Load() }
func (n *Node) Requests() uint64   { return n.requests.Load() }
func (n *Node) ConnErrors() uint64 { return n.connErrors.Load() }
func (n *Node) Dials() uint64      { return n.dials.Load() }

// Send queues o on the connection lane picks; o is finished with an
// error when the node is saturated or stopped. The reply arrives within
// the request timeout. One client always uses one lane, so that its
// pipelined commands to a node run in the order it sent them.
func (n *Node) Send(o *Op, lane uint32) {
	o.start = time.Now()
	o.deadline = o.start.Add(n.timeout())
	if n.inflight.Add(1) > n.maxIn {
		o.finish(ErrBusy)
		return
	}
	if n.stopped.Load() { // checked after counting o in flight: a retiring owner reads Inflight after Stop
		o.finish(ErrClosed)
		return
	}
	c := n.conns[int(lane)%len(n.conns)]
	if !c.enqueue(o) {
		o.finish(ErrBusy)
	}
}

// finished is called once per op as it completes.
func (n *Node) finished(o *Op) {
	n.inflight.Add(-1)
	if n.cfg.Done != nil {
		n.cfg.Done(o)
	}
}

func (n *Node) serving() bool { return n.cfg.Serving == nil || n.cfg.Serving() }

func (n *Node) timeout() time.Duration {
	_, t := n.cfg.Timeouts()
	return t
}

// dial opens a new wire connection and starts its reader.
func (n *Node) dial() (*wireConn, error) {
	nc, err := n.Dial()
	if err != nil {
		return nil, err
	}
	w := newWireConn(n, nc)
	go w.readLoop()
	return w, nil
}

// Dial opens a connection for requests, as the node's own connections
// are opened and counted (Dials, ConnErrors); its error names the node.
// An event loop that keeps connections of its own dials with it.
func (n *Node) Dial() (net.Conn, error) {
	n.dials.Add(1)
	nc, err := n.Connect()
	if err != nil {
		n.connErrors.Add(1)
		return nil, n.wrap(err)
	}
	return nc, nil
}

// Acquire counts one request of a caller that does its own I/O (an event
// loop's connection) as in flight, as Send does: it fails with ErrBusy
// past max_inflight and ErrClosed once the node stopped, counting nothing.
// Each Acquire that succeeds is matched by one Release.
func (n *Node) Acquire() error {
	if n.inflight.Add(1) > n.maxIn {
		n.inflight.Add(-1)
		return ErrBusy
	}
	if n.stopped.Load() {
		n.inflight.Add(-1)
		return ErrClosed
	}
	return nil
}

// Release ends a request counted by Acquire.
func (n *Node) Release() { n.inflight.Add(-1) }

// Written counts k requests written to the node by a caller that does
// its own I/O.
func (n *Node) Written(k int) { n.requests.Add(uint64(k)) }

// ConnFailed counts a connection of a caller that does its own I/O that
// died with requests pending (ConnErrors).
func (n *Node) ConnFailed() { n.connErrors.Add(1) }

// Stopped reports whether Stop was called: no new requests may start.
func (n *Node) Stopped() bool { return n.stopped.Load() }

// Wrap names the node in err and sorts timeouts, as errors of its own
// connections read.
func (n *Node) Wrap(err error) error { return n.wrap(err) }

// Connect opens a connection to the node, made ready by Config.Secure,
// within the connect timeout (Secure has its own bounds).
func (n *Node) Connect() (net.Conn, error) {
	nc, err := n.connectOnce()
	if err != nil && n.cfg.Redial != nil && n.cfg.Redial(err) {
		nc, err = n.connectOnce()
	}
	return nc, err
}

func (n *Node) connectOnce() (net.Conn, error) {
	connect, _ := n.cfg.Timeouts()
	d := net.Dialer{Timeout: connect}
	nc, err := d.DialContext(context.Background(), n.network, strings.TrimPrefix(n.addr, "unix:"))
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
	}
	if n.cfg.Secure == nil {
		return nc, nil
	}
	return n.cfg.Secure(nc)
}

// Probe asks the node for its version on a fresh connection, within
// ctx's deadline.
func (n *Node) Probe(ctx context.Context) error {
	nc, err := n.Connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	if _, err := nc.Write([]byte("version\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("proxy: probe of %s: unexpected %q", n.addr, strings.TrimSpace(line))
	}
	return nil
}

// wrap names the node in err and sorts timeouts.
func (n *Node) wrap(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = ErrTimeout
	}
	return fmt.Errorf("backend %s: %w", n.addr, err)
}
