// The event-loop core shared by the epoll and gnet designs: one loop owns
// its clients and one connection per node, and everything here runs on
// that loop's goroutine, so nothing is locked. Reading a client appends
// its requests to the backends' output; reading a backend completes
// requests, whose replies go out in each client's order. What was written
// to an endpoint's out is sent by the I/O layer once per loop turn (epoll)
// or once per read event (gnet): see loop.dirtyC and dirtyB. A client is
// written when a request of it completes, so the parts of a multi-get
// that arrive apart go out in one write.
package main

import "github.com/panjf2000/gnet/v2"

// endpoint is what the I/O layers keep per connection.
type endpoint struct {
	out     []byte // to send, in order
	dirty   bool   // on the loop's dirty list
	fd      int    // epoll design
	in      []byte // epoll design: an incomplete request or reply kept between reads
	blocked bool   // epoll design: waiting for EPOLLOUT
	gc      gnet.Conn
}

// client is one client connection of a loop.
type client struct {
	endpoint
	q      []*req // requests not yet answered, in order; q[qh] is the head
	qh     int
	p      parser
	closed bool
}

// backend is a loop's connection to one node.
type backend struct {
	endpoint
	q    []*req // requests in flight, in the order sent
	qh   int
	dead bool
}

// req is one client request and the parts of it still at the backends.
type req struct {
	c       *client
	left    int    // parts not yet answered
	get     bool   // a get: ends with END, or the first error a part got
	errLine []byte // a get part's error line
	buf     []byte // reply bytes that came before the request reached the head
	direct  bool   // at the head: reply bytes go straight to the client
	next    *req   // free list
}

// loop is one event loop's protocol state.
type loop struct {
	nodes  []*backend
	dirtyC []*client
	dirtyB []*backend
	free   *req
	place  []uint8 // scratch: each key's node
}

func newLoop(nodes int) *loop {
	l := &loop{nodes: make([]*backend, nodes)}
	for i := range l.nodes {
		l.nodes[i] = &backend{}
	}
	return l
}

// clientData handles what a client sent: it returns how many bytes of
// buf made complete requests (the rest must be kept for the next read),
// and false when the client must be closed (it was answered ERROR).
func (l *loop) clientData(c *client, buf []byte) (int, bool) {
	off := 0
	for {
		r, n, err := c.p.next(buf[off:])
		if err != nil {
			l.local(c, replyBadInput)
			return off, false
		}
		if n == 0 {
			return off, true
		}
		off += n
		switch r.kind {
		case reqVersion:
			l.local(c, replyVersion)
		case reqUnknown:
			l.local(c, replyError)
		case reqSet:
			b := l.nodes[nodeOf(r.keys[0], len(l.nodes))]
			if b.dead {
				l.local(c, replyBackend)
				continue
			}
			l.send(b, l.newReq(c, 1, false), r.wire)
		case reqGet:
			l.get(c, r)
		}
	}
}

// get sends each node its keys of r, in one request per node.
func (l *loop) get(c *client, r request) {
	l.place = l.place[:0]
	var used [256]bool
	parts := 0
	for _, k := range r.keys {
		n := nodeOf(k, len(l.nodes))
		l.place = append(l.place, uint8(n))
		if !used[n] {
			used[n] = true
			parts++
			if l.nodes[n].dead {
				l.local(c, replyBackend)
				return
			}
		}
	}
	rq := l.newReq(c, parts, true)
	if parts == 1 {
		l.send(l.nodes[l.place[0]], rq, r.wire)
		return
	}
	for n, b := range l.nodes {
		if used[n] {
			b.out = appendGet(b.out, r.verb, r.keys, l.place, n)
			l.queue(b, rq)
		}
	}
}

// send appends wire to b's output, awaited by rq.
func (l *loop) send(b *backend, rq *req, wire []byte) {
	b.out = append(b.out, wire...)
	l.queue(b, rq)
}

func (l *loop) queue(b *backend, rq *req) {
	b.q = append(b.q, rq)
	if !b.dirty {
		b.dirty = true
		l.dirtyB = append(l.dirtyB, b)
	}
}

// newReq queues a request of parts parts on c.
func (l *loop) newReq(c *client, parts int, get bool) *req {
	rq := l.free
	if rq != nil {
		l.free = rq.next
		rq.next = nil
	} else {
		rq = &req{}
	}
	rq.c, rq.left, rq.get, rq.direct = c, parts, get, c.qh == len(c.q)
	c.q = append(c.q, rq)
	return rq
}

// local answers c at once, in its turn.
func (l *loop) local(c *client, reply []byte) {
	rq := l.newReq(c, 0, false)
	l.emit(rq, reply)
	l.advance(c)
}

// backendData handles replies from b: it returns how many bytes of buf
// made complete reply elements, or an error when the stream is out of step.
func (l *loop) backendData(b *backend, buf []byte) (int, error) {
	off := 0
	for off < len(buf) {
		if b.qh == len(b.q) {
			return off, errBackendProtocol // data nobody asked for
		}
		rq := b.q[b.qh]
		kind, n, err := nextReply(buf[off:])
		if err != nil {
			return off, err
		}
		if n == 0 {
			break
		}
		elem := buf[off : off+n]
		off += n
		switch {
		case !rq.get:
			l.emit(rq, elem)
		case kind == elemValue:
			l.emit(rq, elem)
			continue
		case kind == elemLine && rq.errLine == nil:
			rq.errLine = append([]byte(nil), elem...)
		}
		b.qh++
		if b.qh == len(b.q) {
			b.q, b.qh = b.q[:0], 0
		}
		l.partDone(rq)
	}
	return off, nil
}

// failBackend ends every request in flight on b with an error; b takes no
// more requests.
func (l *loop) failBackend(b *backend) {
	b.dead = true
	q := b.q[b.qh:]
	b.q, b.qh = nil, 0
	b.out = nil
	for _, rq := range q {
		if rq.get {
			if rq.errLine == nil {
				rq.errLine = replyBackend
			}
		} else {
			l.emit(rq, replyBackend)
		}
		l.partDone(rq)
	}
}

// partDone counts one part of rq answered.
func (l *loop) partDone(rq *req) {
	if rq.left--; rq.left > 0 {
		return
	}
	if rq.get {
		if rq.errLine != nil {
			l.emit(rq, rq.errLine)
		} else {
			l.emit(rq, replyEnd)
		}
	}
	if rq.direct {
		l.advance(rq.c)
	}
}

// emit adds reply bytes to rq's answer.
func (l *loop) emit(rq *req, data []byte) {
	c := rq.c
	if c.closed {
		return
	}
	if !rq.direct {
		rq.buf = append(rq.buf, data...)
		return
	}
	c.out = append(c.out, data...) // sent once rq is complete: see partDone
}

// advance retires c's answered requests from the head (c is to be
// written), and lets the next one write straight to the client's output.
func (l *loop) advance(c *client) {
	if c.closed {
		return
	}
	for c.qh < len(c.q) {
		rq := c.q[c.qh]
		if !rq.direct {
			rq.direct = true
			c.out = append(c.out, rq.buf...)
		}
		if rq.left > 0 {
			return
		}
		l.markClient(c)
		c.q[c.qh] = nil
		c.qh++
		l.recycle(rq)
	}
	c.q, c.qh = c.q[:0], 0
}

func (l *loop) recycle(rq *req) {
	buf := rq.buf[:0]
	if cap(buf) > 64<<10 {
		buf = nil
	}
	*rq = req{buf: buf, next: l.free}
	l.free = rq
}

func (l *loop) markClient(c *client) {
	if !c.dirty {
		c.dirty = true
		l.dirtyC = append(l.dirtyC, c)
	}
}

// closeClient forgets c; replies still due to it are dropped.
func (l *loop) closeClient(c *client) {
	c.closed = true
	c.q, c.out, c.in = nil, nil, nil
}
