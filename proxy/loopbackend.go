//go:build linux

// A loop's own connection to one node: requests appended to one output
// buffer during a turn and written once at its end, replies framed in the
// loop's buffers and checked as strictly as the goroutine path's reader
// checks them (keys in request order; anything else and the connection
// is in doubt and closed, failing what is pending on it).
package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/proxy/backend"
)

var (
	errTimeout  = backend.ErrTimeout
	errClosed   = backend.ErrClosed
	clientStall = backend.ClientStall
)

// lback is a loop's connection to node n.
type lback struct {
	el *eloop
	n  *node
	fd int // -1: none yet, or dialing

	dialing bool
	gen     int // which dial's result is awaited; a failure moves it on

	out      []byte // requests not yet written
	queued   bool   // a send of out is queued on the loop's ring (loopring.go)
	written  int    // requests in out
	pend     []*lop // requests sent or in out, awaiting replies in order
	in       []byte // reply bytes read and not yet framed
	progress time.Time
	items    []protocol.Item
	events   uint32
	dirty    bool
	held     *lclient // streaming to a client whose output is full: not read meanwhile
	parked   bool     // held, and out of epoll: it hung up or failed (park)
	pipe     [2]int   // splicing a data block to its client (loopsplice.go); -1: none yet
	piped    int      // bytes in pipe the client has not taken
	noSplice bool     // no pipe could be made: read instead
	retiring bool     // detached: takes no new requests, closes once answered
}

// lop is one request of a call to one node, and once finished its reply.
type lop struct {
	call     *lcall
	kind     protocol.ReplyKind
	keys     []byte // a get's keys as sent, for the strict check
	writeKey []byte // a write's key, for accounting (node.account)
	start    time.Time
	deadline time.Time

	streaming bool // its reply is relayed as it comes (stream)
	streamed  bool // part of it reached the client's output: a failure cannot be a miss
	left      int  // streaming: data bytes of the current VALUE block still to come
	term      bool // streaming: the CRLF after a data block is next

	err    error
	raw    []byte          // the reply (a quiet meta reply without its MN)
	items  []protocol.Item // a get reply's values in raw
	values int
}

// backend returns the loop's connection to n, made on first use.
func (el *eloop) backend(n *node) *lback {
	b := el.backs[n]
	if b == nil {
		b = &lback{el: el, n: n, fd: -1, pipe: [2]int{-1, -1}}
		el.backs[n] = b
	}
	return b
}

// start begins an op of cl on b: counted in flight on the node, its
// request to be appended to b.out by the caller unless o.err is set (the
// node refused it: the op is finished already).
func (b *lback) start(cl *lcall, kind protocol.ReplyKind, writeKey []byte) *lop {
	el := b.el
	o := el.getOp()
	o.call, o.kind = cl, kind
	o.writeKey = append(o.writeKey, writeKey...)
	o.start = el.now
	o.deadline = el.now.Add(b.n.pool.settings().Timeout)
	cl.ops = append(cl.ops, o)
	if err := b.n.io.Acquire(); err != nil {
		o.err = err
		b.n.account(o.writeKey, err, o.start)
		return o
	}
	cl.pending++
	b.pend = append(b.pend, o)
	b.written++
	if b.fd < 0 && !b.dialing {
		b.dial()
	}
	if !b.dirty {
		b.dirty = true
		el.dirtyB = append(el.dirtyB, b)
	}
	return o
}

// finish ends o with its reply (raw, which it copies) or err, accounts it
// to the node and moves its client on.
func (b *lback) finish(o *lop, raw []byte, items []protocol.Item, values int, err error) {
	b.n.io.Release()
	o.err = err
	if err == nil {
		o.raw = append(o.raw[:0], raw...)
		o.items = append(o.items[:0], items...)
		o.values = values
	}
	b.n.account(o.writeKey, err, o.start)
	cl := o.call
	cl.pending--
	if cl.pending > 0 {
		return
	}
	if cl.orphan {
		b.el.putCall(cl)
		return
	}
	b.el.settle(cl.c)
}

// dial opens the connection on a goroutine; the loop gets the result by
// mail. Requests queue in out meanwhile.
func (b *lback) dial() {
	b.dialing = true
	b.gen++
	gen, el, n := b.gen, b.el, b.n
	go func() {
		fd := -1
		nc, err := n.io.Dial()
		if err == nil {
			if fd, err = detach(nc); err != nil {
				err = n.io.Wrap(err)
			}
		}
		if !el.post(func() { b.dialed(gen, fd, err) }) && fd >= 0 {
			unix.Close(fd)
		}
	}()
}

func (b *lback) dialed(gen, fd int, err error) {
	if gen != b.gen || b.el.stopping {
		if fd >= 0 {
			unix.Close(fd)
		}
		return
	}
	b.dialing = false
	if err != nil {
		b.fail(err)
		return
	}
	if err := b.el.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN); err != nil {
		unix.Close(fd)
		b.fail(b.n.io.Wrap(err))
		return
	}
	b.fd, b.events = fd, unix.EPOLLIN
	b.el.fds[fd] = &lconn{b: b}
	b.progress = b.el.now
	b.writeOut()
}

// writeOut writes what b has queued; a short write waits for EPOLLOUT.
func (b *lback) writeOut() {
	if b.fd < 0 || len(b.out) == 0 {
		b.want(unix.EPOLLIN)
		return
	}
	if b.el.sendLater(b.fd, b.out, nil, b) {
		return
	}
	n, err := rawWrite(b.fd, b.out)
	b.wrote(n, err)
}

// wrote takes in what a write of b's output did: n bytes written, or err.
func (b *lback) wrote(n int, err error) {
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		b.fail(b.n.io.Wrap(err))
		return
	}
	if b.written > 0 {
		b.n.io.Written(b.written)
		b.written = 0
	}
	n = max(n, 0)
	if n == len(b.out) {
		if cap(b.out) > 4*loopReadSize {
			b.out = nil
		} else {
			b.out = b.out[:0]
		}
		b.want(unix.EPOLLIN)
		return
	}
	b.out = b.out[:copy(b.out, b.out[n:])]
	b.want(unix.EPOLLIN | unix.EPOLLOUT)
}

func (b *lback) want(events uint32) {
	if b.held != nil {
		events &^= unix.EPOLLIN // a client holds it (stream)
	}
	if b.parked {
		b.events = events // registered again on release
		return
	}
	if b.fd < 0 || b.events == events {
		return
	}
	b.events = events
	b.el.ctl(unix.EPOLL_CTL_MOD, b.fd, events)
}

// readReplies reads once and finishes every op whose reply is whole.
func (b *lback) readReplies() {
	if b.held != nil {
		return // an event of this turn, from before a client held it
	}
	if b.canSplice() {
		b.spliceIn()
		return
	}
	el := b.el
	buf := el.rbuf
	if len(b.in) > 0 { // a reply in parts: read into its buffer
		if cap(b.in)-len(b.in) < loopReadSize {
			b.in = append(b.in, make([]byte, loopReadSize)...)[:len(b.in)]
		}
		buf = b.in[len(b.in):cap(b.in)]
	}
	n, err := rawRead(b.fd, buf)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	if n <= 0 {
		if err == nil {
			err = io.EOF
		}
		b.fail(b.n.io.Wrap(err))
		return
	}
	b.progress = el.now
	data := buf[:n]
	if len(b.in) > 0 {
		b.in = b.in[:len(b.in)+n]
		data = b.in
	}
	b.process(data)
}

// process finishes every op whose reply is whole in data (the bytes
// read and not yet used, in el.rbuf or b.in) and streams a large one
// (stream), then keeps what is left in b.in.
func (b *lback) process(data []byte) {
	used := 0
	for len(b.pend) > 0 && b.held == nil {
		o := b.pend[0]
		k, values, items := 0, 0, b.items[:0]
		var err error
		if !o.streaming {
			k, values, items, err = protocol.FrameReply(data[used:], o.kind, o.keys, items)
			b.items = items
		}
		if err == nil && k == 0 && (o.streaming || len(data)-used >= loopStreamMin && o.streamable()) {
			var done bool
			if !o.streaming {
				o.streaming = true
				b.detach()
			}
			k, done, err = b.stream(o, data[used:])
			used += k
			if err == nil && !done {
				break
			}
			k, values, items = 0, o.values, nil
		}
		if err != nil {
			b.fail(b.n.io.Wrap(err))
			return
		}
		if k == 0 && !o.streaming {
			break
		}
		raw := data[used : used+k]
		if o.kind == protocol.ReplyMetaQuiet {
			raw = raw[:len(raw)-len("MN\r\n")]
		}
		// Shift rather than reslice: the array stays, and the next
		// request's append allocates nothing (a reslice from the front
		// lost capacity each reply, an allocation per request).
		n := copy(b.pend, b.pend[1:])
		b.pend[n] = nil
		b.pend = b.pend[:n]
		used += k
		b.finish(o, raw, items, values, nil)
		if b.fd < 0 { // a client's settling failed this connection
			return
		}
	}
	if len(b.pend) == 0 {
		if used < len(data) {
			b.fail(b.n.io.Wrap(backend.ErrUnexpectedData))
			return
		}
		if b.retiring {
			b.close()
			delete(b.el.retiring, b)
			return
		}
	}
	rest := data[used:]
	switch {
	case len(rest) == 0:
		if cap(b.in) > 4*loopReadSize {
			b.in = nil
		} else {
			b.in = b.in[:0]
		}
	case len(b.in) > 0:
		b.in = b.in[:copy(b.in, rest)]
	default:
		b.in = append(b.in[:0], rest...)
	}
}

// loopStreamMin is how much of an unfinished get reply a loop holds
// before it relays the reply as it comes (stream), as the goroutine path
// does past protocol.FlushSize.
const loopStreamMin = protocol.FlushSize

// streamable reports whether o's reply may be relayed as it arrives: a
// one-node get whose client has written every earlier reply.
func (o *lop) streamable() bool {
	cl := o.call
	return o.kind == protocol.ReplyValues && len(cl.ops) == 1 && !cl.orphan && len(cl.c.calls) > 0 && cl.c.calls[0] == cl
}

// stream relays the whole lines and data of o's reply in data to its
// client's output, checking them as FrameReply would (VALUE lines, keys
// in request order, CRLFs), and reports the bytes used and whether the
// reply ended. Past loopMaxOut of unwritten output the client holds the
// connection: nothing more is read from it until the client takes its
// output. A client that went away meanwhile gets nothing; the reply is
// still read to its end.
func (b *lback) stream(o *lop, data []byte) (int, bool, error) {
	c := o.call.c
	used := 0
	for used < len(data) {
		if !o.call.orphan && c.unwritten() > loopMaxOut {
			b.held, c.holding = c, b
			b.want(b.events)
			break
		}
		if o.left > 0 { // inside a data block
			k := min(o.left, len(data)-used)
			o.relay(data[used : used+k])
			used, o.left = used+k, o.left-k
			continue
		}
		rest := data[used:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(rest) > replyLineMax {
				return used, false, fmt.Errorf("%w: line longer than %d bytes", protocol.ErrMalformed, replyLineMax)
			}
			break
		}
		line := rest[:i+1]
		if o.term { // the CRLF after a data block
			if string(rest[:min(2, len(rest))]) != "\r\n" {
				if len(rest) < 2 {
					break
				}
				return used, false, fmt.Errorf("%w: data block not followed by CRLF", protocol.ErrMalformed)
			}
			o.relay(rest[:2])
			used, o.term = used+2, false
			continue
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return used, false, fmt.Errorf("%w: line without CRLF", protocol.ErrMalformed)
		}
		if string(line) == "END\r\n" {
			o.relay(line)
			return used + len(line), true, nil
		}
		key, size, ok := protocol.ParseValueLine(line[:len(line)-2])
		if !ok {
			return used, false, fmt.Errorf("%w: bad VALUE line in a get reply", protocol.ErrMalformed)
		}
		if !consumeKey(&o.keys, key) {
			return used, false, fmt.Errorf("%w: got VALUE %q", protocol.ErrWrongKey, key[:min(len(key), 64)])
		}
		o.relay(line)
		o.values++
		o.streamed = true
		used, o.left, o.term = used+len(line), size, true
	}
	c.markDirty()
	return used, false, nil
}

// relay appends part of a streamed reply to the client's output, unless
// the client is gone.
func (o *lop) relay(p []byte) {
	if !o.call.orphan {
		o.call.c.out = append(o.call.c.out, p...)
	}
}

// replyLineMax is the longest reply line (as the goroutine path's 32 KiB
// reader).
const replyLineMax = 32 << 10

// consumeKey consumes the requested keys up to and including the first
// one equal to key, and reports whether there was one (keys in request
// order; a key without a VALUE is a miss).
func consumeKey(keys *[]byte, key []byte) bool {
	for len(*keys) > 0 {
		k := *keys
		i := bytes.IndexByte(k, ' ')
		var tok []byte
		if i < 0 {
			tok, *keys = k, nil
		} else {
			tok, *keys = k[:i], k[i+1:]
		}
		if len(tok) > 0 && bytes.Equal(tok, key) {
			return true
		}
	}
	return false
}

// detach takes b out of use for new requests when the reply it begins to
// stream is the only one on it, so that later requests to the node go on
// a fresh connection instead of waiting behind a client that may take
// the reply slowly, or hold the connection (up to clientStall). Safe for
// the reason wireConn.detach is: the node has executed every request
// written here. With requests behind the reply, b stays and they wait.
func (b *lback) detach() {
	el := b.el
	if len(b.pend) != 1 || len(b.out) > 0 || el.backs[b.n] != b {
		return
	}
	delete(el.backs, b.n)
	el.retiring[b] = struct{}{}
	b.retiring = true
}

// park takes a held connection that hung up or failed out of epoll,
// which reports that every turn whatever it is asked to watch (the loop
// would spin until the client's stall bound). What the node sent before
// is still read, on release, and the failure found then.
func (b *lback) park() {
	if b.parked || b.fd < 0 {
		return
	}
	unix.EpollCtl(b.el.epfd, unix.EPOLL_CTL_DEL, b.fd, nil)
	b.parked = true
}

// release resumes reading a connection a client held (stream).
func (b *lback) release() {
	c := b.held
	b.held = nil
	if c != nil {
		c.holding = nil
	}
	if b.piped > 0 { // its client is gone (closeClient): the rest is read and dropped
		b.dropPipe()
	}
	if b.fd < 0 {
		return
	}
	if b.parked {
		b.parked = false
		b.events |= unix.EPOLLIN
		if err := b.el.ctl(unix.EPOLL_CTL_ADD, b.fd, b.events); err != nil {
			b.fail(b.n.io.Wrap(err))
			return
		}
	}
	b.want(b.events | unix.EPOLLIN)
	if len(b.in) > 0 && len(b.pend) > 0 {
		b.process(b.in)
	}
}

// deadline is when the oldest pending request times out: its own
// deadline, but no earlier than a timeout after the connection last
// brought bytes, so that requests queued behind long replies do not time
// out while the node is answering (a 38 MiB pipeline of gets timed out
// its last requests under load).
func (b *lback) deadline() (time.Time, bool) {
	if len(b.pend) == 0 {
		return time.Time{}, false
	}
	if b.held != nil {
		return time.Time{}, false // the client's stall is bounded instead (clientStall)
	}
	d := b.pend[0].deadline
	if p := b.progress.Add(b.n.pool.settings().Timeout); p.After(d) {
		d = p
	}
	return d, true
}

// fail closes the connection and fails every op pending on it: once a
// reply stream is in doubt no later reply can be trusted. The next
// request dials anew.
func (b *lback) fail(err error) {
	if b.held != nil {
		b.held.holding = nil
		b.held = nil
	}
	b.dropPipe()
	b.close()
	b.gen++ // a dial in progress is dropped when it reports
	b.dialing = false
	b.out, b.in, b.written = b.out[:0], b.in[:0], 0
	pend := b.pend
	b.pend = nil
	if len(pend) > 0 && !errors.Is(err, errClosed) {
		b.n.io.ConnFailed()
	}
	if b.retiring {
		delete(b.el.retiring, b)
	}
	for _, o := range pend {
		b.finish(o, nil, nil, 0, err)
	}
}

// close closes the descriptor, if any.
func (b *lback) close() {
	b.dropPipe()
	if b.fd < 0 {
		return
	}
	if !b.parked {
		unix.EpollCtl(b.el.epfd, unix.EPOLL_CTL_DEL, b.fd, nil)
	}
	delete(b.el.fds, b.fd)
	b.el.unqueue(b.fd)
	unix.Close(b.fd)
	b.fd, b.events, b.parked = -1, 0, false
}

func (el *eloop) getOp() *lop {
	if n := len(el.freeOps); n > 0 {
		o := el.freeOps[n-1]
		el.freeOps = el.freeOps[:n-1]
		return o
	}
	return new(lop)
}

func (el *eloop) putOp(o *lop) {
	if cap(o.raw) > 64<<10 {
		o.raw = nil
	}
	*o = lop{keys: o.keys[:0], writeKey: o.writeKey[:0], raw: o.raw[:0], items: o.items[:0]}
	if len(el.freeOps) < 4096 {
		el.freeOps = append(el.freeOps, o)
	}
}
