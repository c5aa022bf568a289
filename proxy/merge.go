// Merging a fanned-out get: the nodes' replies relayed in the order the
// keys were asked, from memory when they are small, as they arrive when
// one is large.
package proxy

import (
	"bytes"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/proxy/backend"
)

// writeMerged relays a fanned-out get in the order its keys were asked; a
// failed node's keys are misses. When every node's reply is small it has
// arrived whole and is merged from memory. When one streams (see op), the
// merge walks the replies as they arrive (mergeCursor): a node whose keys
// come later holds at most two parts of its reply and waits, up to
// backend.PartWait, for the merge to reach it. A node that fails after part of its
// reply was relayed gets the client connection closed, as for one node.
func (c *client) writeMerged(cl *call) {
	streaming := false
	for _, o := range cl.ops {
		if o.Next() != nil { // each node's first part needs no ack: no deadlock
			streaming = true
		}
	}
	if streaming {
		c.mergeStreams(cl)
		return
	}
	var cursor [64]int
	cur := cursor[:0]
	for range cl.ops {
		cur = append(cur, 0)
	}
	var hits uint64
	for i, k := range cl.keys {
		g := cl.keyOp[i]
		if g < 0 {
			c.s.m.failedKeys.Add(1)
			continue
		}
		o := cl.ops[g]
		if o.Err != nil || o.Reply.IsError() {
			c.s.m.failedKeys.Add(1)
			continue
		}
		if cur[g] < len(o.Reply.Items) && bytes.Equal(o.Reply.Key(cur[g]), k) {
			c.write(o.Reply.Value(cur[g]))
			cur[g]++
			hits++
		}
	}
	c.s.m.hits.Add(hits)
	c.s.m.misses.Add(uint64(len(cl.keys)) - hits)
	c.write(replyEnd)
}

// mergeStreams is writeMerged once some node's reply streams.
func (c *client) mergeStreams(cl *call) {
	cs := make([]mergeCursor, len(cl.ops))
	for g, o := range cl.ops {
		cs[g].start(o)
	}
	c.nc.SetWriteDeadline(time.Now().Add(backend.ClientStall)) // moved on by each part
	defer func() {
		for g := range cs {
			cs[g].drain()
		}
		c.nc.SetWriteDeadline(time.Time{})
	}()
	var hits uint64
	for i, k := range cl.keys {
		g := cl.keyOp[i]
		if g < 0 {
			c.s.m.failedKeys.Add(1)
			continue
		}
		switch cs[g].relay(c, k) {
		case relayHit:
			hits++
		case relayFailed:
			c.s.m.failedKeys.Add(1)
		case relayCut:
			c.s.m.failedKeys.Add(uint64(len(cl.keys) - i))
			c.abort()
			return
		}
	}
	c.s.m.hits.Add(hits)
	c.s.m.misses.Add(uint64(len(cl.keys)) - hits)
	c.write(replyEnd)
	if c.werr != nil {
		c.abort() // the client has part of a reply it will never complete
	}
}

// relayResult is what relaying one key from one node's reply came to.
type relayResult uint8

const (
	relayMiss   relayResult = iota
	relayHit                // its VALUE block was written
	relayFailed             // the node failed before its reply began: a miss
	relayCut                // the node failed mid-reply: the client must be closed
)

// mergeCursor reads one node's reply, part by part (see op), for a merge.
// The reply was checked by the backend reader (keys in request order,
// sizes, CRLFs) before or while it arrives; an error found after a part
// was handed over ends the op with an error, which makes the cursor cut.
type mergeCursor struct {
	o     *backend.Op
	buf   []byte // unread bytes of the current part, or of the reply's tail
	tail  bool   // buf is the tail: the op has finished
	state relayResult
	hdr   []byte // the next VALUE line, read ahead, with its CRLF
	key   []byte // in hdr
	size  int
	end   bool // END was read
}

// start takes o's first event, already received: a part, or the finish.
func (m *mergeCursor) start(o *backend.Op) {
	m.o = o
	if o.Part() != nil {
		m.buf = o.Part()
		return
	}
	m.tail, m.buf = true, o.Reply.Raw
	if o.Err != nil || o.Reply.IsError() {
		m.state = relayFailed
	}
}

// more makes buf non-empty, moving to the next part (and giving the last
// back to the reader); false at the end of the reply or on a failure.
func (m *mergeCursor) more(c *client) bool {
	for len(m.buf) == 0 {
		if m.tail {
			return false
		}
		m.o.Release()
		if p := m.o.Next(); p != nil {
			m.buf = p
			c.nc.SetWriteDeadline(time.Now().Add(backend.ClientStall))
			continue
		}
		m.tail, m.buf = true, m.o.Reply.Raw
		if m.o.Err != nil {
			m.state = relayCut
			return false
		}
	}
	return true
}

// relay writes key's VALUE block if it is the next in this reply.
func (m *mergeCursor) relay(c *client, key []byte) relayResult {
	if m.state != relayMiss {
		return m.state
	}
	if !m.peek(c) {
		return m.state
	}
	if !bytes.Equal(m.key, key) {
		return relayMiss // the block is a later key's
	}
	c.write(m.hdr)
	m.hdr = m.hdr[:0]
	for left := m.size + 2; left > 0; {
		if !m.more(c) {
			m.state = relayCut
			return relayCut
		}
		n := min(left, len(m.buf))
		c.write(m.buf[:n])
		m.buf, left = m.buf[n:], left-n
	}
	return relayHit
}

// peek reads the next VALUE line into hdr, if it is not there yet; false
// at END or on a failure.
func (m *mergeCursor) peek(c *client) bool {
	for len(m.hdr) == 0 || m.hdr[len(m.hdr)-1] != '\n' {
		if m.end || !m.more(c) {
			if m.state == relayMiss && !m.end {
				m.state = relayCut // a reply without END: cannot happen once read
			}
			return false
		}
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			m.hdr, m.buf = append(m.hdr, m.buf...), nil
			continue
		}
		m.hdr, m.buf = append(m.hdr, m.buf[:i+1]...), m.buf[i+1:]
	}
	line := m.hdr[:len(m.hdr)-2]
	if string(line) == "END" {
		m.end = true
		m.hdr = m.hdr[:0]
		return false
	}
	var ok bool
	if m.key, m.size, ok = protocol.ParseValueLine(line); !ok {
		m.state = relayCut
		return false
	}
	return true
}

// drain waits for the op to finish, dropping what the merge did not use,
// so that no reader is left waiting and the op can be recycled.
func (m *mergeCursor) drain() {
	if !m.tail {
		m.o.Release()
		m.o.Wait()
	}
}
