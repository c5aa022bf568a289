// Replay: before an ejected node takes traffic again, every key written
// elsewhere while it was out is brought up to date on it: the value its
// stand-in holds is copied over (or the key deleted when the stand-in has
// none), and the stand-in's copy is removed. So the node can never serve a
// value that changed in its absence, and a later outage cannot resurrect
// the stand-in's old copy. Replay speaks meta commands with base64 keys,
// so any key a client could store can be replayed.
package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// replayBatch is how many keys are replayed at once.
const replayBatch = 1024

// readmit is the health hook that runs after a successful probe.
func (n *node) readmit(ctx context.Context) error {
	size := n.sp.size()
	err := n.sp.drain(
		func(keys [][]byte) error { return n.replayKeys(ctx, keys, n.replayBatch) },
		func(keys [][]byte) error { return n.replayKeys(ctx, keys, n.deleteBatch) },
		func() error {
			n.pool.log.Warn("spool overflowed (or flush_all was sent) while node was out; flushing it before readmission",
				"pool", n.pool.name, "node", n.addr)
			return n.replayFlush()
		})
	if err != nil {
		return fmt.Errorf("proxy: replaying spool to %s: %w", n.addr, err)
	}
	if size > 0 {
		n.pool.log.Info("spool replayed", "pool", n.pool.name, "node", n.addr, "keys", size)
	}
	return nil
}

// replayKeys runs batch over keys, replayBatch at a time.
func (n *node) replayKeys(ctx context.Context, keys [][]byte, batch func([][]byte) error) error {
	for len(keys) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := keys[:min(replayBatch, len(keys))]
		keys = keys[len(b):]
		if err := batch(b); err != nil {
			return err
		}
	}
	return nil
}

// deleteBatch deletes keys on the node and on their stand-ins.
func (n *node) deleteBatch(keys [][]byte) error {
	ops := make([]*op, 0, len(keys))
	for _, k := range keys {
		ops = append(ops, sendMeta(n, "md", k, nil, ""))
	}
	n.deletes.Add(uint64(len(ops)))
	err := waitReplay(ops, "HD", "NF")
	n.dropStandIns(keys)
	return err
}

// dropStandIns removes, best effort, the stand-ins' copies of keys: they
// no longer own them.
func (n *node) dropStandIns(keys [][]byte) {
	var ops []*op
	for _, k := range keys {
		if s := n.pool.interim(k); s != nil && s != n {
			ops = append(ops, sendMeta(s, "md", k, nil, ""))
		}
	}
	for _, o := range ops {
		o.wait()
		putOp(o)
	}
}

// replayBatch reads each key from its stand-in, writes the value (or a
// delete) to the node, then removes the stand-in's copy.
func (n *node) replayBatch(keys [][]byte) error {
	reads := make([]*op, len(keys))
	for i, k := range keys {
		if s := n.pool.interim(k); s != nil && s != n {
			reads[i] = sendMeta(s, "mg", k, nil, "v f t")
		}
	}
	writes := make([]*op, len(keys))
	for i, k := range keys {
		writes[i] = n.replayWrite(k, reads[i])
	}
	err := waitReplay(writes, "HD", "NF")
	n.dropStandIns(keys)
	return err
}

// replayWrite copies the stand-in's value of k to the node, or deletes k
// there when the stand-in has none (or could not say).
func (n *node) replayWrite(k []byte, read *op) *op {
	if read == nil {
		n.deletes.Add(1)
		return sendMeta(n, "md", k, nil, "")
	}
	defer putOp(read)
	var r protocol.MetaReply
	err := read.wait()
	if err == nil {
		r, err = protocol.ParseMetaReply(read.reply.Raw)
	}
	if err != nil || r.Code != protocol.MetaValue {
		n.deletes.Add(1)
		return sendMeta(n, "md", k, nil, "")
	}
	n.copies.Add(1)
	return sendMeta(n, "ms", k, r.Value, fmt.Sprintf("F%d T%d", r.Flags, max(r.TTL, 0))) // t-1 (no expiry) is T0
}

// sendMeta sends "<cmd> <base64 key> [<len>] b <flags>" (and data for ms)
// as one of shepherd's own requests.
func sendMeta(n *node, cmd string, key, data []byte, flags string) *op {
	o := getOp(n, protocol.ReplyMeta)
	o.wire = append(o.wire, cmd...)
	o.wire = append(o.wire, ' ')
	o.wire = base64.StdEncoding.AppendEncode(o.wire, key)
	if cmd == "ms" {
		o.wire = strconv.AppendInt(append(o.wire, ' '), int64(len(data)), 10)
	}
	o.wire = append(o.wire, " b"...)
	if flags != "" {
		o.wire = append(append(o.wire, ' '), flags...)
	}
	o.wire = append(o.wire, "\r\n"...)
	if cmd == "ms" {
		o.wire = append(append(o.wire, data...), "\r\n"...)
	}
	o.internal = true
	n.send(o, 0)
	return o
}

// waitReplay waits for ops and returns the first failure: an error or a
// reply not starting with one of ok.
func waitReplay(ops []*op, ok ...string) error {
	var first error
	for _, o := range ops {
		err := o.wait()
		if err == nil && !hasAnyPrefix(o.reply.Raw, ok) {
			err = fmt.Errorf("unexpected reply %q", strings.TrimSpace(string(o.reply.Raw)))
		}
		if err != nil && first == nil {
			first = err
		}
		putOp(o)
	}
	return first
}

func hasAnyPrefix(b []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return false
}

func (n *node) replayFlush() error {
	o := getOp(n, protocol.ReplyLine)
	o.wire = append(o.wire, "flush_all\r\n"...)
	o.internal = true
	n.send(o, 0)
	return waitReplay([]*op{o}, "OK")
}
