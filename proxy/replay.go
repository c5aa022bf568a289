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
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/proxy/backend"
	"github.com/shepherd-proxy/shepherd/proxy/placement"
)

// replayBatch is how many keys are replayed at once.
const replayBatch = 1024

// readmit is the health hook that runs after a successful probe. It
// replays the spooled keys the node owns; the others wait for a ring in
// which it owns them.
func (n *node) readmit(ctx context.Context) error {
	size := n.sp.Size()
	err := n.sp.Drain(
		func(k []byte) bool { return n.pool.members().owns(n, k) },
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
	if n.sp.Regate() > 0 {
		n.settleSoon() // a write that failed on it may be applied as it resumes, after the copy
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
	err := n.deleteOnly(keys)
	n.dropStandIns(keys)
	return err
}

// deleteOnly deletes keys on the node.
func (n *node) deleteOnly(keys [][]byte) error {
	ops := make([]*backend.Op, 0, len(keys))
	for _, k := range keys {
		ops = append(ops, sendMeta(n, "md", k, nil, ""))
	}
	n.deletes.Add(uint64(len(ops)))
	return waitReplay(ops, "HD", "NF")
}

// dropStandIns removes, best effort, the stand-ins' copies of keys: they
// no longer own them.
func (n *node) dropStandIns(keys [][]byte) {
	var ops []*backend.Op
	for _, k := range keys {
		if s := n.pool.interim(k); s != nil && s != n {
			ops = append(ops, sendMeta(s, "md", k, nil, ""))
		}
	}
	for _, o := range ops {
		o.Wait()
		backend.PutOp(o)
	}
}

// replayBatch reads each key from its stand-in, writes the value (or a
// delete) to the node, then removes the stand-in's copy.
func (n *node) replayBatch(keys [][]byte) error {
	reads := make([]*backend.Op, len(keys))
	for i, k := range keys {
		if s := n.pool.interim(k); s != nil && s != n && !s.sp.Stale(k) {
			reads[i] = sendMeta(s, "mg", k, nil, "v f t")
		}
	}
	writes := make([]*backend.Op, len(keys))
	for i, k := range keys {
		writes[i] = n.replayWrite(k, reads[i])
	}
	err := waitReplay(writes, "HD", "NF")
	n.dropStandIns(keys)
	return err
}

// replayWrite copies the stand-in's value of k to the node, or deletes k
// there when the stand-in has none (or could not say): see
// placement.CopyOf.
func (n *node) replayWrite(k []byte, read *backend.Op) *backend.Op {
	if read == nil {
		n.deletes.Add(1)
		return sendMeta(n, "md", k, nil, "")
	}
	defer backend.PutOp(read)
	err := read.Wait()
	value, flags, ok := placement.CopyOf(read.Reply.Raw, err)
	if !ok {
		n.deletes.Add(1)
		return sendMeta(n, "md", k, nil, "")
	}
	n.copies.Add(1)
	return sendMeta(n, "ms", k, value, flags)
}

// sendMeta sends "<cmd> <base64 key> [<len>] b <flags>" (and data for ms)
// as one of shepherd's own requests.
func sendMeta(n *node, cmd string, key, data []byte, flags string) *backend.Op {
	o := backend.GetOp(n.io, protocol.ReplyMeta)
	o.Wire = append(o.Wire, cmd...)
	o.Wire = append(o.Wire, ' ')
	o.Wire = base64.StdEncoding.AppendEncode(o.Wire, key)
	if cmd == "ms" {
		o.Wire = strconv.AppendInt(append(o.Wire, ' '), int64(len(data)), 10)
	}
	o.Wire = append(o.Wire, " b"...)
	if flags != "" {
		o.Wire = append(append(o.Wire, ' '), flags...)
	}
	o.Wire = append(o.Wire, "\r\n"...)
	if cmd == "ms" {
		o.Wire = append(append(o.Wire, data...), "\r\n"...)
	}
	o.Internal = true
	n.io.Send(o, 0)
	return o
}

// waitReplay waits for ops and returns the first failure: an error or a
// reply not starting with one of ok.
func waitReplay(ops []*backend.Op, ok ...string) error {
	var first error
	for _, o := range ops {
		err := o.Wait()
		if err == nil && !hasAnyPrefix(o.Reply.Raw, ok) {
			err = fmt.Errorf("unexpected reply %q", strings.TrimSpace(string(o.Reply.Raw)))
		}
		if err != nil && first == nil {
			first = err
		}
		backend.PutOp(o)
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
	o := backend.GetOp(n.io, protocol.ReplyLine)
	o.Wire = append(o.Wire, "flush_all\r\n"...)
	o.Internal = true
	n.io.Send(o, 0)
	return waitReplay([]*backend.Op{o}, "OK")
}

// prepareTimeout bounds the copies a reload makes before it swaps rings
// (what is not copied by then is deleted after the swap).
const prepareTimeout = 10 * time.Second

// prepareRounds bounds the copy passes before a reload swaps rings: each
// takes what was written during the one before, so fewer keys are left to
// delete (and miss) after the swap.
const prepareRounds = 3

// prepare runs before m is put in force. Each node of m gets, for the
// spooled keys it will own and does not serve now, the value of the node
// that serves them now (or a delete where that node has none or may
// itself be behind); no client writes those keys on it yet, so a copy
// cannot overwrite a newer value. A node whose spool overflowed is
// flushed. Keys written meanwhile are spooled again, and settle deletes
// them once m is in force; a copy that fails leaves its keys spooled.
func (p *pool) prepare(m *members) {
	if p.members() == m {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
	defer cancel()
	for round := 0; round < prepareRounds; round++ {
		taken := 0
		for _, n := range m.nodes {
			if n.h.Healthy() { // else its readmission replays its spool
				taken += p.prepareNode(ctx, n, m)
			}
		}
		if taken == 0 {
			return
		}
	}
}

// prepareNode runs one copy pass for n and returns how many keys it took.
func (p *pool) prepareNode(ctx context.Context, n *node, m *members) int {
	gains := func(k []byte) bool {
		cur, _, err := p.serving(k, false)
		return m.owns(n, k) && (err != nil || cur != n)
	}
	keys, overflow := n.sp.Take(gains, false)
	err := n.sp.Replay(keys, overflow,
		func(keys [][]byte) error { return n.replayKeys(ctx, keys, n.copyBatch) },
		func() error {
			p.log.Warn("spool overflowed (or flush_all was sent, or the node was tracked too long) while the node did not own its keys; flushing it before the new ring",
				"pool", p.name, "node", n.addr)
			return n.replayFlush()
		})
	if err != nil {
		p.log.Warn("bringing a node up to date before a reload; its spooled keys are missed until deleted", "pool", p.name, "node", n.addr, "err", err)
		return 0
	}
	return len(keys)
}

// copyBatch copies keys to the node from the nodes serving them now; a
// key no other node may serve is deleted on it instead.
func (n *node) copyBatch(keys [][]byte) error {
	reads := make([]*backend.Op, len(keys))
	for i, k := range keys {
		if s, _, err := n.pool.pick(k, false); err == nil && s != n {
			reads[i] = sendMeta(s, "mg", k, nil, "v f t")
		}
	}
	writes := make([]*backend.Op, len(keys))
	for i, k := range keys {
		writes[i] = n.replayWrite(k, reads[i])
	}
	return waitReplay(writes, "HD", "NF")
}

// settle deletes, on each member, the spooled keys it serves now (reads
// of them miss meanwhile): writes that were under way when the ring
// changed, or copies that failed.
func (p *pool) settle() {
	for _, n := range p.members().nodes {
		n.settle()
	}
}

// settle deletes on n the spooled keys it serves now.
func (n *node) settle() {
	ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
	defer cancel()
	keys := n.sp.TakeKeys(func(k []byte) bool {
		cur, _, err := n.pool.serving(k, false)
		return err == nil && cur == n
	})
	if len(keys) == 0 {
		return
	}
	err := n.replayKeys(ctx, keys, n.deleteOnly)
	n.sp.Release(keys, false, err == nil)
}

// settleSoon settles n once what was sent to it has had its time
// (retire's grace and the pool's timeout): a write that failed on it may
// still be applied, by a slow node or by a hung one when it resumes. At
// most one is pending per node.
func (n *node) settleSoon() {
	if !n.settling.CompareAndSwap(false, true) {
		return
	}
	go func() {
		select {
		case <-time.After(retireGrace + n.pool.settings().Timeout):
		case <-n.quit:
			return
		}
		n.settling.Store(false)
		n.settle()
	}()
}

// settleLater settles again once the writes sent under the old ring have
// had their time (retire's grace and the pool's timeout).
func (p *pool) settleLater(quit <-chan struct{}) {
	select {
	case <-time.After(retireGrace + p.settings().Timeout):
		p.settle()
	case <-quit:
	}
}
