//go:build linux

// A client on an event loop: its requests parsed from the loop's buffers,
// the ones the loop does itself dispatched to the loop's own backend
// connections, and its replies written in the order the requests came.
package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/proxy/placement"
)

const (
	// loopMaxOut is how much unwritten output stops a client's reading
	// until the socket takes it.
	loopMaxOut = 1 << 20
	// loopMaxKeys bounds the keys of a get the loop answers itself. A
	// one-node reply streams once large; a merged one is held whole (as
	// twemproxy holds a fragmented get), so this bounds what one merge
	// may hold (loopMaxKeys × the nodes' item size). A longer get goes
	// to the goroutine path, which streams merges too.
	loopMaxKeys = 128
)

// lclient is one client connection on a loop.
type lclient struct {
	el     *eloop
	fd     int
	fixed  *router // a pool listener's router; nil follows Reload
	lane   uint32
	remote string

	in     []byte // read and not yet parsed
	out    []byte // replies, written up to outOff
	outOff int
	queued bool      // a send of out is queued on the loop's ring (loopring.go)
	calls  []*lcall  // requests in flight, in the order they came
	active time.Time // when it last sent something, was answered or had its output all written

	events    uint32 // registered with epoll
	blocked   bool   // output waits for EPOLLOUT
	blockedAt time.Time
	dirty     bool
	paused    bool   // reading stopped: too much in flight or unwritten
	handoff   bool   // to the goroutine path once its replies are written
	closing   bool   // closes once its replies are written (EOF, drain)
	gone      bool   // closed or handed off
	started   bool   // a request was read: the protocol is text
	holding   *lback // a backend connection waiting for this client to take its output (stream)
	herd      loopHerd
	// mergedKeys counts the keys of c's fanned-out gets in flight: their
	// replies are held whole until every node answered, so together
	// they may ask for at most loopMaxKeys keys (the rest wait), which
	// bounds what one client has held to loopMaxKeys items.
	mergedKeys int
}

// lcall is one request of a loop client: a reply known at once (static)
// or ops on backends to wait for.
type lcall struct {
	c       *lclient
	cmd     protocol.Command
	start   time.Time
	static  []byte
	quiet   bool // static is nil and means no reply
	noreply bool
	ops     []*lop
	pending int      // ops not finished
	keyOp   []int    // fanned-out get: which op holds each key
	keys    [][]byte // fanned-out get: the keys in request order
	keyBuf  []byte
	nkeys   int
	orphan  bool // its client is gone: recycle once its ops finish
	herd    bool // its reply comes from a herd goroutine (loopherd.go)
	timed   bool // counted and timed already (by the goroutine path's code)
}

// adopt takes a plain client connection onto the loop; it is counted in
// the server's connections and wait group already.
func (el *eloop) adopt(nc net.Conn, route *router, lane uint32) {
	remote := nc.RemoteAddr().String()
	fd, err := detach(nc)
	if err != nil {
		el.s.log.Error("event loop: cannot take a client connection; closing it", "remote", remote, "err", err)
		nc.Close()
		el.s.m.currConns.Add(-1)
		el.s.wg.Done()
		return
	}
	c := &lclient{el: el, fd: fd, fixed: route, lane: lane, remote: remote}
	if !el.post(func() { el.register(c) }) {
		unix.Close(fd)
		el.s.m.currConns.Add(-1)
		el.s.wg.Done()
	}
}

func (el *eloop) register(c *lclient) {
	c.active = el.now
	if el.draining {
		el.release(c)
		return
	}
	if err := el.ctl(unix.EPOLL_CTL_ADD, c.fd, unix.EPOLLIN); err != nil {
		el.s.log.Error("event loop: cannot watch a client connection; closing it", "remote", c.remote, "err", err)
		el.release(c)
		return
	}
	c.events = unix.EPOLLIN
	el.fds[c.fd] = &lconn{c: c}
	el.clients[c] = struct{}{}
}

// release closes a client's descriptor and ends its count.
func (el *eloop) release(c *lclient) {
	c.gone = true
	el.unqueue(c.fd)
	unix.Close(c.fd)
	el.s.m.currConns.Add(-1)
	el.s.wg.Done()
}

// closeClient closes c at once; replies still due are dropped.
func (el *eloop) closeClient(c *lclient) {
	if c.gone {
		return
	}
	el.forget(c)
	c.gone = true
	for _, cl := range c.calls {
		if cl.pending == 0 {
			el.putCall(cl)
		} else {
			cl.orphan = true
		}
	}
	c.calls = nil
	el.release(c)
	if b := c.holding; b != nil {
		b.release() // the rest of the reply is read and dropped
	}
}

// forget unregisters c from the loop.
func (el *eloop) forget(c *lclient) {
	unix.EpollCtl(el.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	delete(el.fds, c.fd)
	delete(el.clients, c)
}

// want sets the events c is watched for.
func (el *eloop) want(c *lclient, events uint32) {
	if c.events == events || c.gone {
		return
	}
	c.events = events
	el.ctl(unix.EPOLL_CTL_MOD, c.fd, events)
}

// readClient reads c once and answers what it can.
func (el *eloop) readClient(c *lclient) {
	if c.paused || c.handoff || c.closing {
		return // an event of this turn, from before it stopped reading
	}
	n, err := rawRead(c.fd, el.rbuf)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	if n <= 0 {
		if err != nil { // reset: nobody is left to answer
			el.closeClient(c)
			return
		}
		c.closing = true // EOF: answer what came, then close
		el.settle(c)
		return
	}
	c.active = el.now
	data := el.rbuf[:n]
	kept := len(c.in) > 0
	if kept {
		c.in = append(c.in, data...)
		data = c.in
	}
	used := el.parse(c, data)
	rest := data[used:]
	switch {
	case kept:
		c.in = c.in[:copy(c.in, rest)]
	case len(rest) > 0:
		c.in = append(c.in[:0], rest...)
	}
	if len(c.in) == 0 && cap(c.in) > loopReadSize {
		c.in = nil
	}
	el.settle(c)
}

// parse answers the whole requests at the start of data and returns how
// many bytes it used. It stops at a request the loop does not do itself
// (the client is then handed off with the rest) and when the client has
// too much in flight.
func (el *eloop) parse(c *lclient, data []byte) int {
	used := 0
	for used < len(data) && !c.handoff && !c.closing {
		if len(c.calls) >= pipelineDepth || c.unwritten() > loopMaxOut {
			c.paused = true
			break
		}
		n, ok := protocol.FrameRequest(data[used:], el.s.limits)
		if !ok {
			c.handoff = true
			break
		}
		if n == 0 {
			break
		}
		el.src.Reset(data[used : used+n])
		if err := el.rd.Read(&el.req); err != nil || el.src.Len() > 0 || el.rd.Buffered() > 0 {
			el.rd = protocol.NewReader(&el.src, el.s.limits) // nothing of this client's may stay in it
			c.handoff = true
			break
		}
		if st := el.dispatch(c, &el.req); st != started {
			if st == deferred {
				c.paused = true
			} else {
				c.handoff = true
			}
			break
		}
		used += n
		c.started = true
		el.reqs++
	}
	return used
}

// settle moves c on after its calls or output changed: replies in order
// to its output, reading paused or resumed, and a hand-off or close once
// nothing is due.
func (el *eloop) settle(c *lclient) {
	if c.gone {
		return
	}
	el.advance(c)
	if len(c.calls) > 0 || c.unwritten() > 0 {
		if c.paused && len(c.calls) < pipelineDepth/2 && c.unwritten() <= loopMaxOut/2 {
			c.paused = false
			if len(c.in) > 0 { // whole requests may be waiting already
				used := el.parse(c, c.in)
				c.in = c.in[:copy(c.in, c.in[used:])]
				el.advance(c)
			}
		}
		el.watch(c)
		return
	}
	switch {
	case c.closing:
		el.forget(c)
		el.release(c)
	case c.handoff:
		el.handOff(c)
	default:
		if c.paused {
			c.paused = false
			if len(c.in) > 0 {
				used := el.parse(c, c.in)
				c.in = c.in[:copy(c.in, c.in[used:])]
				el.settle(c)
				return
			}
		}
		el.watch(c)
	}
}

// watch registers the events c needs now: reading unless it is paused,
// handing off or closing; writing while its output is blocked.
func (el *eloop) watch(c *lclient) {
	var ev uint32
	if !c.paused && !c.handoff && !c.closing {
		ev |= unix.EPOLLIN
	}
	if c.blocked {
		ev |= unix.EPOLLOUT
	}
	el.want(c, ev)
}

// advance writes the replies of the calls at the head that are finished.
func (el *eloop) advance(c *lclient) {
	i := 0
	for ; i < len(c.calls) && c.calls[i].pending == 0; i++ {
		cl := c.calls[i]
		if len(cl.ops) == 1 && cl.ops[0].streamed && cl.ops[0].err != nil {
			// Part of the reply reached the client and the rest never
			// will: no END can be true, so the connection closes.
			el.s.m.failedKeys.Add(uint64(cl.nkeys))
			el.closeClient(c)
			return
		}
		el.writeCall(c, cl)
		if len(cl.keys) > 0 {
			c.mergedKeys -= len(cl.keys)
		}
		el.putCall(cl)
	}
	if i == 0 {
		return
	}
	c.calls = c.calls[:copy(c.calls, c.calls[i:])]
	c.active = el.now
	c.markDirty()
}

// markDirty has c's output written at the end of the turn.
func (c *lclient) markDirty() {
	if c.unwritten() > 0 && !c.dirty && !c.blocked && !c.gone {
		c.dirty = true
		c.el.dirtyC = append(c.el.dirtyC, c)
	}
}

// unwritten is how much of c's output is not written yet.
func (c *lclient) unwritten() int { return len(c.out) - c.outOff }

// writeClient writes c's output, at most loopWriteMax of it; the rest
// waits for EPOLLOUT (at once when the socket took all it was given, so
// other clients get their turns between one's parts).
func (el *eloop) writeClient(c *lclient) {
	if b := c.holding; b != nil && b.piped > 0 { // a spliced block first
		if !b.spliceOut(c) || b.piped > 0 {
			return
		}
		b.release() // the pipe is empty: read on
		if c.gone {
			return
		}
		if c.unwritten() == 0 {
			c.blocked = false
			el.settle(c)
			return
		}
	}
	if c.unwritten() == 0 {
		if c.blocked {
			c.blocked = false
			el.settle(c)
		}
		return
	}
	p := c.out[c.outOff:]
	if len(p) > loopWriteMax {
		p = p[:loopWriteMax]
	}
	if len(p) == c.unwritten() && el.sendLater(c.fd, p, c, nil) { // a part would leave the rest unwatched while the loop sleeps
		return
	}
	n, err := rawWrite(c.fd, p)
	el.wroteClient(c, n, err)
}

// wroteClient takes in what a write of c's output did: n bytes written,
// or err.
func (el *eloop) wroteClient(c *lclient, n int, err error) {
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		el.closeClient(c)
		return
	}
	c.outOff += max(n, 0)
	if c.outOff == len(c.out) {
		c.outOff = 0
		wasBlocked := c.blocked // before release: EPOLLOUT is watched until settle
		if b := c.holding; b != nil {
			c.out = c.out[:0]
			c.blocked = false
			b.release()
			if c.gone {
				return
			}
			if c.unwritten() > 0 { // more of the stream: written at the end of the turn
				if wasBlocked {
					el.watch(c)
				}
				return
			}
		}
		if cap(c.out) > loopMaxOut && len(c.calls) == 0 { // kept while a reply may still stream into it
			c.out = nil
		} else {
			c.out = c.out[:0]
		}
		c.blocked = false
		c.active = el.now // idleness counts from the last reply written, as idleReader's
		if wasBlocked || c.paused || c.handoff || c.closing {
			el.settle(c)
		}
		return
	}
	if c.outOff > c.unwritten() { // more written than left: move the rest down, each byte once at most
		c.out = c.out[:copy(c.out, c.out[c.outOff:])]
		c.outOff = 0
	}
	if !c.blocked || n > 0 { // a stall is counted from the last progress
		c.blockedAt = el.now
	}
	if !c.blocked {
		c.blocked = true
		el.someBlocked = true
	}
	if b := c.holding; b != nil && b.piped == 0 && c.unwritten() <= loopMaxOut/2 {
		b.release() // read on while the rest is written, not after
		if c.gone {
			return
		}
	}
	el.watch(c)
}

// handOff moves c to the goroutine path with its unparsed input; its
// earlier replies are all written. During a drain it closes instead.
func (el *eloop) handOff(c *lclient) {
	el.forget(c)
	c.gone = true
	s := el.s
	if el.draining || s.draining.Load() { // a drain set its clients' read deadlines already
		el.release(c)
		return
	}
	el.unqueue(c.fd) // its earlier replies are written: nothing is, but no send may follow
	f := os.NewFile(uintptr(c.fd), "client")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		s.log.Error("event loop: cannot hand a client to the goroutine path; closing it", "remote", c.remote, "err", err)
		s.m.currConns.Add(-1)
		s.wg.Done()
		return
	}
	gc := s.newClient(nc, c.fixed)
	gc.lane, gc.textOnly = c.lane, c.started
	if sh := c.herd.shell; sh != nil {
		gc.leases = sh.leases // a refill set after the hand-off finds its read's lease
	}
	if len(c.in) > 0 {
		gc.rd = protocol.NewReader(io.MultiReader(bytes.NewReader(c.in), idleReader{gc}), s.limits)
	}
	s.m.handoffs.Add(1)
	go s.serveClient(gc)
}

// dispatch starts req if the loop does it itself or (herd commands) on a
// goroutine of its own; it changes nothing when it does not.
func (el *eloop) dispatch(c *lclient, req *protocol.Request) step {
	if req.Tail != nil {
		return refused
	}
	st := el.s.live.Load()
	route := st.route
	if c.fixed != nil {
		route = c.fixed
	}
	switch req.Cmd {
	case protocol.CmdGet, protocol.CmdGets, protocol.CmdGat, protocol.CmdGats:
		switch {
		case herdReads(st.herd, req):
			return el.herdRead(c, st.herd, route, req)
		case c.herd.command:
			return deferred
		case len(req.Keys) > loopMaxKeys:
			return refused
		}
		return el.retrieve(c, route, req)
	case protocol.CmdMetaNoop:
		el.static(c, req, replyMN)
	case protocol.CmdVersion:
		el.static(c, req, el.s.versionReply)
	case protocol.CmdVerbosity:
		if req.Noreply {
			el.static(c, req, nil)
		} else {
			el.static(c, req, replyOK)
		}
	case protocol.CmdSet, protocol.CmdAdd, protocol.CmdReplace, protocol.CmdAppend, protocol.CmdPrepend,
		protocol.CmdCas, protocol.CmdDelete, protocol.CmdIncr, protocol.CmdDecr, protocol.CmdTouch,
		protocol.CmdMetaGet, protocol.CmdMetaSet, protocol.CmdMetaDelete, protocol.CmdMetaArithmetic:
		switch {
		case len(req.Keys) != 1:
			return refused
		case c.herd.command || c.herd.reads > 0:
			return deferred
		case el.herdWrites(st, req):
			return el.herdCommand(c, req)
		}
		return el.single(c, route, req)
	default:
		return refused
	}
	return started
}

// herdReads reports whether herd answers the get req (see herdDispatch).
func herdReads(g *herd.Group, req *protocol.Request) bool {
	if g == nil || (req.Cmd == protocol.CmdGat || req.Cmd == protocol.CmdGats) && !g.Meta() {
		return false
	}
	for _, k := range req.Keys {
		if g.Rule(k) != nil {
			return true
		}
	}
	return false
}

// herdWrites reports whether herd handles the one-key command req.
func (el *eloop) herdWrites(st *state, req *protocol.Request) bool {
	if st.herd == nil || !st.herd.Meta() {
		return false
	}
	return st.herd.Rule(placement.Key(req, req.Key(), &el.b64)) != nil
}

func (el *eloop) newCall(c *lclient, cmd protocol.Command) *lcall {
	el.s.m.commands[cmd].Add(1)
	cl := el.getCall()
	cl.c, cl.cmd, cl.start = c, cmd, el.now
	c.calls = append(c.calls, cl)
	return cl
}

func (el *eloop) static(c *lclient, req *protocol.Request, reply []byte) {
	cl := el.newCall(c, req.Cmd)
	cl.static, cl.quiet = reply, reply == nil
}

// secure reports whether a node of pool p (or of its gutter) is reached
// over TLS or with a login, which the loop does not do.
func secure(p *pool) bool {
	m := p.members()
	return m.sec.on() || m.gutter != nil && m.gutter.members().sec.on()
}

// single sends a one-key command to the node serving its key.
func (el *eloop) single(c *lclient, route *router, req *protocol.Request) step {
	key := placement.Key(req, req.Key(), &el.b64)
	p := route.Pool(key)
	if secure(p) {
		return refused
	}
	write := isWrite(req.Cmd)
	cl := el.newCall(c, req.Cmd)
	cl.noreply = req.Noreply && !req.Cmd.IsMeta() // quiet meta replies are framed by the backend
	n, gutter, err := p.pickCached(key, write, el.sums)
	if err != nil {
		cl.static = el.s.unservable(req, err)
		cl.quiet = cl.static == nil
		return started
	}
	if gutter {
		placement.CapTTL(req, n.pool.gutterTTL(p))
	}
	var writeKey []byte
	if write {
		writeKey = key
	}
	o := el.backend(n).start(cl, protocol.ReplyKindOf(req), writeKey)
	if o.err == nil {
		b := el.backend(n)
		b.out = protocol.AppendRequest(b.out, req)
	}
	return started
}

// retrieve splits a get over the nodes owning its keys.
func (el *eloop) retrieve(c *lclient, route *router, req *protocol.Request) step {
	for _, k := range req.Keys {
		if secure(route.Pool(k)) {
			return refused
		}
	}
	var exptime []byte
	if len(req.Args) > 0 {
		exptime = req.Args[0]
	}
	el.nodes, el.groups = groupKeys(route, req.Keys, el.nodes, el.groups, el.sums)
	merged := len(el.groups) > 1 || len(el.groups) == 1 && indexOf(el.nodes, nil) >= 0
	if merged && c.mergedKeys > 0 && c.mergedKeys+len(req.Keys) > loopMaxKeys {
		return deferred // a merged reply is held whole: a client's are bounded together
	}
	cl := el.newCall(c, req.Cmd)
	cl.nkeys = len(req.Keys)
	if len(el.groups) == 0 {
		el.s.m.misses.Add(uint64(len(req.Keys)))
		el.s.m.failedKeys.Add(uint64(len(req.Keys)))
		cl.static = replyEnd
		return started
	}
	if len(el.groups) == 1 && indexOf(el.nodes, nil) < 0 {
		b := el.backend(el.groups[0])
		o := b.start(cl, protocol.ReplyValues, nil)
		if o.err == nil {
			start := len(b.out)
			b.out = protocol.AppendRetrieval(b.out, req.Cmd, exptime, req.Keys)
			o.keys = append(o.keys, protocol.RetrievalKeys(b.out[start:])...)
		}
		return started
	}
	c.mergedKeys += len(req.Keys)
	for i, k := range req.Keys {
		cl.keyOp = append(cl.keyOp, indexOf(el.groups, el.nodes[i]))
		cl.keyBuf = append(cl.keyBuf, k...)
	}
	off := 0
	for _, k := range req.Keys {
		cl.keys = append(cl.keys, cl.keyBuf[off:off+len(k)])
		off += len(k)
	}
	for g, n := range el.groups {
		b := el.backend(n)
		o := b.start(cl, protocol.ReplyValues, nil)
		if o.err == nil {
			start := len(b.out)
			b.out = appendGroup(b.out, req.Cmd, exptime, cl.keys, cl.keyOp, g)
			o.keys = append(o.keys, protocol.RetrievalKeys(b.out[start:])...)
		}
	}
	return started
}

// writeCall appends one finished call's reply to c's output.
func (el *eloop) writeCall(c *lclient, cl *lcall) {
	m := el.s.m
	switch {
	case cl.static != nil || cl.quiet:
		c.out = append(c.out, cl.static...)
	case cl.cmd.IsRetrieval() && len(cl.ops) == 1:
		o := cl.ops[0]
		if o.err != nil || isErrorReply(o.raw) {
			m.failedKeys.Add(uint64(cl.nkeys))
			m.misses.Add(uint64(cl.nkeys))
			c.out = append(c.out, replyEnd...)
			break
		}
		m.hits.Add(uint64(o.values))
		m.misses.Add(uint64(cl.nkeys - o.values))
		c.out = append(c.out, o.raw...)
	case cl.cmd.IsRetrieval():
		el.writeMerged(c, cl)
	default:
		o := cl.ops[0]
		switch {
		case o.err != nil && cl.noreply:
		case o.err != nil:
			m.serverErrors.Add(1)
			c.out = append(c.out, serverErrorPfx...)
			c.out = append(c.out, errText(o.err)...)
			c.out = append(c.out, "\r\n"...)
		case !cl.noreply:
			c.out = append(c.out, o.raw...)
		}
	}
	if !cl.timed {
		m.observe(cl.cmd, cl.start)
	}
}

// writeMerged appends a fanned-out get's reply in the order its keys were
// asked; a failed node's keys are misses.
func (el *eloop) writeMerged(c *lclient, cl *lcall) {
	m := el.s.m
	var cursor [loopMaxKeys]int
	var hits uint64
	for i, k := range cl.keys {
		g := cl.keyOp[i]
		if g < 0 {
			m.failedKeys.Add(1)
			continue
		}
		o := cl.ops[g]
		if o.err != nil || isErrorReply(o.raw) {
			m.failedKeys.Add(1)
			continue
		}
		if j := cursor[g]; j < len(o.items) {
			it := o.items[j]
			if bytes.Equal(o.raw[it.KeyStart:it.KeyEnd], k) {
				c.out = append(c.out, o.raw[it.Start:it.End]...)
				cursor[g]++
				hits++
			}
		}
	}
	m.hits.Add(hits)
	m.misses.Add(uint64(len(cl.keys)) - hits)
	c.out = append(c.out, replyEnd...)
}

func (el *eloop) getCall() *lcall {
	if n := len(el.freeCalls); n > 0 {
		cl := el.freeCalls[n-1]
		el.freeCalls = el.freeCalls[:n-1]
		return cl
	}
	return new(lcall)
}

func (el *eloop) putCall(cl *lcall) {
	for i, o := range cl.ops {
		el.putOp(o)
		cl.ops[i] = nil
	}
	*cl = lcall{ops: cl.ops[:0], keyOp: cl.keyOp[:0], keys: cl.keys[:0], keyBuf: cl.keyBuf[:0]}
	if len(el.freeCalls) < 1024 {
		el.freeCalls = append(el.freeCalls, cl)
	}
}

// isErrorReply reports whether a reply is ERROR, CLIENT_ERROR or SERVER_ERROR.
func isErrorReply(b []byte) bool {
	return bytes.HasPrefix(b, []byte("ERROR")) || bytes.HasPrefix(b, []byte("CLIENT_ERROR")) ||
		bytes.HasPrefix(b, []byte("SERVER_ERROR"))
}
