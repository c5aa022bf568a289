// Herd wiring: protected keys' gets, deletes and refills go through
// herd.Group, which reaches backends through herdBackend.
package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
)

// herdBackend runs herd's meta commands on the owning node, on one
// client's lane so that they stay in order with its other commands.
type herdBackend struct {
	route *router
	lane  uint32
}

// Meta implements herd.Backend.
func (b herdBackend) Meta(ctx context.Context, cmd string, key []byte, flags string, value []byte) (string, []byte, error) {
	write := cmd == "ms" || cmd == "md"
	n, _, err := b.route.pool(key).pick(key, write)
	if err != nil {
		return "", nil, err
	}
	kind := protocol.ReplyMeta
	if cmd == "get" {
		kind = protocol.ReplyValues
	}
	o := getOp(n, kind)
	defer putOp(o)
	o.wire = appendMeta(o.wire, cmd, key, flags, value)
	if write {
		o.writeKey = append(o.writeKey, key...)
	}
	n.send(o, b.lane)
	if err := o.wait(); err != nil {
		return "", nil, err
	}
	if o.reply.IsError() {
		return "", nil, fmt.Errorf("proxy: backend %s: %s", n.addr, bytes.TrimSpace(o.reply.Raw))
	}
	if cmd == "get" {
		return getAsMeta(&o.reply)
	}
	line, val := splitMeta(o.reply.Raw)
	return line, bytes.Clone(val), nil
}

// appendMeta encodes a herd command; keys the text protocol cannot carry
// travel in base64.
func appendMeta(dst []byte, cmd string, key []byte, flags string, value []byte) []byte {
	dst = append(append(dst, cmd...), ' ')
	b64 := !protocol.ValidKey(key, 250)
	if b64 && cmd != "get" {
		dst = base64.StdEncoding.AppendEncode(dst, key)
	} else {
		dst = append(dst, key...)
	}
	if cmd == "ms" {
		dst = strconv.AppendInt(append(dst, ' '), int64(len(value)), 10)
	}
	if b64 && cmd != "get" {
		dst = append(dst, " b"...)
	}
	if flags != "" {
		dst = append(append(dst, ' '), flags...)
	}
	dst = append(dst, "\r\n"...)
	if cmd == "ms" {
		dst = append(append(dst, value...), "\r\n"...)
	}
	return dst
}

// splitMeta splits a meta reply into its header line and value.
func splitMeta(raw []byte) (string, []byte) {
	nl := bytes.IndexByte(raw, '\n')
	line := string(raw[:nl-1])
	if len(raw) > nl+1 {
		return line, raw[nl+1 : len(raw)-2]
	}
	return line, nil
}

// getAsMeta answers a classic get as herd expects from a backend without
// the meta protocol.
func getAsMeta(rep *protocol.Reply) (string, []byte, error) {
	if len(rep.Items) == 0 {
		return "EN", nil, nil
	}
	v := rep.Value(0)
	hdr, data, _ := bytes.Cut(v, []byte("\r\n"))
	f := bytes.Fields(hdr) // VALUE key flags bytes
	return fmt.Sprintf("VA %d f%s", len(data)-2, f[2]), bytes.Clone(data[:len(data)-2]), nil
}

// newHerd builds a herd group for hc and a registry of its metrics (see
// Server.gather), or nils without herd rules. Its own fills route by the
// routes in force when they run.
func (s *Server) newHerd(hc *HerdConfig) (*herd.Group, *prometheus.Registry) {
	if hc == nil || (hc.Default == nil && len(hc.Rules) == 0) {
		return nil, nil
	}
	fill := func(ctx context.Context, cmd string, key []byte, flags string, value []byte) (string, []byte, error) {
		return herdBackend{route: s.live.Load().route}.Meta(ctx, cmd, key, flags, value)
	}
	g := herd.New(herd.Config{
		Rules:   hc.Rules,
		Default: hc.Default,
		Fill:    herd.BackendFunc(fill),
		Logf:    func(f string, a ...any) { s.log.Warn(fmt.Sprintf(f, a...)) },
	})
	hm := &metrics{reg: prometheus.NewRegistry()}
	hm.registerHerd(g)
	return g, hm.reg
}

// detectMeta asks one node of each pool whether it speaks the meta
// protocol ("mn"); without it g falls back to coalescing only. memcached
// 1.6 answers MN, an older one ERROR: one line either way, read as a meta
// reply.
func (s *Server) detectMeta(g *herd.Group, pools map[string]*pool) {
	if g == nil {
		return
	}
	for name, p := range pools {
		n := p.members().nodes[0]
		o := getOp(n, protocol.ReplyMeta)
		o.wire = append(o.wire, "mn\r\n"...)
		o.internal = true
		n.send(o, 0)
		err := o.wait()
		switch {
		case err != nil:
			s.log.Warn("could not ask a node for meta protocol support; assuming memcached >= 1.6", "pool", name, "err", err)
		case string(o.reply.Raw) != "MN\r\n":
			g.DisableMeta()
			s.log.Warn("backends lack the meta protocol (memcached < 1.6): herd protection is local coalescing only", "pool", name)
		}
		putOp(o)
	}
}

// herdRule returns the rule protecting key, or nil.
func (c *client) herdRule(key []byte) *herd.Rule {
	if c.herd == nil {
		return nil
	}
	return c.herd.Rule(key)
}

// anyProtected reports whether a key of req is protected.
func (c *client) anyProtected(keys [][]byte) bool {
	for _, k := range keys {
		if c.herdRule(k) != nil {
			return true
		}
	}
	return false
}

// herdTimeout bounds one herd operation: holds plus backend round trips.
const herdTimeout = 30 * time.Second

// herdGet answers a get/gets whose keys include protected ones, key by
// key in parallel, and returns the whole reply.
func (c *client) herdGet(req *protocol.Request) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), herdTimeout)
	defer cancel()
	results := make([]herd.Result, len(req.Keys))
	var wg sync.WaitGroup
	for i, k := range req.Keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.herdGetKey(ctx, k)
		}()
	}
	wg.Wait()
	var b []byte
	var hits uint64
	for i, r := range results {
		if !r.Found {
			continue
		}
		hits++
		b = fmt.Appendf(b, "VALUE %s %d %d", req.Keys[i], r.Flags, len(r.Value))
		if req.Cmd == protocol.CmdGets {
			b = fmt.Appendf(b, " %d", r.CAS)
		}
		b = append(append(append(b, "\r\n"...), r.Value...), "\r\n"...)
	}
	c.s.m.hits.Add(hits)
	c.s.m.misses.Add(uint64(len(req.Keys)) - hits)
	return append(b, replyEnd...)
}

func (c *client) herdGetKey(ctx context.Context, key []byte) herd.Result {
	b := herdBackend{route: c.route, lane: c.lane}
	rule := c.herdRule(key)
	if rule == nil {
		line, val, err := b.Meta(ctx, "get", key, "", nil)
		if err != nil || line == "EN" {
			return herd.Result{}
		}
		r, _ := herd.ParseValue(line, val)
		return r
	}
	r, err := c.herd.Get(ctx, b, key, rule)
	if err != nil {
		c.s.m.failedKeys.Add(1)
		return herd.Result{}
	}
	if r.Lease.CAS != 0 {
		c.grant(key, r.Lease)
	}
	return r
}

// herdDelete turns a delete of a protected key into a stale mark.
func (c *client) herdDelete(req *protocol.Request, rule *herd.Rule) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), herdTimeout)
	defer cancel()
	found, err := c.herd.Invalidate(ctx, herdBackend{route: c.route, lane: c.lane}, req.Key(), rule)
	switch {
	case req.Noreply:
		return nil
	case err != nil:
		c.s.m.serverErrors.Add(1)
		return []byte("SERVER_ERROR " + errText(err) + "\r\n")
	case found:
		return []byte("DELETED\r\n")
	}
	return []byte("NOT_FOUND\r\n")
}

// grant keeps a lease this connection's reader won.
func (c *client) grant(key []byte, l herd.Lease) {
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	if c.leases == nil || len(c.leases) > 10_000 {
		c.leases = map[string]herd.Lease{}
	}
	c.leases[string(key)] = l
}

// takeLease removes and returns this connection's lease on key.
func (c *client) takeLease(key []byte) (herd.Lease, bool) {
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	l, ok := c.leases[string(key)]
	if ok {
		delete(c.leases, string(key))
	}
	return l, ok && l.Valid(c.herd.Now())
}

// herdStore writes a refill under a lease this connection holds; ok is
// false when the command should go the usual way.
func (c *client) herdStore(req *protocol.Request) (reply []byte, ok bool) {
	l, ok := c.takeLease(req.Key())
	if !ok {
		return nil, false
	}
	flags, _ := strconv.ParseUint(string(req.Args[0]), 10, 32)
	exptime, _ := strconv.ParseInt(string(req.Args[1]), 10, 64)
	ctx, cancel := context.WithTimeout(context.Background(), herdTimeout)
	defer cancel()
	b := herdBackend{route: c.route, lane: c.lane}
	stored, err := c.herd.Store(ctx, b, req.Key(), req.Data, uint32(flags), exptime, l)
	switch {
	case req.Noreply:
		return nil, true
	case err != nil:
		c.s.m.serverErrors.Add(1)
		return []byte("SERVER_ERROR " + errText(err) + "\r\n"), true
	case stored:
		return []byte("STORED\r\n"), true
	}
	return []byte("NOT_STORED\r\n"), true
}
