package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/protocol"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, mctest.Start(t).Addr, Config{})
	if got := mustDo(t, n, protocol.ReplyLine, "set k 7 0 2\r\nhi\r\n"); got != "STORED\r\n" {
		t.Fatalf("set: got %q; want STORED", got)
	}
	if got := mustDo(t, n, protocol.ReplyValues, "get k\r\n"); got != "VALUE k 7 2\r\nhi\r\nEND\r\n" {
		t.Fatalf("get: got %q; want the value", got)
	}
	if got := mustDo(t, n, protocol.ReplyMeta, "mn\r\n"); got != "MN\r\n" {
		t.Fatalf("mn: got %q; want MN", got)
	}
	if n.Requests() != 3 || n.Dials() != 1 || n.Inflight() != 0 || n.ConnErrors() != 0 {
		t.Fatalf("counters: requests %d dials %d inflight %d conn errors %d; want 3 1 0 0", n.Requests(), n.Dials(), n.Inflight(), n.ConnErrors())
	}
	if n.Addr() == "" || n.Network() != "tcp" {
		t.Fatalf("addr %q network %q", n.Addr(), n.Network())
	}
}

// The combined writer: ops queued while a write is under way go out
// together in the next write, in the order they were queued, and each
// gets its own reply.
func TestCombinedWriterBatchesInOrder(t *testing.T) {
	t.Parallel()
	g := newGate(1)
	n := newTestNode(t, mctest.Start(t).Addr, Config{Secure: g.wrap})
	first := make(chan *Op, 1)
	go func() { first <- send(n, protocol.ReplyLine, "set k0 0 0 2\r\nv0\r\n") }()
	release := within(t, g.held, "first write") // the sender holds the writer role, in Write
	var ops []*Op
	var batch string
	for i := 1; i <= 4; i++ {
		kind, wire := protocol.ReplyLine, fmt.Sprintf("set k%d 0 0 2\r\nv%d\r\n", i, i)
		if i%2 == 0 {
			kind, wire = protocol.ReplyValues, fmt.Sprintf("get k%d\r\n", i-1)
		}
		ops = append(ops, send(n, kind, wire)) // queued behind the held write: returns at once
		batch += wire
	}
	close(release)
	if o0 := within(t, first, "return of the first sender"); waitOp(t, o0) != nil || string(o0.Reply.Raw) != "STORED\r\n" {
		t.Fatalf("first set: %q %v", o0.Reply.Raw, o0.Err)
	}
	if w := <-g.writes; w != "set k0 0 0 2\r\nv0\r\n" {
		t.Fatalf("first write: got %q", w)
	}
	if w := within(t, g.writes, "second write"); w != batch {
		t.Fatalf("second write: got %q; want the 4 queued ops in order %q", w, batch)
	}
	want := []string{"STORED\r\n", "VALUE k1 0 2\r\nv1\r\nEND\r\n", "STORED\r\n", "VALUE k3 0 2\r\nv3\r\nEND\r\n"}
	for i, o := range ops {
		if err := waitOp(t, o); err != nil || string(o.Reply.Raw) != want[i] {
			t.Fatalf("op %d: got %q, %v; want %q", i+1, o.Reply.Raw, err, want[i])
		}
	}
	select {
	case w := <-g.writes:
		t.Fatalf("a third write %q: the queued ops were not batched", w)
	default:
	}
}

// A client goroutine that found the connection idle writes for at most
// combinerRounds rounds, then hands what others queued meanwhile to the
// connection's background writer and returns.
func TestWriterHandsOverAfterRounds(t *testing.T) {
	t.Parallel()
	g := newGate(3)
	n := newTestNode(t, mctest.Start(t).Addr, Config{Secure: g.wrap})
	returned := make(chan *Op, 1)
	go func() { returned <- send(n, protocol.ReplyLine, "set r0 0 0 1\r\na\r\n") }()
	r1 := within(t, g.held, "first write")
	o1 := send(n, protocol.ReplyLine, "set r1 0 0 1\r\nb\r\n")
	o2 := send(n, protocol.ReplyLine, "set r2 0 0 1\r\nc\r\n")
	select {
	case <-returned:
		t.Fatal("the sender returned while its own write was held: it was not the writer")
	default:
	}
	close(r1)
	r2 := within(t, g.held, "second write") // the sender's second round
	o3 := send(n, protocol.ReplyValues, "get r0 r1 r2\r\n")
	close(r2)
	// The third write is the background writer's, held; the sender has
	// done its rounds and returns meanwhile.
	r3 := within(t, g.held, "third write")
	defer close(r3)
	o0 := within(t, returned, "return of the sender while the third write is held")
	for i, want := range []string{"set r0 0 0 1\r\na\r\n", "set r1 0 0 1\r\nb\r\nset r2 0 0 1\r\nc\r\n"} {
		if w := within(t, g.writes, "write"); w != want {
			t.Fatalf("write %d: got %q; want %q", i+1, w, want)
		}
	}
	r3 <- struct{}{} // let the third write go (the deferred close is for a test that fails before)
	for _, o := range []*Op{o0, o1, o2} {
		if err := waitOp(t, o); err != nil || string(o.Reply.Raw) != "STORED\r\n" {
			t.Fatalf("set: got %q, %v", o.Reply.Raw, err)
		}
	}
	if err := waitOp(t, o3); err != nil || string(o3.Reply.Raw) != "VALUE r0 0 1\r\na\r\nVALUE r1 0 1\r\nb\r\nVALUE r2 0 1\r\nc\r\nEND\r\n" {
		t.Fatalf("get: got %q, %v", o3.Reply.Raw, err)
	}
}

// A node closed while a client goroutine writes: that writer closes the
// wire connection on its next turn.
func TestCloseWhileWriting(t *testing.T) {
	t.Parallel()
	g := newGate(1)
	n := newTestNode(t, mctest.Start(t).Addr, Config{Secure: g.wrap})
	returned := make(chan *Op, 1)
	go func() { returned <- send(n, protocol.ReplyLine, "version\r\n") }()
	r1 := within(t, g.held, "first write")
	n.Close()
	c := n.conns[0]
	closed := func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.closed }
	for deadline := time.Now().Add(waitLimit); !closed(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection did not close")
		}
	}
	close(r1)
	within(t, g.closed, "close of the wire connection")
	o := within(t, returned, "return of the sender")
	waitOp(t, o) // answered, or failed by the close: either is right
	if _, err := do(n, protocol.ReplyLine, "version\r\n"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v; want ErrClosed", err)
	}
}

// Each lane maps to one of the node's connections, the same one each time.
func TestLanes(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, mctest.Start(t).Addr, Config{Connections: 2})
	for lane := uint32(0); lane < 4; lane++ {
		o := GetOp(n, protocol.ReplyLine)
		o.Wire = append(o.Wire, "version\r\n"...)
		n.Send(o, lane)
		if err := waitOp(t, o); err != nil {
			t.Fatalf("lane %d: %v", lane, err)
		}
		// This goroutine was the writer: the connection's wire is its to read.
		if n.conns[lane%2].wc == nil || (lane == 0 && n.conns[1].wc != nil) {
			t.Fatalf("lane %d did not go to connection %d alone", lane, lane%2)
		}
	}
	if n.Dials() != 2 {
		t.Fatalf("dials %d; want one per connection, 2", n.Dials())
	}
}

// Strict matching: a get reply must name the keys asked for, in the order
// asked. One that does not fails its op and everything pipelined behind
// it on the connection, which is closed; the next request dials anew.
func TestReplyMatchingIsStrict(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, wire, reply string
		want              error
	}{
		{"wrong key", "get a\r\n", "VALUE b 0 1\r\nx\r\nEND\r\n", protocol.ErrWrongKey},
		{"reordered keys", "get a b\r\n", "VALUE b 0 1\r\nx\r\nVALUE a 0 1\r\ny\r\nEND\r\n", protocol.ErrWrongKey},
		{"a key twice", "get a b\r\n", "VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\ny\r\nEND\r\n", protocol.ErrWrongKey},
		{"a line for a value", "get a\r\n", "STORED\r\n", protocol.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The reply comes once both requests were written: the second
			// is pending behind the first on the same connection.
			addr := fakeServer(t, func(nc net.Conn, br *bufio.Reader) {
				br.ReadString('\n')
				br.ReadString('\n')
				nc.Write([]byte(tc.reply))
				script()(nc, br)
			})
			n := newTestNode(t, addr, Config{})
			bad := GetOp(n, protocol.ReplyValues)
			bad.Wire = append(bad.Wire, tc.wire...)
			behind := GetOp(n, protocol.ReplyValues)
			behind.Wire = append(behind.Wire, "get c\r\n"...)
			n.Send(bad, 0)
			n.Send(behind, 0)
			if err := bad.Wait(); !errors.Is(err, tc.want) {
				t.Fatalf("reply %q to %q: got %q, %v; want %v", tc.reply, tc.wire, bad.Reply.Raw, err, tc.want)
			}
			if err := behind.Wait(); !errors.Is(err, tc.want) {
				t.Fatalf("the request behind: got %q, %v; want the same error (the connection is in doubt)", behind.Reply.Raw, err)
			}
			if n.Dials() != 1 || n.ConnErrors() != 1 {
				t.Fatalf("dials %d conn errors %d; want 1 1", n.Dials(), n.ConnErrors())
			}
		})
	}
}

// A reply the right shape for the request, in order, is accepted; a
// wrong one is refused the same way on a connection serving many.
func TestReplyMatchingAcceptsExactKeys(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, script("VALUE a 0 1\r\nx\r\nVALUE c 0 1\r\nz\r\nEND\r\n", "END\r\n"))
	n := newTestNode(t, addr, Config{})
	if got := mustDo(t, n, protocol.ReplyValues, "get a b c\r\n"); got != "VALUE a 0 1\r\nx\r\nVALUE c 0 1\r\nz\r\nEND\r\n" {
		t.Fatalf("got %q", got)
	}
	if got := mustDo(t, n, protocol.ReplyValues, "gat 10 a\r\n"); got != "END\r\n" {
		t.Fatalf("got %q", got)
	}
	if n.Dials() != 1 {
		t.Fatalf("dials %d; want 1", n.Dials())
	}
}

// Data nobody asked for puts the connection in doubt: it is closed, and
// the next request goes out on a new one.
func TestUnexpectedDataClosesTheConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	addr := fakeServer(t, func(nc net.Conn, br *bufio.Reader) {
		if conns.Add(1) > 1 {
			script("DELETED\r\n")(nc, br)
			return
		}
		br.ReadString('\n')
		nc.Write([]byte("STORED\r\nSTORED\r\n")) // one reply too many
		script()(nc, br)
	})
	n := newTestNode(t, addr, Config{})
	if got := mustDo(t, n, protocol.ReplyLine, "touch a 0\r\n"); got != "STORED\r\n" {
		t.Fatalf("got %q", got)
	}
	// Wait for the reader to see the stray line (a request written before
	// it would take the line as its reply: nothing can tell them apart).
	wc := n.conns[0].wc // written by this goroutine, the writer of the touch
	for deadline := time.Now().Add(10 * time.Second); wc.usable(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection with a stray reply stayed open for 10 s")
		}
	}
	if !errors.Is(wc.cause(), ErrUnexpectedData) {
		t.Fatalf("closed because %v; want ErrUnexpectedData", wc.cause())
	}
	if n.ConnErrors() != 0 {
		t.Fatalf("conn errors %d; want 0 (nothing was pending on it)", n.ConnErrors())
	}
	if got, err := do(n, protocol.ReplyLine, "delete a\r\n"); err != nil || got != "DELETED\r\n" {
		t.Fatalf("after the stray reply: got %q, %v; want DELETED on a new connection", got, err)
	}
	if n.Dials() != 2 {
		t.Fatalf("dials %d; want 2 (the connection with the stray data closed)", n.Dials())
	}
}

// Quiet meta commands are framed by mn: the reply is whatever memcached
// says before MN (nothing for a success), and the replies behind stay
// aligned.
func TestQuietMetaFraming(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, mctest.Start(t).Addr, Config{})
	cases := []struct {
		kind       protocol.ReplyKind
		wire, want string
	}{
		{protocol.ReplyMetaQuiet, "ms qk 1 q\r\nx\r\nmn\r\n", ""},
		{protocol.ReplyMetaQuiet, "mg qk v q\r\nmn\r\n", "VA 1\r\nx\r\n"},
		{protocol.ReplyMetaQuiet, "mg missing v q\r\nmn\r\n", ""},
		{protocol.ReplyMetaQuiet, "ms qk 1 q C999\r\nx\r\nmn\r\n", "EX\r\n"}, // a failure is not quiet
		{protocol.ReplyMeta, "mg qk v\r\n", "VA 1\r\nx\r\n"},
		{protocol.ReplyValues, "get qk\r\n", "VALUE qk 0 1\r\nx\r\nEND\r\n"},
	}
	// All in one batch on one connection, as pipelined clients send them.
	var ops []*Op
	for _, c := range cases {
		ops = append(ops, send(n, c.kind, c.wire))
	}
	for i, o := range ops {
		if err := o.Wait(); err != nil {
			t.Fatalf("%q: %v", cases[i].wire, err)
		}
		if got := string(o.Reply.Raw); got != cases[i].want {
			t.Errorf("%q: got %q; want %q", cases[i].wire, got, cases[i].want)
		}
	}
}

// A node that stops answering (a hung memcached) ends the op with
// ErrTimeout, and the ops pipelined behind it fail too; once it answers
// again a new connection serves.
func TestTimeoutFinishesTheOp(t *testing.T) {
	t.Parallel()
	mc := mctest.Start(t)
	var done atomic.Int64
	n := newTestNode(t, mc.Addr, Config{
		Timeouts: func() (time.Duration, time.Duration) { return testTimeout, 200 * time.Millisecond },
		Done:     func(*Op) { done.Add(1) },
	})
	mustDo(t, n, protocol.ReplyLine, "set k 0 0 1\r\nx\r\n")
	mc.Pause()
	a := send(n, protocol.ReplyValues, "get k\r\n") // alone on an idle connection
	if err := waitOp(t, a); !errors.Is(err, ErrTimeout) {
		t.Errorf("op on a hung node: got %v; want ErrTimeout", err)
	} else if !strings.Contains(err.Error(), "backend "+mc.Addr+":") {
		t.Errorf("error %q does not name the node", err)
	}
	b := send(n, protocol.ReplyLine, "version\r\n")
	c := send(n, protocol.ReplyLine, "version\r\n")
	for _, o := range []*Op{b, c} {
		if err := waitOp(t, o); !errors.Is(err, ErrTimeout) {
			t.Errorf("ops pipelined on a hung node: got %v; want ErrTimeout", err)
		}
	}
	mc.Resume()
	if got := mustDo(t, n, protocol.ReplyValues, "get k\r\n"); got != "VALUE k 0 1\r\nx\r\nEND\r\n" {
		t.Fatalf("after resume: got %q", got)
	}
	if d := done.Load(); d != 5 {
		t.Fatalf("Done ran %d times; want once per op, 5", d)
	}
	if n.ConnErrors() != 2 || n.Dials() != 3 || n.Inflight() != 0 {
		t.Fatalf("conn errors %d dials %d inflight %d; want 2 3 0", n.ConnErrors(), n.Dials(), n.Inflight())
	}
}

// An op that waited in the queue past its deadline is failed without
// being written.
func TestQueuedPastDeadline(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, mctest.Start(t).Addr, Config{})
	o := GetOp(n, protocol.ReplyLine)
	o.Wire = append(o.Wire, "version\r\n"...)
	o.deadline = time.Now().Add(-time.Second)
	n.inflight.Add(1)
	if kept := n.conns[0].failExpired([]*Op{o}); len(kept) != 0 {
		t.Fatalf("kept %d ops; want none", len(kept))
	}
	if err := o.Wait(); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "queued past its deadline") {
		t.Fatalf("got %v; want ErrTimeout, queued past its deadline", err)
	}
	if n.Requests() != 0 {
		t.Fatalf("requests %d; want 0", n.Requests())
	}
}

// While the node is not serving, client ops fail with ErrEjected before
// they are written; shepherd's own (Internal) still go.
func TestNotServingFailsClientOps(t *testing.T) {
	t.Parallel()
	var serving atomic.Bool
	n := newTestNode(t, mctest.Start(t).Addr, Config{Serving: serving.Load})
	if _, err := do(n, protocol.ReplyLine, "version\r\n"); !errors.Is(err, ErrEjected) {
		t.Fatalf("client op while out: got %v; want ErrEjected", err)
	}
	o := GetOp(n, protocol.ReplyLine)
	o.Wire = append(o.Wire, "set k 0 0 1\r\nx\r\n"...)
	o.Internal = true
	n.Send(o, 0)
	if err := o.Wait(); err != nil || string(o.Reply.Raw) != "STORED\r\n" {
		t.Fatalf("internal op while out: got %q, %v; want STORED", o.Reply.Raw, err)
	}
	serving.Store(true)
	mustDo(t, n, protocol.ReplyLine, "version\r\n")
	if n.Requests() != 2 {
		t.Fatalf("requests %d; want 2 (the refused op never written)", n.Requests())
	}
}

// MaxInflight caps what is in flight: one more fails at once with ErrBusy.
func TestBusyRefusesAtOnce(t *testing.T) {
	t.Parallel()
	mc := mctest.Start(t)
	n := newTestNode(t, mc.Addr, Config{MaxInflight: 2})
	mc.Pause()
	a := send(n, protocol.ReplyLine, "version\r\n")
	b := send(n, protocol.ReplyLine, "version\r\n")
	if _, err := do(n, protocol.ReplyLine, "version\r\n"); !errors.Is(err, ErrBusy) {
		t.Errorf("third op with 2 in flight: got %v; want ErrBusy", err)
	}
	if got := n.Inflight(); got != 2 {
		t.Errorf("inflight %d; want 2", got)
	}
	mc.Resume()
	for _, o := range []*Op{a, b} {
		if err := o.Wait(); err != nil {
			t.Fatalf("op in flight: %v", err)
		}
	}
}

// The per-connection queue has a bound too: a full queue refuses.
func TestFullQueueRefuses(t *testing.T) {
	t.Parallel()
	n := NewNode("127.0.0.1:1", Config{Connections: 2, MaxInflight: 4, Timeouts: func() (time.Duration, time.Duration) { return time.Second, time.Second }})
	c := n.conns[0]
	if len(n.conns) != 2 {
		t.Fatalf("%d connections; want 2", len(n.conns))
	}
	if c.limit != 3 {
		t.Fatalf("per-connection limit %d; want MaxInflight/Connections+1 = 3", c.limit)
	}
	c.writing = true // someone else writes: ops only queue
	for i := 0; i < 3; i++ {
		if !c.enqueue(GetOp(n, protocol.ReplyLine)) {
			t.Fatalf("op %d refused below the limit", i)
		}
	}
	if c.enqueue(GetOp(n, protocol.ReplyLine)) {
		t.Fatal("op accepted over the limit")
	}
	c.close()
	if len(c.queue) != 0 || !c.closed {
		t.Fatal("close left the queue")
	}
	if c.enqueue(GetOp(n, protocol.ReplyLine)) {
		t.Fatal("closed connection accepted an op")
	}
}

// A stopped node fails new ops at once; a closed one fails what is queued.
func TestStopAndClose(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, mctest.Start(t).Addr, Config{})
	mustDo(t, n, protocol.ReplyLine, "version\r\n")
	n.Stop()
	if _, err := do(n, protocol.ReplyLine, "version\r\n"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Stop: got %v; want ErrClosed", err)
	}
	if n.Inflight() != 0 {
		t.Fatalf("inflight %d after refusals; want 0", n.Inflight())
	}
	n.Close()
	n.Close() // twice is fine
}

// A dead node costs the queued ops one dial attempt: all fail with the
// dial's error.
func TestDialFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	n := newTestNode(t, addr, Config{})
	_, err = do(n, protocol.ReplyLine, "version\r\n")
	if err == nil || !strings.Contains(err.Error(), "backend "+addr) {
		t.Fatalf("got %v; want a dial error naming the node", err)
	}
	if n.Dials() != 1 || n.ConnErrors() != 1 {
		t.Fatalf("dials %d conn errors %d; want 1 1", n.Dials(), n.ConnErrors())
	}
	if err := n.Probe(context.Background()); err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	n := NewNode(mctest.Start(t).Addr, Config{Connections: 1, MaxInflight: 1, Timeouts: func() (time.Duration, time.Duration) { return testTimeout, testTimeout }})
	if err := n.Probe(ctx); err != nil {
		t.Fatalf("probe of memcached: %v", err)
	}
	bad := NewNode(fakeServer(t, script("ERROR\r\n")), Config{Connections: 1, MaxInflight: 1, Timeouts: n.cfg.Timeouts})
	if err := bad.Probe(ctx); err == nil || !strings.Contains(err.Error(), `unexpected "ERROR"`) {
		t.Fatalf("probe answered ERROR: got %v; want an error", err)
	}
	mute := NewNode(fakeServer(t, func(net.Conn, *bufio.Reader) {}), Config{Connections: 1, MaxInflight: 1, Timeouts: n.cfg.Timeouts})
	if err := mute.Probe(ctx); err == nil {
		t.Fatal("probe of a server that hangs up succeeded")
	}
	if n.Dials() != 0 {
		t.Fatalf("a probe counted as a dial of a backend connection")
	}
}

// Secure runs on every new connection; a failure Redial accepts is tried
// once more at once, any other fails the connection.
func TestSecureAndRedial(t *testing.T) {
	t.Parallel()
	mc := mctest.Start(t)
	errAgain := errors.New("again")
	var calls atomic.Int64
	n := newTestNode(t, mc.Addr, Config{
		Secure: func(nc net.Conn) (net.Conn, error) {
			if calls.Add(1) == 1 {
				nc.Close()
				return nil, errAgain
			}
			return nc, nil
		},
		Redial: func(err error) bool { return errors.Is(err, errAgain) },
	})
	mustDo(t, n, protocol.ReplyLine, "version\r\n")
	if calls.Load() != 2 || n.Dials() != 1 {
		t.Fatalf("Secure ran %d times over %d dials; want 2 over 1", calls.Load(), n.Dials())
	}
	errNo := errors.New("no")
	m := newTestNode(t, mc.Addr, Config{
		Secure: func(nc net.Conn) (net.Conn, error) { nc.Close(); return nil, errNo },
		Redial: func(err error) bool { return errors.Is(err, errAgain) },
	})
	if _, err := do(m, protocol.ReplyLine, "version\r\n"); !errors.Is(err, errNo) {
		t.Fatalf("got %v; want Secure's error", err)
	}
}

// A unix socket address dials a unix socket.
func TestUnixSocket(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/mc.sock"
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		script("VERSION 1.6.0\r\n")(nc, bufio.NewReader(nc))
	}()
	for _, addr := range []string{path, "unix:" + path} {
		n := NewNode(addr, Config{Connections: 1, MaxInflight: 1})
		if n.Network() != "unix" {
			t.Fatalf("%s: network %q; want unix", addr, n.Network())
		}
	}
	n := newTestNode(t, "unix:"+path, Config{})
	if got := mustDo(t, n, protocol.ReplyLine, "version\r\n"); got != "VERSION 1.6.0\r\n" {
		t.Fatalf("got %q", got)
	}
}
