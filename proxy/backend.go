// Backend connections: per node, a few long-lived pipelined connections,
// each with one writer goroutine (batching many clients' requests into one
// write) and one reader goroutine matching replies to a FIFO of pending
// requests.
//
// The reader is the only one to touch a reply while it is read, and it
// trusts nothing: a get reply must name the requested keys in request
// order (protocol.ReadValues), or the connection is in doubt and closed
// with everything pending on it. A large get reply is not held whole: past
// protocol.FlushSize it is handed to the waiting client in parts, two
// buffers at most, and the read waits for the client to take each (see op
// and partFlusher). While it streams, the connection takes no new requests
// if it can shed them safely (wireConn.detach). The pool's timeout bounds
// each wait for the backend's progress, not a whole transfer.
package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// Errors a backend request can end with.
var (
	ErrBackendBusy    = errors.New("proxy: too many requests in flight to backend")
	ErrBackendTimeout = errors.New("proxy: backend timeout")
	ErrBackendClosed  = errors.New("proxy: backend connection closed")
	ErrUnexpectedData = errors.New("proxy: backend sent data nobody asked for")
)

// maxBatch bounds how many bytes one backend write gathers.
const maxBatch = 256 << 10

// progressStep is how many bytes a reply must bring to re-arm the read
// deadline: the pool's timeout bounds each wait for progress, not the
// transfer of a large reply.
const progressStep = 64 << 10

// clientStall bounds how long a streamed part may take to reach the
// client (the client write deadline), and partWait how long a backend
// reader waits for the client side to take a part. A client that stops
// reading for longer loses its connection, and the backend connection it
// held is freed.
const (
	clientStall = 10 * time.Second
	partWait    = clientStall + 5*time.Second
)

// ErrClientStalled means the client side did not take a streamed part in time.
var ErrClientStalled = errors.New("proxy: client did not take a streamed reply in time")

// op is one request to one backend node and, once done, its reply.
type op struct {
	wire     []byte
	writeKey []byte // for writes: the key, spooled if the op fails
	internal bool   // shepherd's own (spool replay), allowed while the node is out
	kind     protocol.ReplyKind
	reply    protocol.Reply
	err      error
	node     *node
	start    time.Time
	deadline time.Time
	done     chan struct{} // receives once per part handed over, and once when finished

	// Streaming (client retrievals only): a reply that outgrows
	// protocol.FlushSize is handed to the waiter in parts while the rest is
	// read, double-buffered: the reader fills one buffer while the waiter
	// writes the other, and waits for the waiter's ack before handing over
	// the next. part is set by the reader before it signals done and
	// cleared by the waiter before it acks.
	stream   bool
	streamed bool   // a part was handed over: a failure now cannot be a miss
	part     []byte // the part the waiter is to write, or nil
	spare    []byte // the buffer the waiter gave back
	ack      chan struct{}
}

var opPool = sync.Pool{New: func() any {
	// done holds up to a part and the finish: a reader never blocks on it.
	return &op{done: make(chan struct{}, 2), ack: make(chan struct{}, 1)}
}}

func getOp(n *node, kind protocol.ReplyKind) *op {
	o := opPool.Get().(*op)
	o.node, o.kind, o.err = n, kind, nil
	o.wire = o.wire[:0]
	o.writeKey = o.writeKey[:0]
	o.internal = false
	o.stream, o.streamed = false, false
	o.reply.Reset()
	return o
}

// putOp recycles a finished op whose reply has been consumed.
func putOp(o *op) {
	if cap(o.reply.Raw) > 64<<10 {
		o.reply.Raw = nil
	}
	if cap(o.wire) > 64<<10 {
		o.wire = nil
	}
	select {
	case <-o.ack: // the last part's ack, which no reader waited for
	default:
	}
	o.node, o.part, o.spare = nil, nil, nil
	opPool.Put(o)
}

// finish records the outcome and wakes the waiter. Called exactly once.
func (o *op) finish(err error) {
	o.err = err
	o.node.finished(o)
	o.done <- struct{}{}
}

// wait returns the op's outcome, dropping the parts of a streamed reply.
func (o *op) wait() error {
	for o.next() != nil {
		o.release()
	}
	return o.err
}

// next waits for the op's next part, or nil when it is finished.
func (o *op) next() []byte {
	<-o.done
	return o.part
}

// release gives the current part's buffer back to the reader.
func (o *op) release() {
	o.spare, o.part = o.part, nil
	o.ack <- struct{}{}
}

// backendConn is one logical connection to a node: a queue of requests
// and, at any moment, at most one writer draining it into a wireConn
// (dialed when needed). The writer is whichever client goroutine finds the
// queue idle when it enqueues (flat combining: no hand-off to another
// goroutine when the connection is quiet, and one write for many clients'
// requests when it is busy). A writer that has drained rounds of others'
// requests hands the rest to the connection's background goroutine, so
// no client is kept writing for long.
type backendConn struct {
	n     *node
	limit int           // queued requests before enqueue refuses
	kick  chan struct{} // hands the writer role to writeLoop
	quit  chan struct{}

	mu      sync.Mutex // guards queue, spare, writing and closed
	queue   []*op
	spare   []*op
	writing bool // someone holds the writer role; wc and batch are theirs
	closed  bool

	wc    *wireConn // owned by the writer
	batch []byte    // owned by the writer
}

// combinerRounds is how many drains a client goroutine does as writer
// before handing the role to the background goroutine.
const combinerRounds = 2

func newBackendConn(n *node, limit int, quit chan struct{}) *backendConn {
	return &backendConn{n: n, limit: limit, kick: make(chan struct{}, 1), quit: quit}
}

// enqueue queues o and, if no one is writing, writes it (and whatever
// else is queued) on this goroutine. It reports false when the queue is
// full or the connection closed; o is then untouched.
func (c *backendConn) enqueue(o *op) bool {
	c.mu.Lock()
	if c.closed || len(c.queue) >= c.limit {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, o)
	if c.writing {
		c.mu.Unlock()
		return true
	}
	c.writing = true
	c.mu.Unlock()
	// When others are talking to this node too, let the other runnable
	// client goroutines parse and queue their requests first, so that one
	// write carries them all (what an event loop gets by reading every
	// ready socket before writing). A lone client does not wait.
	if c.n.inflight.Load() > 1 {
		runtime.Gosched()
	}
	c.write(combinerRounds)
	return true
}

// write drains the queue, at most rounds times (0: until empty), then
// gives up the writer role or hands it to writeLoop.
func (c *backendConn) write(rounds int) {
	for i := 0; rounds == 0 || i < rounds; i++ {
		ops := c.take()
		if ops == nil {
			return
		}
		if ops = c.failExpired(ops); len(ops) > 0 {
			c.wc = c.deliver(c.wc, ops, &c.batch)
		}
		c.recycle(ops)
	}
	c.kick <- struct{}{} // still busy: the background goroutine takes over
}

// take returns the queued ops, or nil (releasing the writer role) when
// there are none.
func (c *backendConn) take() []*op {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed && c.wc != nil {
		c.wc.kill(ErrBackendClosed)
		c.wc = nil
	}
	if len(c.queue) == 0 {
		c.writing = c.closed // once closed, nobody takes the role again
		return nil
	}
	ops := c.queue
	c.queue, c.spare = c.spare[:0], nil
	return ops
}

func (c *backendConn) recycle(ops []*op) {
	clear(ops[:cap(ops)])
	c.mu.Lock()
	if cap(ops) <= 4096 {
		c.spare = ops[:0]
	}
	c.mu.Unlock()
}

// writeLoop takes over the writer role when a client goroutine hands it
// on, and closes the connection when the server stops.
func (c *backendConn) writeLoop() {
	for {
		select {
		case <-c.kick:
			c.write(0)
		case <-c.quit:
			c.close()
			return
		}
	}
}

// close fails what is queued and refuses what comes; the live wireConn,
// if any, is closed by the writer's next turn or here when idle.
func (c *backendConn) close() {
	c.mu.Lock()
	c.closed = true
	ops := c.queue
	c.queue = nil
	idle := !c.writing
	c.writing = true // nobody writes any more
	c.mu.Unlock()
	failAll(ops, ErrBackendClosed)
	if idle && c.wc != nil {
		c.wc.kill(ErrBackendClosed)
	}
}

// failExpired fails the ops whose deadline passed while they were queued,
// and client ops that were routed here just before the node was ejected:
// once it is out, no client request reaches it.
func (c *backendConn) failExpired(ops []*op) []*op {
	now := time.Now()
	healthy := c.n.h.Healthy()
	kept := ops[:0]
	for _, o := range ops {
		switch {
		case now.After(o.deadline):
			o.finish(fmt.Errorf("%w: queued past its deadline", ErrBackendTimeout))
		case !healthy && !o.internal:
			o.finish(ErrNodeEjected)
		default:
			kept = append(kept, o)
		}
	}
	return kept
}

// deliver hands ops to a live wireConn (dialing one if needed) and writes
// them in one syscall. It returns the wireConn to use next time.
func (c *backendConn) deliver(wc *wireConn, ops []*op, batch *[]byte) *wireConn {
	b := (*batch)[:0]
	for _, o := range ops {
		b = append(b, o.wire...) // copied before the op is visible to the reader
	}
	if cap(b) > maxBatch*4 {
		*batch = nil
	} else {
		*batch = b
	}
	for attempt := 0; ; attempt++ {
		if wc == nil || !wc.usable() {
			var err error
			if wc, err = c.n.dial(); err != nil {
				failAll(ops, err)
				c.drain(err)
				return nil
			}
		}
		if wc.push(ops) {
			break
		}
		if attempt > 0 {
			failAll(ops, ErrBackendClosed)
			return wc
		}
	}
	c.n.requests.Add(uint64(len(ops)))
	wc.nc.SetWriteDeadline(ops[0].deadline)
	if _, err := wc.nc.Write(b); err != nil {
		wc.kill(c.n.wrap(err))
	}
	return wc
}

// drain fails every op already queued, so that a dead node costs queued
// clients one dial attempt, not one each.
func (c *backendConn) drain(err error) {
	c.mu.Lock()
	ops := c.queue
	c.queue = nil
	c.mu.Unlock()
	failAll(ops, err)
}

func failAll(ops []*op, err error) {
	for _, o := range ops {
		o.finish(err)
	}
}

// wireConn is one TCP (or unix) connection to a node.
type wireConn struct {
	n  *node
	nc net.Conn
	br *bufio.Reader
	fl partFlusher // the reader's, for the op it streams

	mu       sync.Mutex // guards the fields below and the read deadline
	pending  []*op      // written or about to be, awaiting replies in order
	reading  bool       // the reader is reading pending[0]'s reply: it finishes that op
	dead     bool
	detached bool      // streaming a large reply: takes no new requests, closes when drained
	err      error     // why it died
	armed    time.Time // the read deadline progress last set
}

func newWireConn(n *node, nc net.Conn) *wireConn {
	w := &wireConn{n: n, nc: nc}
	w.br = bufio.NewReaderSize(&progressReader{w: w}, 32<<10)
	w.fl.w = w
	return w
}

// usable reports whether new requests may be pushed.
func (w *wireConn) usable() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.dead && !w.detached
}

// push appends ops to the pending FIFO; false if the connection died or
// was detached.
func (w *wireConn) push(ops []*op) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead || w.detached {
		return false
	}
	if len(w.pending) == 0 {
		w.nc.SetReadDeadline(ops[0].deadline)
	}
	w.pending = append(w.pending, ops...)
	return true
}

// kill closes the connection and fails everything pending on it: once a
// reply stream is in doubt no later reply can be trusted. The op whose
// reply the reader is reading is left to the reader, which finishes it
// (with err, once the close stops its read): only the reader touches an
// op's reply while it is being read.
func (w *wireConn) kill(err error) {
	w.mu.Lock()
	if w.dead {
		w.mu.Unlock()
		return
	}
	w.dead, w.err = true, err
	ops := w.pending
	if w.reading {
		ops = ops[1:]
	}
	w.pending = nil
	w.mu.Unlock()
	w.nc.Close()
	failAll(ops, err)
	if len(ops) > 0 || w.reading {
		w.n.connErrors.Add(1)
	}
}

// readLoop is the connection's single reader.
func (w *wireConn) readLoop() {
	for {
		if _, err := w.br.Peek(1); err != nil {
			w.kill(w.n.wrap(err))
			return
		}
		o := w.front()
		if o == nil {
			w.kill(w.n.wrap(ErrUnexpectedData))
			return
		}
		if err := w.read(o); err != nil {
			w.kill(w.n.wrap(err))
			o.finish(w.cause())
			return
		}
		drained := w.pop(o)
		o.finish(w.fl.outcome(o))
		if drained {
			w.kill(ErrBackendClosed) // detached: its last reply is read
			return
		}
	}
}

// read reads o's reply. Values are checked against the keys asked for;
// a client retrieval's reply is streamed to its waiter once it is large.
func (w *wireConn) read(o *op) error {
	if o.kind != protocol.ReplyValues {
		return protocol.ReadReply(w.br, o.kind, &o.reply)
	}
	var f protocol.Flusher
	if o.stream {
		w.fl.o, w.fl.stalled = o, false
		f = &w.fl
	}
	return protocol.ReadValues(w.br, &o.reply, protocol.RetrievalKeys(o.wire), f)
}

// front returns the op whose reply comes next and marks it as being read,
// or nil if there is none (or the connection died).
func (w *wireConn) front() *op {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dead || len(w.pending) == 0 {
		return nil
	}
	w.reading = true
	return w.pending[0]
}

// cause is why the connection died.
func (w *wireConn) cause() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// pop removes the answered op and arms the read deadline for the next.
// The next op's wait starts no earlier than the last progress, so that
// requests queued behind a long transfer do not time out because of it.
// It reports whether the connection is detached and drained: then the
// reader closes it.
func (w *wireConn) pop(o *op) (drained bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reading = false
	if w.dead { // killed while o was read: the others have failed already
		return false
	}
	w.pending[0] = nil
	w.pending = w.pending[1:]
	if len(w.pending) == 0 {
		w.pending = w.pending[:0:0]
		w.nc.SetReadDeadline(time.Time{})
		return w.detached
	}
	d := w.pending[0].deadline
	if w.armed.After(d) {
		d = w.armed
	}
	w.nc.SetReadDeadline(d)
	return false
}

// rearm moves the read deadline one timeout past now: the reply made
// progress.
func (w *wireConn) rearm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = time.Now().Add(w.n.pool.settings().Timeout)
	w.nc.SetReadDeadline(w.armed)
}

// detach stops new requests from joining this connection if o's reply
// is the only one on it, and reports whether it did. It is safe to send
// later requests on another connection then: memcached has executed every
// request written here (it is answering the last), so none can overtake.
// With requests behind o the connection stays, and they wait for o.
func (w *wireConn) detach() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 1 {
		w.detached = true
	}
	return w.detached
}

// progressReader is what a wireConn's bufio.Reader reads from: the
// connection, re-arming its read deadline every progressStep bytes.
type progressReader struct {
	w *wireConn
	n int
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.w.nc.Read(b)
	if p.n += n; p.n >= progressStep {
		p.n = 0
		p.w.rearm()
	}
	return n, err
}

// partFlusher hands the parts of a large reply to its waiter (see op).
// If the waiter does not take a part within partWait (a client that
// stopped reading, or a waiter that is gone), the rest of the reply is
// read and dropped, so that the replies behind it stay aligned, and the
// op ends with ErrClientStalled.
type partFlusher struct {
	w       *wireConn
	o       *op
	stalled bool
	t       *time.Timer
}

// Flush hands rep's bytes to the waiter once it has taken the previous
// part, and continues into the buffer that part came in.
func (f *partFlusher) Flush(rep *protocol.Reply) error {
	o := f.o
	switch {
	case f.stalled:
		rep.Raw = rep.Raw[:0]
		return nil
	case !o.streamed:
		f.w.detach()
		o.streamed = true
	case !f.awaitAck():
		f.stalled = true
		rep.Raw = rep.Raw[:0]
		return nil
	}
	o.part, rep.Raw, o.spare = rep.Raw, o.spare[:0], nil
	o.done <- struct{}{}
	return nil
}

// awaitAck waits for the waiter to take the last part, at most partWait,
// and re-arms the read deadline: the wait was not the backend's.
func (f *partFlusher) awaitAck() bool {
	if f.t == nil {
		f.t = time.NewTimer(partWait)
	} else {
		f.t.Reset(partWait)
	}
	defer f.t.Stop()
	select {
	case <-f.o.ack:
	case <-f.t.C:
		return false
	}
	f.w.rearm()
	return true
}

// outcome is how o ends once its reply was read whole.
func (f *partFlusher) outcome(o *op) error {
	if f.o == o && f.stalled {
		f.o, f.stalled = nil, false
		return ErrClientStalled
	}
	return nil
}

// wrap names the node in err and sorts timeouts.
func (n *node) wrap(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = ErrBackendTimeout
	}
	return fmt.Errorf("backend %s: %w", n.addr, err)
}
