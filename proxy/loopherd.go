//go:build linux

// Herd commands of a loop client: continuations, not a hand-off.
//
// A command on a protected key may wait (a reader held until the refill
// lands, a CAS-guarded write retried), so the loop never runs it itself:
// it runs on a goroutine with the goroutine path's own herd code, and
// its reply comes back through the loop's mailbox, where it takes its
// turn among the client's replies. The client stays on the loop.
//
// Order is what the goroutine path gives, where one reader dispatches a
// connection's commands in turn, protected reads run in the background
// and every other command first waits for them (herdDispatch):
//   - a protected read starts once no plain request of the client is
//     in flight (its keys go over the goroutine path's connections, and
//     must not overtake a write the loop sent);
//   - a plain write waits for the client's protected reads;
//   - a command on a protected key starts once nothing of the client is
//     in flight, and nothing after it starts until it is answered.
//
// A request that must wait stays unread in the client's input (parse
// pauses the client) and is parsed again when a call finishes.
package proxy

import (
	"bufio"
	"bytes"
	"runtime/debug"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
)

// step is what dispatch did with a request.
type step int

const (
	started  step = iota // the loop answers it
	refused              // the goroutine path answers it: the client is handed off
	deferred             // it waits for the client's herd commands (or what they wait for)
)

// loopHerd is a loop client's state for herd commands.
type loopHerd struct {
	reads   int     // protected reads in flight
	command bool    // a command on a protected key in flight
	shell   *client // leases won by its reads, and the goroutine path a command runs on
	out     bytes.Buffer
}

// herdShell returns c's goroutine-path client: it keeps the leases c's
// reads win (a refill set must find them) and runs c's commands on
// protected keys, writing their replies to a buffer.
func (c *lclient) herdShell() *client {
	h := &c.herd
	if h.shell == nil {
		h.shell = &client{s: c.el.s, fixed: c.fixed, lane: c.lane, textOnly: true}
		h.shell.bw = bufio.NewWriter(&h.out)
	}
	return h.shell
}

// plainPending reports whether a request c sent to a loop backend is in
// flight.
func (c *lclient) plainPending() bool {
	for _, cl := range c.calls {
		if !cl.herd && cl.pending > 0 {
			return true
		}
	}
	return false
}

// herdRead starts a get whose keys include protected ones.
func (el *eloop) herdRead(c *lclient, g *herd.Group, route *router, req *protocol.Request) step {
	if c.herd.command || c.plainPending() {
		return deferred
	}
	cl := el.newCall(c, req.Cmd)
	cl.herd, cl.pending = true, 1
	c.herd.reads++
	h := herdCmd{c: c.herdShell(), g: g, b: herdBackend{route: route, lane: c.lane}}
	read := h.get
	if req.Cmd == protocol.CmdGat || req.Cmd == protocol.CmdGats {
		read = h.gat
	}
	r := cloneRequest(req)
	go el.herdRun(c, cl, func() ([]byte, bool) { return read(r), true })
	return started
}

// herdCommand starts a one-key command on a protected key.
func (el *eloop) herdCommand(c *lclient, req *protocol.Request) step {
	if len(c.calls) > 0 {
		for _, cl := range c.calls {
			if cl.pending > 0 {
				return deferred
			}
		}
	}
	cl := el.getCall() // counted and timed by the goroutine path's dispatch and writeCall
	cl.c, cl.cmd, cl.start = c, req.Cmd, el.now
	cl.herd, cl.timed, cl.pending = true, true, 1
	c.calls = append(c.calls, cl)
	c.herd.command = true
	sh := c.herdShell()
	r := cloneRequest(req)
	go el.herdRun(c, cl, func() ([]byte, bool) {
		gcl := sh.dispatch(r)
		sh.writeCall(gcl)
		putCall(gcl)
		if sh.bw.Flush(); sh.werr != nil {
			return nil, false
		}
		reply := bytes.Clone(c.herd.out.Bytes())
		c.herd.out.Reset()
		return reply, true
	})
	return started
}

// herdRun runs one herd call on its own goroutine and hands its reply
// to the loop. A panic ends only c.
func (el *eloop) herdRun(c *lclient, cl *lcall, run func() ([]byte, bool)) {
	var reply []byte
	var ok bool
	defer func() {
		if r := recover(); r != nil {
			el.s.m.panics.Add(1)
			el.s.log.Error("client connection panicked; closing it", "where", "loop herd",
				"remote", c.remote, "panic", r, "stack", string(debug.Stack()))
		}
		el.post(func() { el.herdDone(c, cl, reply, ok) })
	}()
	reply, ok = run()
}

// herdDone takes a herd call's reply on the loop. A call that could not
// produce its reply closes the client: the replies after it would be
// taken for its own.
func (el *eloop) herdDone(c *lclient, cl *lcall, reply []byte, ok bool) {
	if cl.timed {
		c.herd.command = false
	} else {
		c.herd.reads--
	}
	cl.pending = 0
	if cl.orphan {
		el.putCall(cl)
		return
	}
	if !ok {
		el.closeClient(c)
		return
	}
	cl.static, cl.quiet = reply, len(reply) == 0
	el.settle(c)
	el.resume(c)
}

// resume parses what a paused client has waiting, when a herd call's end
// may have let its next request start. settle resumes a client only once
// its calls drained below half the pipeline.
func (el *eloop) resume(c *lclient) {
	if c.gone || !c.paused || len(c.calls) >= pipelineDepth || c.unwritten() > loopMaxOut || len(c.in) == 0 {
		return
	}
	c.paused = false
	used := el.parse(c, c.in)
	c.in = c.in[:copy(c.in, c.in[used:])]
	el.settle(c)
}

// cloneRequest copies req out of the loop's reader, whose buffers the
// next request reuses.
func cloneRequest(req *protocol.Request) *protocol.Request {
	r := &protocol.Request{Cmd: req.Cmd, Noreply: req.Noreply, Base64: req.Base64,
		Keys: make([][]byte, len(req.Keys)), Args: make([][]byte, len(req.Args))}
	for i, k := range req.Keys {
		r.Keys[i] = bytes.Clone(k)
	}
	for i, a := range req.Args {
		r.Args[i] = bytes.Clone(a)
	}
	if req.Data != nil {
		r.Data = bytes.Clone(req.Data)
	}
	return r
}
