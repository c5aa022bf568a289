// Client connections: one goroutine reads and dispatches a client's
// commands, a second writes the replies back in the order the commands
// arrived, waiting on each in turn; pipelined commands overlap. A large get
// reply is written as it arrives, each part within backend.ClientStall; a reply
// cut short by a backend (or by the client's own stall) closes the
// connection, since shepherd never invents an END.
package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/proxy/backend"
	"github.com/shepherd-proxy/shepherd/proxy/placement"
	"github.com/shepherd-proxy/shepherd/ring"
)

// ErrClientAborted ends a client connection that got part of a reply that
// cannot be completed: the backend failed mid-reply, or the client stalled.
var ErrClientAborted = errors.New("proxy: client connection closed mid-reply")

// pipelineDepth bounds how many of one client's commands may be in flight.
const pipelineDepth = 128

var (
	replyEnd       = []byte("END\r\n")
	replyOK        = []byte("OK\r\n")
	replyMN        = []byte("MN\r\n")
	replyError     = []byte("ERROR\r\n")
	replyLineLong  = []byte("CLIENT_ERROR line too long\r\n")
	replyTooMany   = []byte("SERVER_ERROR too many open connections\r\n")
	replyShutdown  = []byte("SERVER_ERROR shutting down\r\n")
	serverErrorPfx = []byte("SERVER_ERROR ")
)

// call is one client command on its way: either a reply known at once
// (static) or backend ops to wait for.
type call struct {
	cmd     protocol.Command
	start   time.Time // when the command was read, for its latency
	static  []byte
	ops     []*backend.Op
	keyOp   []int    // multi-node retrieval: which op holds each key
	keys    [][]byte // multi-node retrieval: the keys in request order
	keyBuf  []byte
	nkeys   int
	filled  []byte      // a protected key whose STORED wakes held readers
	later   chan []byte // a protected read's reply, sent when herd has it
	noreply bool
	quit    bool
}

var callPool = sync.Pool{New: func() any { return new(call) }}

func getCall(cmd protocol.Command) *call {
	c := callPool.Get().(*call)
	c.cmd, c.start = cmd, time.Now()
	return c
}

func putCall(c *call) {
	for i, o := range c.ops {
		backend.PutOp(o)
		c.ops[i] = nil
	}
	*c = call{ops: c.ops[:0], keyOp: c.keyOp[:0], keys: c.keys[:0], keyBuf: c.keyBuf[:0], filled: c.filled[:0]}
	callPool.Put(c)
}

// client is one client connection.
type client struct {
	s      *Server
	nc     net.Conn
	rd     *protocol.Reader
	bw     *bufio.Writer
	fixed  *router // a pool listener's router; nil follows Reload
	route  *router // the router of the command being dispatched
	lane   uint32  // picks this client's connection to each node
	calls  chan *call
	queued atomic.Int64 // calls handed to the writer and not yet written
	// replied is when a reply was last flushed (unix ns), kept only with
	// client_idle_timeout: idleness counts from the last reply, not from
	// the read that was waiting meanwhile (idle.go).
	replied atomic.Int64
	werr    error
	nodes   []*node // scratch: the node of each key of a retrieval
	groups  []*node // scratch: distinct nodes of a retrieval
	b64     []byte  // scratch: a decoded base64 key

	// caughtUp, when set (only by tests: nil in production), runs on the
	// writer each time it has caught up with the reader, after writing a
	// reply and before flushing it: a seam to hold the writer there.
	caughtUp func()

	// textOnly: the client's first request was read already (by an
	// event loop, which handed the connection over): later bytes are
	// never a binary-protocol opening.
	textOnly bool

	leaseMu sync.Mutex // guards leases (protected reads fill it from their goroutines)
	leases  map[string]herd.Lease
	reads   sync.WaitGroup // protected reads in flight; Add and Wait only on the reader
}

func (s *Server) newClient(nc net.Conn, route *router) *client {
	c := &client{
		lane:  uint32(s.m.totalConns.Load()),
		s:     s,
		nc:    nc,
		bw:    bufio.NewWriterSize(nc, 16<<10),
		fixed: route,
		calls: make(chan *call, pipelineDepth),
	}
	c.rd = protocol.NewReader(idleReader{c}, s.limits) // idle.go
	return c
}

// serve runs the connection until the client quits or the server drains.
func (c *client) serve() {
	done := make(chan struct{})
	go c.writeLoop(done)
	c.readLoop()
	close(c.calls)
	<-done
	c.hangUp()
}

// Lingering bounds what hangUp reads and drops after the last reply.
const (
	lingerTime  = time.Second
	lingerBytes = 1 << 20
)

// hangUp closes the connection once every reply is written. When shepherd
// ends it first (quit, a line too long) the client may still be sending,
// and closing a socket with unread input makes the kernel answer with a
// reset that drops the replies still queued to the client. So the write
// side is shut first (the client reads every reply, then EOF), and what
// the client still sends is read and dropped until it hangs up, for at
// most lingerTime and lingerBytes.
func (c *client) hangUp() {
	defer c.nc.Close()
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || c.werr != nil || cw.CloseWrite() != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(c.nc, lingerBytes))
}

// readLoop parses commands and dispatches them. A panic here ends only
// this connection.
func (c *client) readLoop() {
	defer c.recover("read")
	if c.refuseBinary() {
		return
	}
	var req protocol.Request
	for {
		err := c.rd.Read(&req)
		if err != nil {
			cl, fatal := c.errorCall(err)
			if cl != nil {
				c.queue(cl)
			}
			if fatal {
				return
			}
			continue
		}
		cl := c.dispatch(&req)
		if cl.quit {
			c.queue(cl)
			return
		}
		if c.queued.Load() == 0 && c.rd.Buffered() == 0 {
			// Nothing ahead of this reply and nothing more to read yet:
			// answer here, sparing the writer goroutine a wake-up. The
			// writer is idle and has flushed everything before.
			c.writeCall(cl)
			putCall(cl)
			c.flush()
			continue
		}
		c.queue(cl)
	}
}

// refuseBinary answers a connection that opens with a binary-protocol
// request with one binary error response, logs it once and reports true:
// the connection then closes. memcached decides the protocol by the first
// byte too.
func (c *client) refuseBinary() bool {
	if c.textOnly {
		return false
	}
	binary, err := c.rd.IsBinary() // waits as Read would for a first command
	if err != nil || !binary {
		return false
	}
	c.nc.SetReadDeadline(time.Now().Add(binaryHeaderWait))
	h := c.rd.BinaryHeader()
	c.s.m.binaryRefused.Add(1)
	c.s.log.Warn("binary protocol client refused; shepherd speaks the text protocol",
		"remote", c.nc.RemoteAddr().String(), "opcode", h[1])
	cl := getCall(protocol.CmdUnknown)
	cl.static = protocol.AppendBinaryError(nil, h)
	c.queue(cl)
	return true
}

// binaryHeaderWait bounds the wait for the rest of a binary request's
// header once its first byte came.
const binaryHeaderWait = 2 * time.Second

// queue hands cl to the writer, which owns it from then on.
func (c *client) queue(cl *call) {
	c.queued.Add(1)
	c.calls <- cl
}

func (c *client) recover(where string) {
	if r := recover(); r != nil {
		c.s.m.panics.Add(1)
		c.s.log.Error("client connection panicked; closing it", "where", where,
			"remote", c.nc.RemoteAddr().String(), "panic", r, "stack", string(debug.Stack()))
		c.nc.Close()
	}
}

// errorCall turns a parse error into the reply the client gets, and says
// whether the connection must close.
func (c *client) errorCall(err error) (*call, bool) {
	var ce *protocol.ClientError
	switch {
	case errors.As(err, &ce):
		c.s.m.clientErrors.Add(1)
		if ce.Unlink != nil {
			c.queue(c.unlink(ce.Unlink, ce.Unlink64))
		}
		cl := getCall(protocol.CmdUnknown)
		cl.static = ce.Reply()
		return cl, false
	case errors.Is(err, protocol.ErrUnknownCommand):
		c.s.m.clientErrors.Add(1)
		cl := getCall(protocol.CmdUnknown)
		cl.static = replyError
		return cl, false
	case errors.Is(err, protocol.ErrLineTooLong):
		c.s.m.clientErrors.Add(1)
		cl := getCall(protocol.CmdUnknown)
		cl.static = replyLineLong
		return cl, true
	}
	return nil, true // I/O: the client is gone or the server is draining
}

// unlink deletes key without a word to the client, as memcached deletes a
// key whose new value it refused as too large.
func (c *client) unlink(key []byte, b64 bool) *call {
	req := protocol.Request{Cmd: protocol.CmdDelete, Keys: [][]byte{key}}
	if b64 {
		req = protocol.Request{Cmd: protocol.CmdMetaDelete, Keys: [][]byte{key}, Args: [][]byte{[]byte("b")}, Base64: true}
	}
	st := c.s.live.Load()
	c.route = st.route
	if c.fixed != nil {
		c.route = c.fixed
	}
	cl := getCall(req.Cmd)
	c.single(cl, &req)
	cl.noreply = true
	if cl.static != nil {
		cl.static = nil // no node for the key: nothing to delete
	}
	return cl
}

// dispatch starts a command and returns the call its reply will come from.
// The command sees one version of the config: the routes and herd group in
// force as it starts.
func (c *client) dispatch(req *protocol.Request) *call {
	c.s.m.commands[req.Cmd].Add(1)
	cl := getCall(req.Cmd)
	st := c.s.live.Load()
	c.route = st.route
	if c.fixed != nil {
		c.route = c.fixed
	}
	if st.herd != nil && req.Tail == nil && c.herdDispatch(cl, req, herdCmd{c: c, g: st.herd, b: herdBackend{route: c.route, lane: c.lane}}) {
		return cl
	}
	switch req.Cmd {
	case protocol.CmdGet, protocol.CmdGets, protocol.CmdGat, protocol.CmdGats:
		c.retrieve(cl, req)
	case protocol.CmdMetaNoop:
		cl.static = replyMN
	case protocol.CmdFlushAll:
		c.flushAll(cl, req)
	case protocol.CmdVersion:
		cl.static = c.s.versionReply
	case protocol.CmdVerbosity:
		if !req.Noreply {
			cl.static = replyOK
		}
	case protocol.CmdStats:
		cl.static = c.s.statsReply(req.Args)
	case protocol.CmdQuit:
		cl.quit = true
	default:
		c.single(cl, req)
	}
	return cl
}

// herdDispatch runs commands on protected keys through herd. It reports
// whether it handled req. A protected read runs in the background and
// its reply takes its turn in the writer like any other; every other
// command first waits for the reads in flight, so that it cannot
// overtake them (a refill set needs its read's lease).
func (c *client) herdDispatch(cl *call, req *protocol.Request, h herdCmd) bool {
	switch req.Cmd {
	case protocol.CmdGet, protocol.CmdGets:
		if h.anyProtected(req.Keys) {
			c.readLater(cl, req, h.get)
			return true
		}
		return false
	case protocol.CmdGat, protocol.CmdGats:
		if h.g.Meta() && h.anyProtected(req.Keys) {
			c.readLater(cl, req, h.gat)
			return true
		}
		return false
	}
	c.reads.Wait()
	if !h.g.Meta() || len(req.Keys) != 1 {
		return false // without meta there are no placeholders or stale values
	}
	key := placement.Key(req, req.Key(), &c.b64)
	rule := h.rule(key)
	if rule == nil {
		return false
	}
	if req.Cmd == protocol.CmdSet || req.Cmd == protocol.CmdAdd {
		if reply, ok := h.store(req); ok {
			cl.static = reply
			return true
		}
		cl.filled = append(cl.filled[:0], key...) // wake holders once STORED
		if req.Cmd == protocol.CmdSet {
			return false
		}
	}
	reply, ok := h.exact(req, key, rule)
	if ok {
		cl.static = reply
		cl.noreply = req.Noreply
	}
	return ok
}

// single sends a one-key command to the node serving its key.
func (c *client) single(cl *call, req *protocol.Request) {
	key := placement.Key(req, req.Key(), &c.b64)
	write := isWrite(req.Cmd)
	cl.noreply = req.Noreply && !req.Cmd.IsMeta() // quiet meta replies are framed by the backend
	n, gutter, err := c.route.Pool(key).pick(key, write)
	if err != nil {
		cl.static = c.s.unservable(req, err)
		return
	}
	if gutter {
		placement.CapTTL(req, n.pool.gutterTTL(c.route.Pool(key)))
	}
	o := backend.GetOp(n.io, protocol.ReplyKindOf(req))
	o.Wire = protocol.AppendRequest(o.Wire, req)
	if write {
		o.WriteKey = append(o.WriteKey, key...)
	}
	cl.ops = append(cl.ops, o)
	n.io.Send(o, c.lane)
}

// unservable is the reply to a command whose key has no node to go to:
// a miss for a read, SERVER_ERROR for a write (nothing under noreply).
func (s *Server) unservable(req *protocol.Request, err error) []byte {
	switch {
	case req.Cmd == protocol.CmdMetaGet && req.Noreply:
		return nil
	case req.Cmd == protocol.CmdMetaGet:
		return []byte("EN\r\n")
	case req.Noreply && !req.Cmd.IsMeta():
		return nil
	}
	s.m.serverErrors.Add(1)
	return []byte("SERVER_ERROR " + errText(err) + "\r\n")
}

// isWrite reports whether cmd changes its key.
func isWrite(cmd protocol.Command) bool {
	switch cmd {
	case protocol.CmdDelete, protocol.CmdIncr, protocol.CmdDecr, protocol.CmdTouch,
		protocol.CmdMetaSet, protocol.CmdMetaDelete, protocol.CmdMetaArithmetic:
		return true
	}
	return cmd.IsStorage()
}

// retrieve splits a get over the nodes owning its keys; most gets touch
// one node and need no merge.
func (c *client) retrieve(cl *call, req *protocol.Request) {
	var exptime []byte
	if len(req.Args) > 0 {
		exptime = req.Args[0]
	}
	cl.nkeys = len(req.Keys)
	c.nodes, c.groups = groupKeys(c.route, req.Keys, c.nodes, c.groups, nil)
	if len(c.groups) == 0 {
		c.s.m.misses.Add(uint64(len(req.Keys)))
		c.s.m.failedKeys.Add(uint64(len(req.Keys)))
		cl.static = replyEnd
		return
	}
	if len(c.groups) == 1 && c.nodes[0] != nil && indexOf(c.nodes, nil) < 0 {
		o := backend.GetOp(c.groups[0].io, protocol.ReplyValues)
		o.Wire = protocol.AppendRetrieval(o.Wire, req.Cmd, exptime, req.Keys)
		o.Stream = true
		cl.ops = append(cl.ops, o)
		c.groups[0].io.Send(o, c.lane)
		return
	}
	c.fanOut(cl, req.Cmd, exptime, req.Keys)
}

// fanOut sends one request per node and remembers, per key, where its
// answer will be, so that the merge keeps the order asked.
func (c *client) fanOut(cl *call, cmd protocol.Command, exptime []byte, keys [][]byte) {
	for i, k := range keys {
		cl.keyOp = append(cl.keyOp, indexOf(c.groups, c.nodes[i]))
		cl.keyBuf = append(cl.keyBuf, k...)
	}
	off := 0
	for _, k := range keys {
		cl.keys = append(cl.keys, cl.keyBuf[off:off+len(k)])
		off += len(k)
	}
	for g, n := range c.groups {
		o := backend.GetOp(n.io, protocol.ReplyValues)
		o.Wire = appendGroup(o.Wire, cmd, exptime, cl.keys, cl.keyOp, g)
		o.Stream = true
		cl.ops = append(cl.ops, o)
	}
	for g, n := range c.groups {
		n.io.Send(cl.ops[g], c.lane)
	}
}

// appendGroup encodes the retrieval of the keys that belong to group g.
func appendGroup(dst []byte, cmd protocol.Command, exptime []byte, keys [][]byte, keyOp []int, g int) []byte {
	dst = append(dst, cmd.String()...)
	if len(exptime) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, exptime...)
	}
	for i, k := range keys {
		if keyOp[i] == g {
			dst = append(dst, ' ')
			dst = append(dst, k...)
		}
	}
	return append(dst, "\r\n"...)
}

// groupKeys finds the node serving each key for a read (nil: none may,
// a miss) and the distinct nodes among them in the order first seen,
// reusing the slices' arrays.
func groupKeys(route *router, keys [][]byte, nodes, groups []*node, sums *ring.Sums) ([]*node, []*node) {
	nodes, groups = nodes[:0], groups[:0]
	for _, k := range keys {
		n := route.Pool(k).lookup(k, sums)
		nodes = append(nodes, n)
		if n != nil && indexOf(groups, n) < 0 {
			groups = append(groups, n)
		}
	}
	return nodes, groups
}

func indexOf(ns []*node, n *node) int {
	for i, x := range ns {
		if x == n {
			return i
		}
	}
	return -1
}

// flushAll sends flush_all to every node of every pool. A node that is
// out is flushed before it returns instead.
func (c *client) flushAll(cl *call, req *protocol.Request) {
	cl.noreply = req.Noreply
	for _, p := range c.s.pools() {
		p.markFlushDeparted()
		for _, n := range p.members().nodes {
			if !n.h.Healthy() {
				n.sp.MarkFlush()
				continue
			}
			o := backend.GetOp(n.io, protocol.ReplyLine)
			o.Wire = protocol.AppendRequest(o.Wire, req)
			cl.ops = append(cl.ops, o)
		}
	}
	for _, o := range cl.ops {
		o.Node().Send(o, c.lane)
	}
}

// writeLoop writes replies in command order and flushes whenever it has
// caught up with the reader.
func (c *client) writeLoop(done chan struct{}) {
	defer close(done)
	defer c.recoverWriter()
	for cl := range c.calls {
		c.writeCall(cl)
		putCall(cl)
		if len(c.calls) == 0 {
			if c.caughtUp != nil {
				c.caughtUp()
			}
			c.flush()
		}
		c.queued.Add(-1) // after the flush: the reader may write inline at 0
	}
	c.flush()
}

func (c *client) recoverWriter() {
	if r := recover(); r != nil {
		c.recover2(r)
		for cl := range c.calls { // keep the reader unblocked until it stops
			for _, o := range cl.ops {
				o.Wait()
			}
		}
	}
}

func (c *client) recover2(r any) {
	c.s.m.panics.Add(1)
	c.s.log.Error("client connection panicked; closing it", "where", "write",
		"remote", c.nc.RemoteAddr().String(), "panic", r, "stack", string(debug.Stack()))
	c.nc.Close()
}

func (c *client) flush() {
	if c.werr == nil {
		c.werr = c.bw.Flush()
	}
	if c.s.cfg().ClientIdleTimeout > 0 {
		c.replied.Store(time.Now().UnixNano())
	}
}

func (c *client) write(b []byte) {
	if c.werr == nil {
		_, c.werr = c.bw.Write(b)
	}
}

// writeCall waits for one call's ops and writes its reply.
func (c *client) writeCall(cl *call) {
	switch {
	case cl.later != nil:
		c.write(<-cl.later)
	case cl.static != nil:
		c.write(cl.static)
	case len(cl.ops) == 0:
	case cl.cmd.IsRetrieval() && len(cl.ops) == 1:
		c.writeValues(cl)
	case cl.cmd.IsRetrieval():
		c.writeMerged(cl)
	case cl.cmd == protocol.CmdFlushAll:
		c.writeFlush(cl)
	default:
		c.writeSingle(cl)
	}
	c.s.m.observe(cl.cmd, cl.start)
}

// writeValues relays a one-node get. A small reply arrives whole; a large
// one in parts as the backend sends it (see op), each written within
// backend.ClientStall. A failure before any part was written is a miss of every
// key; after, the client has part of a reply and no END can be true, so
// its connection is closed.
func (c *client) writeValues(cl *call) {
	o := cl.ops[0]
	if part := o.Next(); part != nil {
		c.relayParts(o, part)
	}
	switch {
	case o.Err != nil && o.Streamed():
		c.s.m.failedKeys.Add(uint64(cl.nkeys))
		c.abort()
		return
	case o.Err != nil || (!o.Streamed() && o.Reply.IsError()):
		c.s.m.failedKeys.Add(uint64(cl.nkeys))
		c.s.m.misses.Add(uint64(cl.nkeys))
		c.write(replyEnd)
		return
	}
	hits := o.Reply.Values
	c.s.m.hits.Add(uint64(hits))
	c.s.m.misses.Add(uint64(cl.nkeys - hits))
	c.write(o.Reply.Raw)
	if o.Streamed() {
		c.nc.SetWriteDeadline(time.Time{})
	}
}

// relayParts writes a streamed reply's parts until the op is finished;
// the reply's tail is then in o.Reply. Each part is acked even when the
// client is gone, so the backend reader never waits on a dead client.
func (c *client) relayParts(o *backend.Op, part []byte) {
	for ; part != nil; part = o.Next() {
		if c.werr == nil {
			c.nc.SetWriteDeadline(time.Now().Add(backend.ClientStall))
		}
		c.write(part)
		o.Release()
	}
	if c.werr != nil {
		c.abort() // the client has part of a reply it will never complete
	}
}

// abort ends a client connection whose reply cannot be completed.
func (c *client) abort() {
	if c.werr == nil {
		c.werr = ErrClientAborted
	}
	c.nc.Close()
}

func (c *client) writeFlush(cl *call) {
	var failed int
	var first error
	for _, o := range cl.ops {
		err := o.Wait()
		if err == nil && string(o.Reply.Raw) != "OK\r\n" {
			err = fmt.Errorf("backend %s: %s", o.Node().Addr(), strings.TrimSpace(string(o.Reply.Raw)))
		}
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if cl.noreply {
		return
	}
	if failed == 0 || len(cl.ops) == 0 {
		c.write(replyOK)
		return
	}
	c.s.m.serverErrors.Add(1)
	c.write([]byte(fmt.Sprintf("SERVER_ERROR flush_all failed on %d of %d nodes: %s\r\n", failed, len(cl.ops), errText(first))))
}

func (c *client) writeSingle(cl *call) {
	o := cl.ops[0]
	if err := o.Wait(); err != nil {
		if cl.noreply {
			return
		}
		c.s.m.serverErrors.Add(1)
		c.write(serverErrorPfx)
		c.write([]byte(errText(err)))
		c.write([]byte("\r\n"))
		return
	}
	if g := c.s.herd(); g != nil && len(cl.filled) > 0 && string(o.Reply.Raw) == "STORED\r\n" {
		g.Filled(cl.filled)
	}
	if !cl.noreply {
		c.write(o.Reply.Raw)
	}
}

// errText renders an error for a SERVER_ERROR line: one line, no prefix noise.
func errText(err error) string {
	s := strings.ReplaceAll(err.Error(), "proxy: ", "")
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

var _ = slog.Default
