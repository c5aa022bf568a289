// Replay: before an ejected node takes traffic again, the keys written
// elsewhere while it was out are deleted from it (and from whoever stood
// in for it), so it cannot serve a value that changed in its absence.
package proxy

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// replayBatch is how many deletes are in flight at once during a replay.
const replayBatch = 256

// readmit is the health hook that runs after a successful probe.
func (n *node) readmit(ctx context.Context) error {
	size := n.sp.size()
	err := n.sp.drain(func(keys [][]byte, flush bool) error {
		if flush {
			n.pool.log.Warn("spool overflowed while node was out; flushing it before readmission", "pool", n.pool.cfg.Name, "node", n.addr)
			return n.replayFlush(ctx)
		}
		return n.replayDeletes(ctx, keys)
	})
	if err != nil {
		return fmt.Errorf("proxy: replaying spool to %s: %w", n.addr, err)
	}
	if size > 0 {
		n.pool.log.Info("spool replayed", "pool", n.pool.cfg.Name, "node", n.addr, "keys", size)
	}
	return nil
}

// replayDeletes deletes keys on the node, and best effort on their
// stand-ins, replayBatch at a time.
func (n *node) replayDeletes(ctx context.Context, keys [][]byte) error {
	for len(keys) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := keys[:min(replayBatch, len(keys))]
		keys = keys[len(batch):]
		if err := n.deleteBatch(batch); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) deleteBatch(keys [][]byte) error {
	ops := make([]*op, 0, 2*len(keys))
	for _, k := range keys {
		ops = append(ops, sendLine(n, "delete", k))
		if s := n.pool.interim(k); s != nil && s != n {
			ops = append(ops, sendLine(s, "delete", k))
		}
	}
	var first error
	for _, o := range ops {
		err := o.wait()
		if err == nil && !replayOK(o.reply.Raw) {
			err = fmt.Errorf("unexpected reply %q", strings.TrimSpace(string(o.reply.Raw)))
		}
		if err != nil && o.node == n && first == nil {
			first = err
		}
		putOp(o)
	}
	return first
}

func replayOK(raw []byte) bool {
	s := string(raw)
	return s == "DELETED\r\n" || s == "NOT_FOUND\r\n" || s == "OK\r\n" || s == "HD\r\n" || s == "NF\r\n"
}

// sendLine sends "cmd key" to n; with a nil key just "cmd". A delete of a
// key that the text protocol cannot carry (a base64 meta key) becomes
// "md <base64> b".
func sendLine(n *node, cmd string, key []byte) *op {
	if cmd == "delete" && !protocol.ValidKey(key, 250) {
		o := getOp(n, protocol.ReplyMeta)
		o.wire = append(o.wire, "md "...)
		o.wire = base64.StdEncoding.AppendEncode(o.wire, key)
		o.wire = append(o.wire, " b\r\n"...)
		o.internal = true
		n.send(o, 0)
		return o
	}
	o := getOp(n, protocol.ReplyLine)
	o.wire = append(o.wire, cmd...)
	if key != nil {
		o.wire = append(o.wire, ' ')
		o.wire = append(o.wire, key...)
	}
	o.wire = append(o.wire, "\r\n"...)
	o.internal = true
	n.send(o, 0)
	return o
}

func (n *node) replayFlush(ctx context.Context) error {
	o := sendLine(n, "flush_all", nil)
	defer putOp(o)
	if err := o.wait(); err != nil {
		return err
	}
	if !replayOK(o.reply.Raw) {
		return fmt.Errorf("flush_all: unexpected reply %q", strings.TrimSpace(string(o.reply.Raw)))
	}
	return nil
}
