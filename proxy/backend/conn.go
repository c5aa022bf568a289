// The combined writer: per node, a few long-lived logical connections,
// each a queue of ops drained by whichever goroutine holds the writer
// role, many clients' requests in one write.
package backend

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// maxBatch sizes the write buffer a connection keeps: one that grew past
// 4×maxBatch for a burst is dropped after its write.
const maxBatch = 256 << 10

// combinerRounds is how many drains a client goroutine does as writer
// before handing the role to the background goroutine.
const combinerRounds = 2

// conn is one logical connection to a node: a queue of requests and, at
// any moment, at most one writer draining it into a wireConn (dialed when
// needed). The writer is whichever client goroutine finds the queue idle
// when it enqueues (flat combining: no hand-off to another goroutine when
// the connection is quiet, and one write for many clients' requests when
// it is busy). A writer that has drained rounds of others' requests hands
// the rest to the connection's background goroutine, so no client is kept
// writing for long.
type conn struct {
	n     *Node
	limit int           // queued requests before enqueue refuses
	kick  chan struct{} // hands the writer role to writeLoop
	quit  chan struct{}

	mu      sync.Mutex // guards queue, spare, writing and closed
	queue   []*Op
	spare   []*Op
	writing bool // someone holds the writer role; wc and batch are theirs
	closed  bool

	wc    *wireConn // owned by the writer
	batch []byte    // owned by the writer
}

func newConn(n *Node, limit int, quit chan struct{}) *conn {
	return &conn{n: n, limit: limit, kick: make(chan struct{}, 1), quit: quit}
}

// enqueue queues o and, if no one is writing, writes it (and whatever
// else is queued) on this goroutine. It reports false when the queue is
// full or the connection closed; o is then untouched.
func (c *conn) enqueue(o *Op) bool {
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
func (c *conn) write(rounds int) {
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
func (c *conn) take() []*Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed && c.wc != nil {
		c.wc.kill(ErrClosed)
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

func (c *conn) recycle(ops []*Op) {
	clear(ops[:cap(ops)])
	c.mu.Lock()
	if cap(ops) <= 4096 {
		c.spare = ops[:0]
	}
	c.mu.Unlock()
}

// writeLoop takes over the writer role when a client goroutine hands it
// on, and closes the connection when the node stops.
func (c *conn) writeLoop() {
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
func (c *conn) close() {
	c.mu.Lock()
	c.closed = true
	ops := c.queue
	c.queue = nil
	idle := !c.writing
	c.writing = true // nobody writes any more
	c.mu.Unlock()
	failAll(ops, ErrClosed)
	if idle && c.wc != nil {
		c.wc.kill(ErrClosed)
	}
}

// failExpired fails the ops whose deadline passed while they were queued,
// and client ops that were routed here just before the node was ejected:
// once it is out, no client request reaches it.
func (c *conn) failExpired(ops []*Op) []*Op {
	now := time.Now()
	serving := c.n.serving()
	kept := ops[:0]
	for _, o := range ops {
		switch {
		case now.After(o.deadline):
			o.finish(fmt.Errorf("%w: queued past its deadline", ErrTimeout))
		case !serving && !o.Internal:
			o.finish(ErrEjected)
		default:
			kept = append(kept, o)
		}
	}
	return kept
}

// deliver hands ops to a live wireConn (dialing one if needed) and writes
// them in one syscall. It returns the wireConn to use next time.
func (c *conn) deliver(wc *wireConn, ops []*Op, batch *[]byte) *wireConn {
	b := gather(ops, batch)
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
			failAll(ops, ErrClosed)
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

// gather copies the ops' requests, in order, into one write in *batch's
// array (before an op is visible to the reader, which may recycle it),
// and keeps the array for the next write unless it grew past 4×maxBatch.
func gather(ops []*Op, batch *[]byte) []byte {
	b := (*batch)[:0]
	for _, o := range ops {
		b = append(b, o.Wire...)
	}
	if cap(b) > maxBatch*4 {
		*batch = nil
	} else {
		*batch = b
	}
	return b
}

// drain fails every op already queued, so that a dead node costs queued
// clients one dial attempt, not one each.
func (c *conn) drain(err error) {
	c.mu.Lock()
	ops := c.queue
	c.queue = nil
	c.mu.Unlock()
	failAll(ops, err)
}
