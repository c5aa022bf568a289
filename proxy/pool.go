// Pools and nodes: the ring of a pool, its backend nodes, their health and
// how a key finds the node that serves it now.
package proxy

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-proxy/shepherd/health"
	"github.com/shepherd-proxy/shepherd/proxy/backend"
	"github.com/shepherd-proxy/shepherd/proxy/placement"
	"github.com/shepherd-proxy/shepherd/ring"
)

// Errors for keys whose node may not be used.
var (
	ErrNoNodes = errors.New("proxy: every node of the pool is ejected")
	ErrSpooled = errors.New("proxy: the node may hold an older value of the key")
)

// Ejection policies.
const (
	EjectRehash = "rehash"
	EjectGutter = "gutter"
	EjectFail   = "fail"
)

// policies maps OnEject to the placement policy.
var policies = map[string]placement.Policy{EjectRehash: placement.Rehash, EjectGutter: placement.Gutter, EjectFail: placement.Fail}

// node is one backend memcached server: its I/O (package backend), its
// health, its spool and its counters.
type node struct {
	addr string // as configured: host:port or a unix socket path
	pool *pool
	io   *backend.Node
	h    *health.Node
	sp   *spool
	reg  *prometheus.Registry // its metrics, gathered while it is in service
	quit chan struct{}        // closed when the node stops for good

	settling  atomic.Bool // a settleSoon is pending
	closeOnce sync.Once

	rejected   atomic.Uint64 // refused at once: max_inflight reached
	errors     atomic.Uint64
	failovers  atomic.Uint64 // requests for its keys served elsewhere while it was out
	copies     atomic.Uint64 // values copied to it from stand-ins by replays
	deletes    atomic.Uint64 // keys deleted on it by replays
	latency    prometheus.Observer
	resolveErr atomic.Pointer[string] // why its host name did not resolve at start; nil when it did (resolve.go)

	tlsFailures  atomic.Uint64          // TLS handshakes that failed (tls.go)
	authFailures atomic.Uint64          // logins the node refused
	secureState  atomic.Pointer[string] // how the last connection's TLS and login went; nil before the first
}

// newNode builds a node of p with cfg's per-node settings (connections,
// max_inflight, health), which it keeps for life, and sp its spool. It
// does no I/O. The pool follows the node's health (pool.watch).
func newNode(p *pool, cfg *PoolConfig, rn ring.Node, sp *spool, m *metrics) *node {
	n := &node{addr: rn.Addr, pool: p, sp: sp, quit: make(chan struct{})}
	n.latency = m.backendLatency.WithLabelValues(p.name, rn.Addr)
	n.io = backend.NewNode(rn.Addr, backend.Config{
		Connections: cfg.Connections,
		MaxInflight: cfg.MaxInflight,
		Timeouts: func() (time.Duration, time.Duration) {
			c := p.settings()
			return c.ConnectTimeout, c.Timeout
		},
		Secure:  func(nc net.Conn) (net.Conn, error) { return n.secure(p.members(), nc) },
		Redial:  func(err error) bool { return errors.Is(err, errResumeRefused) }, // resumption is off now: once more, with a full handshake
		Serving: func() bool { return n.h.Healthy() },
		Done:    n.finished,
	})
	n.h = health.NewNode(health.Config{
		FailureLimit: cfg.FailureLimit,
		RetryTimeout: cfg.RetryTimeout,
		RetryMax:     cfg.RetryMax,
		ProbeTimeout: cfg.ConnectTimeout + cfg.Timeout, // a node slower than requests may be stays out
		Probe:        n.io.Probe,
		Readmit:      n.readmit,
	})
	p.watch(n)
	nm := &metrics{reg: prometheus.NewRegistry()} // only its registry: see Server.gather
	nm.registerNode(n)
	nm.registerHealth(n)
	n.reg = nm.reg
	return n
}

func (n *node) start() {
	n.io.Start()
	go n.checkSecure()
	go n.checkResolve()
	if n.sp.Pending(func(k []byte) bool { return n.pool.members().owns(n, k) }) {
		n.pool.log.Warn("node has a spool from an earlier run; replaying it before use", "pool", n.pool.name, "node", n.addr, "keys", n.sp.Size())
		n.h.Eject(time.Millisecond)
	}
}

// close stops the node for good: its prober and its backend connections,
// failing what is queued on them. Its spool stays with the pool.
func (n *node) close() {
	n.closeOnce.Do(func() {
		n.io.Stop()
		n.h.Close()
		n.io.Close()
		close(n.quit)
	})
}

// finished is called once per op when it completes, before its client
// sees the reply. A write is tracked (see pool.track). A failure of the
// node itself (not a protocol answer, not our own saturation) counts
// toward ejection, and the key of a failed write is spooled.
func (n *node) finished(o *backend.Op) { n.account(o.WriteKey, o.Err, o.Start()) }

// account is finished for any request to the node, whoever did its I/O:
// writeKey is the key of a write (nil for a read), err its outcome, start
// when it was sent.
func (n *node) account(writeKey []byte, err error, start time.Time) {
	if len(writeKey) > 0 && !errors.Is(err, backend.ErrBusy) {
		n.pool.track(writeKey, n)
	}
	if err == nil || errors.Is(err, backend.ErrClientStalled) { // the node answered in full
		n.h.Success()
		n.latency.Observe(time.Since(start).Seconds())
		return
	}
	n.errors.Add(1)
	if errors.Is(err, backend.ErrBusy) {
		n.rejected.Add(1)
	}
	if len(writeKey) > 0 {
		n.spoolFailed(writeKey, err)
	}
	if errors.Is(err, backend.ErrBusy) || errors.Is(err, backend.ErrClosed) || errors.Is(err, backend.ErrEjected) {
		return
	}
	n.h.Failure()
}

// spoolFailed spools the key of a write that failed on the node: it may
// have happened, or may yet (a hung node applies what was sent to it when
// it resumes), so the key is deleted before the node serves it again.
func (n *node) spoolFailed(key []byte, err error) {
	switch {
	case errors.Is(err, backend.ErrBusy): // refused: never sent
	case errors.Is(err, backend.ErrEjected): // never sent, but the node was out
		n.sp.Record(key)
	default:
		n.sp.RecordFailed(key)
		n.settleSoon()
	}
}

// watch makes p follow n's health: the spool's admission, the log, and
// the ring clients use. It runs on the goroutine that changed the state
// (see health.Node.Subscribe), so an ejection has rebuilt the ring before
// the failing request returns.
func (p *pool) watch(n *node) {
	n.h.Subscribe(func(from, to health.State) {
		switch to {
		case health.Ejected:
			n.sp.SetAdmitted(false)
			if from == health.Healthy {
				p.log.Warn("node ejected", "pool", p.name, "node", n.addr, "policy", p.settings().OnEject)
			}
		case health.Healthy:
			p.log.Info("node readmitted", "pool", p.name, "node", n.addr)
		}
		p.rebuild()
		go p.settle() // a stand-in may serve keys it holds old copies of
	})
}

// members is a pool's configuration and the nodes that serve it, as one
// config (or reload) made them. Immutable: a reload builds new members and
// swaps them in with a new view.
type members struct {
	cfg    *PoolConfig
	sec    *transport // TLS and login for new connections; nil: plain
	nodes  []*node    // in cfg.Servers order
	full   *ring.Ring // every node, whatever its health: who owns a key
	gutter *pool      // with on_eject: gutter
	place  *layout    // full, with the nodes' spools
	past   []*layout
}

// layout is a ring a pool has had, with its nodes' spools.
type layout = placement.Layout[*spool]

// owns reports whether n owns key in the members' full ring.
func (m *members) owns(n *node, key []byte) bool { return m.nodes[m.full.Lookup(key)] == n }

// Healthy reports whether node i is in service (for placement).
func (m *members) Healthy(i int) bool { return m.nodes[i].h.Healthy() }

// Divert records key in node i's spool unless it was just readmitted
// (for placement; see placement.Spool.Divert).
func (m *members) Divert(i int, key []byte) bool { return m.nodes[i].sp.Divert(key) }

// view is one version of a pool's members with the rings their health
// makes (package placement decides from them where a key goes).
// Immutable.
type view struct {
	m     *members
	rings *placement.View

	standIns *layout   // the ring in force, when it routes around ejected nodes
	recent   []*layout // earlier such rings of the same members, newest first
}

// pool is a named set of nodes behind one ring. It lives as long as its
// name is configured; reloads change its members. The view is the only
// mutable part, so a client sees a pool's members and ring change together.
type pool struct {
	name string
	log  *slog.Logger
	view atomic.Pointer[view]

	rebuildMu sync.Mutex // serializes view rebuilds and member changes

	spoolMu sync.Mutex        // guards spools
	spools  map[string]*spool // by address: members' and departed nodes' still tracked
}

func newPool(name string, log *slog.Logger) *pool {
	return &pool{name: name, log: log, spools: map[string]*spool{}}
}

// members returns the pool's current members.
func (p *pool) members() *members { return p.view.Load().m }

// settings returns the pool's current configuration.
func (p *pool) settings() *PoolConfig { return p.members().cfg }

func (p *pool) start() {
	for _, n := range p.members().nodes {
		n.start()
	}
}

func (p *pool) close() {
	for _, n := range p.members().nodes {
		n.close()
	}
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	for _, sp := range p.spools {
		sp.Close()
	}
}

// rebuild swaps in the ring clients should use now. Under rehash it holds
// only healthy nodes; under gutter and fail the ring never changes, and
// pick sends an out node's keys elsewhere.
func (p *pool) rebuild() {
	p.rebuildMu.Lock()
	defer p.rebuildMu.Unlock()
	p.store(p.viewOf(p.members()))
}

// setMembers swaps in a reload's members, and the view of them.
func (p *pool) setMembers(m *members) {
	p.rebuildMu.Lock()
	defer p.rebuildMu.Unlock()
	p.store(p.viewOf(m))
}

// store swaps in v, remembering the stand-in rings before it.
func (p *pool) store(v *view) {
	if v.m.place != nil {
		v.standIns = degraded(v)
	}
	if v.m.place != nil {
		v.recent = recentStandIns(p.view.Load(), v)
	}
	p.view.Store(v)
}

// viewOf returns the view of m for its nodes' health now.
func (p *pool) viewOf(m *members) *view {
	rings, err := placement.Build(m.full, m.cfg.Servers, m.cfg.Ring, policies[m.cfg.OnEject], m.gutter != nil, m)
	if err != nil { // cannot happen: a subset of a valid ring is valid
		p.log.Error("rebuilding ring", "pool", p.name, "err", err)
	}
	return &view{m: m, rings: rings}
}

// pick returns the node that serves key now. write says the request
// changes the key; a write whose owner is out is spooled for the owner.
// gutter reports that the node is a stand-in whose TTLs must be capped.
// A read of a key the node's spool holds fails with ErrSpooled: the node
// may have an older value than the last write, and a miss is better.
func (p *pool) pick(key []byte, write bool) (n *node, gutter bool, err error) {
	return p.pickCached(key, write, nil)
}

// pickCached is pick with the key's hash taken from, and kept in, sums
// (an event loop's cache; nil for none).
func (p *pool) pickCached(key []byte, write bool, sums *ring.Sums) (n *node, gutter bool, err error) {
	n, gutter, err = p.servingCached(key, write, sums)
	if err == nil && !write && n.sp.Stale(key) {
		return nil, false, ErrSpooled
	}
	return n, gutter, err
}

// serving is pick without the spool check: placement decides, and this
// finds the node, or asks the gutter pool.
func (p *pool) serving(key []byte, write bool) (n *node, gutter bool, err error) {
	return p.servingCached(key, write, nil)
}

func (p *pool) servingCached(key []byte, write bool, sums *ring.Sums) (n *node, gutter bool, err error) {
	v := p.view.Load()
	c := v.rings.ServeCached(key, write, v.m, sums)
	if c.Failover() {
		v.m.nodes[c.Owner].failovers.Add(1)
	}
	switch c.Route {
	case placement.Owner, placement.StandIn:
		return v.m.nodes[c.Node], false, nil
	case placement.ToGutter:
		n, _, err := v.m.gutter.pickCached(key, write, sums)
		return n, err == nil, err
	case placement.Rebuilding: // use the ring that routes around the owner if it is there now
		now := p.view.Load()
		if i, ok := now.rings.Rehashed(key); ok {
			return now.m.nodes[i], false, nil
		}
	case placement.None:
		return nil, false, ErrNoNodes
	}
	return nil, false, backend.ErrEjected
}

// markFlushDeparted makes the return of every node that left the pool
// (and is still tracked) a flush: flush_all was sent while it was away.
func (p *pool) markFlushDeparted() {
	members := map[*spool]bool{}
	for _, n := range p.members().nodes {
		members[n.sp] = true
	}
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	for _, sp := range p.spools {
		if !members[sp] {
			sp.MarkFlush()
		}
	}
}

// interim returns the node that stood in for owner's key while it was
// out, or nil.
func (p *pool) interim(key []byte) *node {
	v := p.view.Load()
	switch r, i := v.rings.Interim(key); r {
	case placement.ToGutter:
		n, _, _ := v.m.gutter.pick(key, false)
		return n
	case placement.StandIn:
		return v.m.nodes[i]
	}
	return nil
}

// lookup returns the node serving key for a read, or nil; sums as in
// pickCached.
func (p *pool) lookup(key []byte, sums *ring.Sums) *node {
	n, _, _ := p.pickCached(key, false, sums)
	return n
}

// router picks a pool for a key: the longest matching route prefix, else
// the default pool. A listener bound to one pool bypasses it.
type router = placement.Router[*pool]
