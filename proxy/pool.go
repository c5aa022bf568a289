// Pools and nodes: the ring of a pool, its backend nodes, their health and
// how a key finds the node that serves it now.
package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-proxy/shepherd/health"
	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/ring"
)

// Errors for keys whose node may not be used.
var (
	ErrNodeEjected = errors.New("proxy: node ejected")
	ErrNoNodes     = errors.New("proxy: every node of the pool is ejected")
)

// Ejection policies.
const (
	EjectRehash = "rehash"
	EjectGutter = "gutter"
	EjectFail   = "fail"
)

// node is one backend memcached server.
type node struct {
	addr    string // as configured: host:port or a unix socket path
	network string
	index   int // in pool.nodes and the pool's full ring
	pool    *pool
	conns   []*backendConn
	maxIn   int64
	h       *health.Node
	sp      *spool

	inflight   atomic.Int64
	requests   atomic.Uint64 // written to the node
	errors     atomic.Uint64
	connErrors atomic.Uint64
	dials      atomic.Uint64
	failovers  atomic.Uint64 // requests for its keys served elsewhere while it was out
	copies     atomic.Uint64 // values copied to it from stand-ins by replays
	deletes    atomic.Uint64 // keys deleted on it by replays
	latency    prometheus.Observer
}

func newNode(p *pool, i int, rn ring.Node, m *metrics) *node {
	n := &node{addr: rn.Addr, index: i, network: "tcp", pool: p, maxIn: int64(p.cfg.MaxInflight)}
	if strings.HasPrefix(rn.Addr, "/") || strings.HasPrefix(rn.Addr, "unix:") {
		n.network = "unix"
	}
	n.latency = m.backendLatency.WithLabelValues(p.cfg.Name, rn.Addr)
	perConn := p.cfg.MaxInflight / p.cfg.Connections
	for i := 0; i < p.cfg.Connections; i++ {
		n.conns = append(n.conns, newBackendConn(n, perConn+1, p.quit))
	}
	n.h = health.NewNode(health.Config{
		FailureLimit: p.cfg.FailureLimit,
		RetryTimeout: p.cfg.RetryTimeout,
		RetryMax:     p.cfg.RetryMax,
		ProbeTimeout: max(p.cfg.Timeout, p.cfg.ConnectTimeout) * 4,
		Probe:        n.probe,
		Readmit:      n.readmit,
		OnChange:     n.stateChanged,
	})
	return n
}

func (n *node) start() {
	for _, c := range n.conns {
		go c.writeLoop()
	}
	if n.sp.pending() {
		n.pool.log.Warn("node has a spool from an earlier run; replaying it before use", "pool", n.pool.cfg.Name, "node", n.addr, "keys", n.sp.size())
		n.h.Eject(time.Millisecond)
	}
}

// send queues o for the node on the connection that lane picks; o is
// finished with an error when the node is saturated. The reply arrives
// within the pool's timeout. One client always uses one lane, so that its
// pipelined commands to a node run in the order it sent them.
func (n *node) send(o *op, lane uint32) {
	o.start = time.Now()
	o.deadline = o.start.Add(n.pool.cfg.Timeout)
	if n.inflight.Add(1) > n.maxIn {
		o.finish(ErrBackendBusy)
		return
	}
	c := n.conns[int(lane)%len(n.conns)]
	if !c.enqueue(o) {
		o.finish(ErrBackendBusy)
	}
}

// finished is called once per op when it completes. A failure of the node
// itself (not a protocol answer, not our own saturation) counts toward
// ejection, and the key of a failed write is spooled: the write may or may
// not have happened, so the key is deleted before the node is trusted again.
func (n *node) finished(o *op) {
	n.inflight.Add(-1)
	if o.err == nil {
		n.h.Success()
		n.latency.Observe(time.Since(o.start).Seconds())
		return
	}
	n.errors.Add(1)
	if len(o.writeKey) > 0 && !errors.Is(o.err, ErrBackendBusy) {
		n.sp.record(o.writeKey)
	}
	if errors.Is(o.err, ErrBackendBusy) || errors.Is(o.err, ErrBackendClosed) || errors.Is(o.err, ErrNodeEjected) {
		return
	}
	n.h.Failure()
}

// dial opens a new wire connection and starts its reader.
func (n *node) dial() (*wireConn, error) {
	n.dials.Add(1)
	nc, err := n.connect()
	if err != nil {
		n.connErrors.Add(1)
		return nil, n.wrap(err)
	}
	w := &wireConn{n: n, nc: nc, br: bufio.NewReaderSize(nc, 32<<10)}
	go w.readLoop()
	return w, nil
}

func (n *node) connect() (net.Conn, error) {
	d := net.Dialer{Timeout: n.pool.cfg.ConnectTimeout}
	nc, err := d.DialContext(context.Background(), n.network, strings.TrimPrefix(n.addr, "unix:"))
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
	}
	return nc, nil
}

// probe asks the node for its version on a fresh connection.
func (n *node) probe(ctx context.Context) error {
	nc, err := n.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	if _, err := nc.Write([]byte("version\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("proxy: probe of %s: unexpected %q", n.addr, strings.TrimSpace(line))
	}
	return nil
}

// stateChanged keeps the spool and the pool's ring in step with health.
func (n *node) stateChanged(from, to health.State) {
	switch to {
	case health.Ejected:
		n.sp.setAdmitted(false)
		if from == health.Healthy {
			n.pool.log.Warn("node ejected", "pool", n.pool.cfg.Name, "node", n.addr, "policy", n.pool.cfg.OnEject)
		}
	case health.Healthy:
		n.pool.log.Info("node readmitted", "pool", n.pool.cfg.Name, "node", n.addr)
	}
	n.pool.rebuild()
}

// view is an immutable pairing of a ring with the nodes its indexes name.
type view struct {
	ring  *ring.Ring // nil when no node may be used
	nodes []*node
	all   bool // every node is in: the ring is the pool's full ring
}

// pool is a named set of nodes behind one ring.
type pool struct {
	cfg    *PoolConfig
	log    *slog.Logger
	nodes  []*node
	full   *ring.Ring // every node, whatever its health: who owns a key
	view   atomic.Pointer[view]
	gutter *pool
	quit   chan struct{}

	rebuildMu sync.Mutex // serializes view rebuilds
}

func newPool(cfg *PoolConfig, s *Server) (*pool, error) {
	p := &pool{cfg: cfg, log: s.log, quit: s.quit}
	r, err := ring.New(cfg.Servers, cfg.Ring)
	if err != nil {
		return nil, fmt.Errorf("proxy: pool %q: %w", cfg.Name, err)
	}
	p.full = r
	for i, srv := range cfg.Servers {
		n := newNode(p, i, srv, s.m)
		if n.sp, err = openSpool(s.cfg.SpoolDir, cfg.Name, srv.Addr, s.cfg.SpoolLimit); err != nil {
			return nil, err
		}
		p.nodes = append(p.nodes, n)
	}
	p.view.Store(&view{ring: r, nodes: p.nodes, all: true})
	return p, nil
}

func (p *pool) start() {
	for _, n := range p.nodes {
		n.start()
	}
}

func (p *pool) close() {
	for _, n := range p.nodes {
		n.h.Close()
		n.sp.close()
	}
}

// rebuild swaps in the ring clients should use now. Under rehash it holds
// only healthy nodes; under gutter and fail the ring never changes, and
// pick sends an out node's keys elsewhere.
func (p *pool) rebuild() {
	p.rebuildMu.Lock()
	defer p.rebuildMu.Unlock()
	var live []*node
	var servers []ring.Node
	for i, n := range p.nodes {
		if n.h.Healthy() {
			live = append(live, n)
			servers = append(servers, p.cfg.Servers[i])
		}
	}
	switch {
	case len(live) == len(p.nodes) || p.cfg.OnEject != EjectRehash:
		p.view.Store(&view{ring: p.full, nodes: p.nodes, all: true})
	case len(live) == 0:
		p.view.Store(&view{})
	default:
		r, err := ring.New(servers, p.cfg.Ring)
		if err != nil { // cannot happen: a subset of a valid ring is valid
			p.log.Error("rebuilding ring", "pool", p.cfg.Name, "err", err)
			return
		}
		p.view.Store(&view{ring: r, nodes: live})
	}
}

// pick returns the node that serves key now. write says the request
// changes the key; a write whose owner is out is spooled for the owner.
// gutter reports that the node is a stand-in whose TTLs must be capped.
func (p *pool) pick(key []byte, write bool) (n *node, gutter bool, err error) {
	v := p.view.Load()
	if v.all {
		n = v.nodes[v.ring.Lookup(key)]
		if n.h.Healthy() {
			return n, false, nil
		}
		return p.standIn(n, key, write)
	}
	owner := p.nodes[p.full.Lookup(key)]
	if owner.h.Healthy() || (write && !owner.sp.divert(key)) {
		return owner, false, nil // readmitted while the view catches up
	}
	if v.ring == nil {
		return nil, false, ErrNoNodes
	}
	owner.failovers.Add(1)
	return v.nodes[v.ring.Lookup(key)], false, nil
}

// standIn handles a key whose owner is out under the gutter and fail
// policies (and under rehash in the moment before the ring is rebuilt).
func (p *pool) standIn(owner *node, key []byte, write bool) (*node, bool, error) {
	if write && !owner.sp.divert(key) {
		return owner, false, nil
	}
	owner.failovers.Add(1)
	switch {
	case p.cfg.OnEject == EjectGutter && p.gutter != nil:
		n, _, err := p.gutter.pick(key, write)
		return n, err == nil, err
	case p.cfg.OnEject == EjectRehash:
		// The ejection is rebuilding the ring right now; use it if it is there.
		if v := p.view.Load(); !v.all && v.ring != nil {
			return v.nodes[v.ring.Lookup(key)], false, nil
		}
	}
	return nil, false, ErrNodeEjected
}

// interim returns the node that stood in for owner's key while it was
// out, or nil.
func (p *pool) interim(key []byte) *node {
	switch {
	case p.cfg.OnEject == EjectGutter && p.gutter != nil:
		n, _, _ := p.gutter.pick(key, false)
		return n
	case p.cfg.OnEject == EjectRehash:
		if v := p.view.Load(); v.ring != nil && !v.all {
			return v.nodes[v.ring.Lookup(key)]
		}
	}
	return nil
}

// lookup returns the node serving key for a read, or nil.
func (p *pool) lookup(key []byte) *node {
	n, _, _ := p.pick(key, false)
	return n
}

// router picks a pool for a key: the longest matching route prefix, else
// the default pool. A listener bound to one pool bypasses it.
type router struct {
	routes []routeEntry // longest prefix first
	def    *pool
}

type routeEntry struct {
	prefix string
	pool   *pool
}

func (r *router) pool(key []byte) *pool {
	for _, e := range r.routes {
		if len(key) >= len(e.prefix) && string(key[:len(e.prefix)]) == e.prefix {
			return e.pool
		}
	}
	return r.def
}

// routeKey returns the bytes a request key hashes by (decoding base64
// meta keys into scratch).
func routeKey(req *protocol.Request, key []byte, scratch *[]byte) []byte {
	if !req.Base64 {
		return key
	}
	k := protocol.RouteKey(req, key, *scratch)
	*scratch = k[:0]
	return k
}
