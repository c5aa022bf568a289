// A loop's own connection to one node: requests appended to one output
// buffer during a turn and written once at its end, replies framed in the
// loop's buffers and checked as strictly as the goroutine path's reader
// checks them (keys in request order; anything else and the connection
// is in doubt and closed, failing what is pending on it).
package proxy

import (
	"errors"
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
	written  int    // requests in out
	pend     []*lop // requests sent or in out, awaiting replies in order
	in       []byte // reply bytes read and not yet framed
	progress time.Time
	items    []protocol.Item
	events   uint32
	dirty    bool
}

// lop is one request of a call to one node, and once finished its reply.
type lop struct {
	call     *lcall
	kind     protocol.ReplyKind
	keys     []byte // a get's keys as sent, for the strict check
	writeKey []byte // a write's key, for accounting (node.account)
	start    time.Time
	deadline time.Time

	err    error
	raw    []byte          // the reply (a quiet meta reply without its MN)
	items  []protocol.Item // a get reply's values in raw
	values int
}

// backend returns the loop's connection to n, made on first use.
func (el *eloop) backend(n *node) *lback {
	b := el.backs[n]
	if b == nil {
		b = &lback{el: el, n: n, fd: -1}
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
	n, err := unix.Write(b.fd, b.out)
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
	if b.fd < 0 || b.events == events {
		return
	}
	b.events = events
	b.el.ctl(unix.EPOLL_CTL_MOD, b.fd, events)
}

// readReplies reads once and finishes every op whose reply is whole.
func (b *lback) readReplies() {
	el := b.el
	buf := el.rbuf
	if len(b.in) > 0 { // a reply in parts: read into its buffer
		if cap(b.in)-len(b.in) < loopReadSize {
			b.in = append(b.in, make([]byte, loopReadSize)...)[:len(b.in)]
		}
		buf = b.in[len(b.in):cap(b.in)]
	}
	n, err := unix.Read(b.fd, buf)
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
	used := 0
	for len(b.pend) > 0 {
		o := b.pend[0]
		k, values, items, ferr := protocol.FrameReply(data[used:], o.kind, o.keys, b.items[:0])
		b.items = items
		if ferr != nil {
			b.fail(b.n.io.Wrap(ferr))
			return
		}
		if k == 0 {
			break
		}
		raw := data[used : used+k]
		if o.kind == protocol.ReplyMetaQuiet {
			raw = raw[:len(raw)-len("MN\r\n")]
		}
		b.pend[0] = nil
		b.pend = b.pend[1:]
		used += k
		b.finish(o, raw, items, values, nil)
		if b.fd < 0 { // a client's settling failed this connection
			return
		}
	}
	if len(b.pend) == 0 {
		b.pend = b.pend[:0:0]
		if used < len(data) {
			b.fail(b.n.io.Wrap(backend.ErrUnexpectedData))
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

// deadline is when the oldest pending request times out: its own
// deadline, but no earlier than a timeout after the last progress, so
// that requests behind a long transfer do not time out because of it.
func (b *lback) deadline() (time.Time, bool) {
	if len(b.pend) == 0 {
		return time.Time{}, false
	}
	d := b.pend[0].deadline
	if p := b.progress.Add(b.n.pool.settings().Timeout); len(b.in) > 0 && p.After(d) {
		d = p
	}
	return d, true
}

// fail closes the connection and fails every op pending on it: once a
// reply stream is in doubt no later reply can be trusted. The next
// request dials anew.
func (b *lback) fail(err error) {
	b.close()
	b.gen++ // a dial in progress is dropped when it reports
	b.dialing = false
	b.out, b.in, b.written = b.out[:0], b.in[:0], 0
	pend := b.pend
	b.pend = nil
	for _, o := range pend {
		b.finish(o, nil, nil, 0, err)
	}
}

// close closes the descriptor, if any.
func (b *lback) close() {
	if b.fd < 0 {
		return
	}
	unix.EpollCtl(b.el.epfd, unix.EPOLL_CTL_DEL, b.fd, nil)
	delete(b.el.fds, b.fd)
	unix.Close(b.fd)
	b.fd, b.events = -1, 0
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
