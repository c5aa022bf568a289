// Herd wiring: protected keys' gets, deletes and refills go through
// herd.Group, which reaches backends through herdBackend.
package proxy

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/proxy/backend"
)

// herdBackend runs herd's meta commands on the owning node, on one
// client's lane so that they stay in order with its other commands.
type herdBackend struct {
	route *router
	lane  uint32
}

// Meta implements herd.Backend.
func (b herdBackend) Meta(ctx context.Context, req *protocol.MetaRequest) (protocol.MetaReply, error) {
	write := req.Cmd == protocol.CmdMetaSet || req.Cmd == protocol.CmdMetaDelete || req.Cmd == protocol.CmdMetaArithmetic ||
		(req.Cmd == protocol.CmdMetaGet && req.SetTTL)
	n, _, err := b.route.Pool(req.Key).pick(req.Key, write)
	if err != nil {
		return protocol.MetaReply{}, err
	}
	kind := protocol.ReplyMeta
	if req.Cmd.IsRetrieval() {
		kind = protocol.ReplyValues
	}
	o := backend.GetOp(n.io, kind)
	defer backend.PutOp(o)
	o.Wire = protocol.AppendMeta(o.Wire, req)
	if write {
		o.WriteKey = append(o.WriteKey, req.Key...)
	}
	n.io.Send(o, b.lane)
	if err := o.Wait(); err != nil {
		return protocol.MetaReply{}, err
	}
	if req.Cmd.IsRetrieval() {
		return getAsMeta(&o.Reply), nil
	}
	r, err := protocol.ParseMetaReply(o.Reply.Raw)
	if err != nil {
		return r, fmt.Errorf("proxy: backend %s: %w", n.addr, err)
	}
	r.Value = bytes.Clone(r.Value) // o.Reply goes back to the pool
	return r, nil
}

// getAsMeta answers a classic get as herd expects from a backend without
// the meta protocol.
func getAsMeta(rep *protocol.Reply) protocol.MetaReply {
	if rep.IsError() {
		return protocol.MetaReply{Error: string(bytes.TrimSpace(rep.Raw))}
	}
	if len(rep.Items) == 0 {
		return protocol.MetaReply{Code: protocol.MetaMiss}
	}
	v := rep.Value(0)
	hdr, data, _ := bytes.Cut(v, []byte("\r\n"))
	f := bytes.Fields(hdr) // VALUE key flags bytes [cas]
	r := protocol.MetaReply{Code: protocol.MetaValue, Value: bytes.Clone(data[:len(data)-2])}
	flags, _ := strconv.ParseUint(string(f[2]), 10, 32)
	r.Flags = uint32(flags)
	if len(f) > 4 {
		r.CAS, _ = strconv.ParseUint(string(f[4]), 10, 64)
	}
	return r
}

// newHerd builds a herd group for hc and a registry of its metrics (see
// Server.gather), or nils without herd rules. Its own fills route by the
// routes in force when they run.
func (s *Server) newHerd(hc *HerdConfig) (*herd.Group, *prometheus.Registry) {
	if hc == nil || (hc.Default == nil && len(hc.Rules) == 0) {
		return nil, nil
	}
	fill := func(ctx context.Context, req *protocol.MetaRequest) (protocol.MetaReply, error) {
		return herdBackend{route: s.live.Load().route}.Meta(ctx, req)
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
		o := backend.GetOp(n.io, protocol.ReplyMeta)
		o.Wire = append(o.Wire, "mn\r\n"...)
		o.Internal = true
		n.io.Send(o, 0)
		err := o.Wait()
		switch {
		case err != nil:
			s.log.Warn("could not ask a node for meta protocol support; assuming memcached >= 1.6", "pool", name, "err", err)
		case !isNoop(o.Reply.Raw):
			g.DisableMeta()
			s.log.Warn("backends lack the meta protocol (memcached < 1.6): herd protection is local coalescing only", "pool", name)
		}
		backend.PutOp(o)
	}
}

// isNoop reports whether raw is memcached's answer to mn.
func isNoop(raw []byte) bool {
	r, err := protocol.ParseMetaReply(raw)
	return err == nil && r.Code == protocol.MetaNoop
}

// herdCmd is one command on protected keys: the herd group and routes
// loaded when it was dispatched and the client's lane. Its goroutines
// read only these, never the connection's state of a later command.
type herdCmd struct {
	c *client // for its leases and the server's metrics
	g *herd.Group
	b herdBackend
}

// rule returns the rule protecting key, or nil.
func (h herdCmd) rule(key []byte) *herd.Rule {
	if h.g == nil {
		return nil
	}
	return h.g.Rule(key)
}

// anyProtected reports whether a key of req is protected.
func (h herdCmd) anyProtected(keys [][]byte) bool {
	for _, k := range keys {
		if h.rule(k) != nil {
			return true
		}
	}
	return false
}

// readLater runs a protected read in the background; cl's reply comes
// from it. req is copied: the reader reuses its buffers.
func (c *client) readLater(cl *call, req *protocol.Request, read func(*protocol.Request) []byte) {
	r := &protocol.Request{Cmd: req.Cmd, Keys: make([][]byte, len(req.Keys)), Args: make([][]byte, len(req.Args))}
	for i, k := range req.Keys {
		r.Keys[i] = bytes.Clone(k)
	}
	for i, a := range req.Args {
		r.Args[i] = bytes.Clone(a)
	}
	cl.later = make(chan []byte, 1)
	c.reads.Add(1)
	go func() {
		defer c.reads.Done()
		cl.later <- read(r)
	}()
}

// herdTimeout bounds one herd operation: holds plus backend round trips.
const herdTimeout = 30 * time.Second

// get answers a get/gets whose keys include protected ones, key by
// key in parallel, and returns the whole reply.
func (h herdCmd) get(req *protocol.Request) []byte {
	return h.each(req, h.getKey)
}

// gat answers a gat/gats whose keys include protected ones: a
// protected key is touched and returned only when it is live.
func (h herdCmd) gat(req *protocol.Request) []byte {
	ttl32, _ := protocol.ParseInt32(req.Args[0])
	ttl := int64(ttl32)
	return h.each(req, func(ctx context.Context, key []byte) herd.Result {
		if h.rule(key) == nil {
			return h.plainRead(ctx, &protocol.MetaRequest{Cmd: protocol.CmdMetaGet, Key: key,
				Return: protocol.ReturnValue | protocol.ReturnFlags | protocol.ReturnCAS, TTL: ttl, SetTTL: true})
		}
		h.c.takeLease(key, h.g.Now()) // gat never wins: a refill this reader won is over
		r, err := h.g.GetAndTouch(ctx, h.b, key, ttl)
		if err != nil {
			h.c.s.m.failedKeys.Add(1)
		}
		return r
	})
}

// each reads every distinct key of req with read, in parallel, and
// returns the whole reply. A key asked twice gets one answer twice (two
// reads of one key could split the herd's win and its stale value).
func (h herdCmd) each(req *protocol.Request, read func(ctx context.Context, key []byte) herd.Result) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), herdTimeout)
	defer cancel()
	results := make([]herd.Result, len(req.Keys))
	first := make(map[string]int, len(req.Keys)) // a key asked twice is read once
	var wg sync.WaitGroup
	for i, k := range req.Keys {
		if _, dup := first[string(k)]; dup {
			continue
		}
		first[string(k)] = i
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = read(ctx, k)
		}()
	}
	wg.Wait()
	for i, k := range req.Keys {
		results[i] = results[first[string(k)]]
	}
	var b []byte
	var hits uint64
	withCAS := req.Cmd == protocol.CmdGets || req.Cmd == protocol.CmdGats
	for i, r := range results {
		if !r.Found {
			continue
		}
		hits++
		b = fmt.Appendf(b, "VALUE %s %d %d", req.Keys[i], r.Flags, len(r.Value))
		if withCAS {
			b = fmt.Appendf(b, " %d", r.CAS)
		}
		b = append(append(append(b, "\r\n"...), r.Value...), "\r\n"...)
	}
	h.c.s.m.hits.Add(hits)
	h.c.s.m.misses.Add(uint64(len(req.Keys)) - hits)
	return append(b, replyEnd...)
}

// plainRead reads an unprotected key of a multi-key read as it is.
func (h herdCmd) plainRead(ctx context.Context, req *protocol.MetaRequest) herd.Result {
	r, err := h.b.Meta(ctx, req)
	if err != nil || r.Code != protocol.MetaValue {
		if err != nil {
			h.c.s.m.failedKeys.Add(1)
		}
		return herd.Result{}
	}
	return herd.Result{Found: true, Value: r.Value, Flags: r.Flags, CAS: r.CAS}
}

func (h herdCmd) getKey(ctx context.Context, key []byte) herd.Result {
	rule := h.rule(key)
	if rule == nil {
		return h.plainRead(ctx, &protocol.MetaRequest{Cmd: protocol.CmdGets, Key: key})
	}
	r, err := h.g.Get(ctx, h.b, key, rule)
	if err != nil {
		h.c.s.m.failedKeys.Add(1)
		return herd.Result{}
	}
	if r.Lease.CAS != 0 {
		h.c.grant(key, r.Lease)
	} else {
		h.c.takeLease(key, h.g.Now()) // a win superseded: this reader's next set is a plain one
	}
	return r
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

// takeLease removes and returns this connection's lease on key, and
// whether it is still valid at now.
func (c *client) takeLease(key []byte, now time.Time) (herd.Lease, bool) {
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	l, ok := c.leases[string(key)]
	if ok {
		delete(c.leases, string(key))
	}
	return l, ok && l.Valid(now)
}

// store writes a refill under a lease this connection holds; ok is
// false when the command should go the usual way.
func (h herdCmd) store(req *protocol.Request) (reply []byte, ok bool) {
	l, ok := h.c.takeLease(req.Key(), h.g.Now())
	if !ok {
		return nil, false
	}
	flags, _ := protocol.ParseUint32(req.Args[0])
	exptime, _ := protocol.ParseInt32(req.Args[1])
	ctx, cancel := context.WithTimeout(context.Background(), herdTimeout)
	defer cancel()
	stored, err := h.g.Store(ctx, h.b, req.Key(), req.Data, flags, int64(exptime), l)
	switch {
	case req.Noreply:
		return nil, true
	case err != nil:
		h.c.s.m.serverErrors.Add(1)
		return []byte("SERVER_ERROR " + errText(err) + "\r\n"), true
	case stored:
		return []byte("STORED\r\n"), true
	}
	return []byte("NOT_STORED\r\n"), true
}
