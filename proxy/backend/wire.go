// Wire connections and the reply reader: one TCP (or unix) connection,
// a FIFO of ops written on it, and the one goroutine that reads their
// replies in order and trusts nothing.
//
// The reader is the only one to touch a reply while it is read: a get
// reply must name the requested keys in request order
// (protocol.ReadValues), or the connection is in doubt and closed with
// everything pending on it. A large get reply is not held whole: past
// protocol.FlushSize it is handed to the waiting client in parts, two
// buffers at most, and the read waits for the client to take each (see Op
// and partFlusher). While it streams, the connection takes no new requests
// if it can shed them safely (wireConn.detach). The node's timeout bounds
// each wait for the backend's progress, not a whole transfer.
package backend

import (
	"bufio"
	"net"
	"sync"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// progressStep is how many bytes a reply must bring to re-arm the read
// deadline: the timeout bounds each wait for progress, not the transfer
// of a large reply.
const progressStep = 64 << 10

// wireConn is one TCP (or unix) connection to a node.
type wireConn struct {
	n  *Node
	nc net.Conn
	br *bufio.Reader
	fl partFlusher // the reader's, for the op it streams

	mu       sync.Mutex // guards the fields below and the read deadline
	pending  []*Op      // written or about to be, awaiting replies in order
	reading  bool       // the reader is reading pending[0]'s reply: it finishes that op
	dead     bool
	detached bool      // streaming a large reply: takes no new requests, closes when drained
	err      error     // why it died
	armed    time.Time // the read deadline progress last set
}

func newWireConn(n *Node, nc net.Conn) *wireConn {
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
func (w *wireConn) push(ops []*Op) bool {
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
			w.kill(ErrClosed) // detached: its last reply is read
			return
		}
	}
}

// read reads o's reply. Values are checked against the keys asked for;
// a client retrieval's reply is streamed to its waiter once it is large.
func (w *wireConn) read(o *Op) error {
	if o.kind != protocol.ReplyValues {
		return protocol.ReadReply(w.br, o.kind, &o.Reply)
	}
	var f protocol.Flusher
	if o.Stream {
		w.fl.o, w.fl.stalled = o, false
		f = &w.fl
	}
	return protocol.ReadValues(w.br, &o.Reply, protocol.RetrievalKeys(o.Wire), f)
}

// front returns the op whose reply comes next and marks it as being read,
// or nil if there is none (or the connection died).
func (w *wireConn) front() *Op {
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
func (w *wireConn) pop(o *Op) (drained bool) {
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
	w.armed = time.Now().Add(w.n.timeout())
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

// partFlusher hands the parts of a large reply to its waiter (see Op).
// If the waiter does not take a part within PartWait (a client that
// stopped reading, or a waiter that is gone), the rest of the reply is
// read and dropped, so that the replies behind it stay aligned, and the
// op ends with ErrClientStalled.
type partFlusher struct {
	w       *wireConn
	o       *Op
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
		f.t = time.NewTimer(f.w.n.partWait)
	} else {
		f.t.Reset(f.w.n.partWait)
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
func (f *partFlusher) outcome(o *Op) error {
	if f.o == o && f.stalled {
		f.o, f.stalled = nil, false
		return ErrClientStalled
	}
	return nil
}
