// Reload: a new config applied to a running server. A node whose pool
// and address stay is kept as it is, with its connections, health and
// spool; new addresses get new nodes; removed ones are retired once the
// requests in flight to them are answered. Each pool swaps its nodes and
// ring in one atomic step, and the routes and herd rules in force swap in
// one step after that; a command loads them once, as it starts, so none
// sees a pool or the routes half changed. Before a pool's ring changes,
// the nodes that gain keys are brought up to date on those they may hold
// old values of (see placement.go and prepare in replay.go).
package proxy

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/shepherd-proxy/shepherd/proxy/placement"
	"github.com/shepherd-proxy/shepherd/ring"
)

// ErrNeedsRestart is wrapped by Reload's errors for the settings that only
// a restart can change.
var ErrNeedsRestart = errors.New("proxy: only a restart can change this setting")

// ErrClosed is Reload's error once the server is closed.
var ErrClosed = errors.New("proxy: server closed")

// retireGrace is how long a node a reload removed still takes requests:
// those that picked it just before the swap.
const retireGrace = time.Second

// Reload validates cfg and puts it in force. It applies live: pools added
// and removed, each pool's servers (weights and names too), ring options,
// timeout, connect_timeout, on_eject, gutter and gutter_ttl; routes,
// default_pool, herd rules and max_connections. It rejects cfg, changing
// nothing, when cfg is invalid or when it changes what only a restart can
// (an error wrapping ErrNeedsRestart): listen, admin, spool_dir,
// spool_limit, max_item_size, a pool's listen, and a kept pool's per-node
// settings (connections, max_inflight, failure_limit, retry_timeout,
// retry_max).
//
// When a pool's servers change, Reload first copies to each node the
// values of the keys it is about to own and may hold old values of (keys
// written elsewhere since it last owned them), at most 10 s a pool; then
// it swaps the ring, and deletes on the nodes what was written meanwhile.
//
// Client connections stay open and in-flight requests finish normally.
// When the herd rules change, a new herd group replaces the old one:
// readers held on the old group finish there (a fill through the new group
// does not wake them early), and the herd counters restart from zero.
//
// The server owns cfg from then on (cfg.Logger is not used: the server
// keeps its logger). Reload is safe for concurrent use; reloads run one at
// a time.
func (s *Server) Reload(cfg *Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	cur := s.live.Load()
	if err := reloadable(cur.cfg, cfg); err != nil {
		return err
	}
	ch, err := s.plan(cur, cfg)
	if err != nil {
		return err
	}
	s.apply(ch)
	s.log.Info("config reloaded",
		"pools", len(ch.next.pools), "pools_added", strings.Join(ch.poolsAdded, " "), "pools_removed", strings.Join(ch.poolsRemoved, " "),
		"nodes_added", nodeNames(ch.added), "nodes_removed", nodeNames(ch.removed), "nodes_kept", ch.kept,
		"herd_changed", ch.herdChanged)
	return nil
}

// change is a reload worked out before anything is swapped.
type change struct {
	next         *state
	members      map[*pool]*members // every pool's new members
	dropped      map[*pool][]*layout
	added        []*node // new nodes, not started yet
	removed      []*node // nodes of cur that next has not
	kept         int
	poolsAdded   []string
	poolsRemoved []string
	herdChanged  bool
}

// plan builds the state cfg asks for out of cur, reusing cur's pools by
// name and their nodes by address. It changes nothing in force: new pools
// get their members at once (no client can reach them before apply), and
// new nodes are not started.
func (s *Server) plan(cur *state, cfg *Config) (*change, error) {
	next := &state{cfg: cfg, pools: map[string]*pool{}, herd: cur.herd, herdReg: cur.herdReg}
	ch := &change{next: next, members: map[*pool]*members{}, dropped: map[*pool][]*layout{}}
	for _, name := range sortedNames(cfg.Pools) {
		next.pools[name] = cur.pools[name]
		if next.pools[name] == nil {
			next.pools[name] = newPool(name, s.log)
			ch.poolsAdded = append(ch.poolsAdded, name)
		}
	}
	for _, name := range sortedNames(cfg.Pools) {
		p := next.pools[name]
		m, err := s.newMembers(p, cfg, next.pools, ch)
		if err != nil {
			for _, n := range ch.added {
				n.close()
			}
			return nil, err
		}
		ch.members[p] = m
		if p.view.Load() == nil {
			p.setMembers(m)
		}
	}
	if cur.pools == nil { // the first config: see markStrays
		if err := markStrays(cfg.SpoolDir, spoolPaths(ch.members)); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedNames(cur.pools) {
		if p := cur.pools[name]; next.pools[name] != p {
			ch.poolsRemoved = append(ch.poolsRemoved, name)
			ch.removed = append(ch.removed, p.members().nodes...)
		}
	}
	next.route = newRouter(cfg, next.pools)
	if !reflect.DeepEqual(cur.cfg.Herd, cfg.Herd) {
		ch.herdChanged = true
		next.herd, next.herdReg = s.newHerd(cfg.Herd)
	}
	return ch, nil
}

// newMembers builds p's members as cfg configures them, keeping the nodes
// p has now at addresses that stay and noting in ch what comes and goes.
func (s *Server) newMembers(p *pool, cfg *Config, pools map[string]*pool, ch *change) (*members, error) {
	pc := cfg.Pools[p.name]
	r, err := ring.New(pc.Servers, pc.Ring)
	if err != nil {
		return nil, fmt.Errorf("proxy: pool %q: %w", p.name, err)
	}
	m := &members{cfg: pc, full: r, gutter: pools[pc.Gutter]}
	if m.sec, err = newTransport(pc); err != nil { // rereads certificates and password: SIGHUP rotates them
		return nil, fmt.Errorf("proxy: pool %q: %w", p.name, err)
	}
	var old []*node
	prev := p.view.Load()
	if prev != nil {
		old = prev.m.nodes
	}
	had := map[string]*node{}
	for _, n := range old {
		had[n.addr] = n
	}
	for _, srv := range pc.Servers {
		n := had[srv.Addr]
		if n != nil {
			delete(had, srv.Addr)
			ch.kept++
		} else {
			sp, err := p.spoolFor(cfg, srv.Addr)
			if err != nil {
				return nil, err
			}
			n = newNode(p, pc, srv, sp, s.m)
			ch.added = append(ch.added, n)
		}
		m.nodes = append(m.nodes, n)
	}
	var spools []*spool
	for _, n := range m.nodes {
		spools = append(spools, n.sp)
	}
	m.place = placement.NewLayout(pc.Servers, pc.Ring, r, spools)
	all := earlier(prev)
	if prev == nil {
		if all, err = p.loadHistory(cfg, pc.Servers); err != nil {
			return nil, err
		}
	}
	m.past, ch.dropped[p] = placement.Past(all, m.place.Sig)
	for _, n := range old {
		if had[n.addr] == n {
			ch.removed = append(ch.removed, n)
		}
	}
	return m, nil
}

// apply puts a planned change in force: it starts the added nodes (once
// the server runs), swaps each pool's members and then the state, and
// retires the nodes no longer configured.
func (s *Server) apply(ch *change) {
	for _, n := range ch.added {
		n.sp.SetDeparted(false)
		if s.running {
			n.io.Start()
		}
	}
	if cur := s.live.Load(); ch.herdChanged && ch.next.herd != nil {
		switch {
		case cur != nil && cur.herd != nil && !cur.herd.Meta():
			ch.next.herd.DisableMeta()
		case s.running:
			s.detectMeta(ch.next.herd, ch.next.pools)
		}
	}
	if s.running {
		for p, m := range ch.members {
			p.prepare(m)
		}
	}
	for p, m := range ch.members {
		p.setMembers(m)
	}
	s.live.Store(ch.next)
	for p, m := range ch.members {
		p.forget(m, ch.dropped[p])
		if err := saveHistory(ch.next.cfg.SpoolDir, p.name, m); err != nil {
			s.log.Warn("saving the pool's rings; a restart will flush the nodes that left it if they return", "pool", p.name, "err", err)
		}
		if s.running {
			p.settle()
			go p.settleLater(s.quit)
		}
	}
	for _, n := range ch.removed {
		n.sp.SetDeparted(true)
		s.m.backendLatency.DeleteLabelValues(n.pool.name, n.addr)
		go func() {
			n.retire(s.quit)
			s.loopsForget(n)
		}()
	}
}

// retire stops a node a reload removed. For retireGrace it still takes
// requests (those that picked it just before the swap); then it refuses
// new ones, waits for those in flight to be answered and closes. Send
// counts a request in flight before it checks stopped, and retire sets
// stopped before it reads the count, so every request either fails at
// once or is waited for: none is queued on a closed connection.
func (n *node) retire(quit <-chan struct{}) {
	defer n.close()
	n.h.Close()
	select {
	case <-time.After(retireGrace):
	case <-quit:
		return
	}
	n.io.Stop()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for n.io.Inflight() > 0 {
		select {
		case <-t.C:
		case <-quit:
			return
		}
	}
}

// reloadable returns an error wrapping ErrNeedsRestart when cfg changes a
// setting of old that only a restart can change.
func reloadable(old, cfg *Config) error {
	err := unchanged("", []setting{
		{"listen", old.Listen, cfg.Listen},
		{"admin", old.Admin, cfg.Admin},
		{"spool_dir", old.SpoolDir, cfg.SpoolDir},
		{"spool_limit", old.SpoolLimit, cfg.SpoolLimit},
		{"max_item_size", old.MaxItemSize, cfg.MaxItemSize},
		{"listener access (client_tls, socket_*, allow_unauthenticated_remote)", listenSummary(old), listenSummary(cfg)},
	})
	if err != nil {
		return err
	}
	for _, name := range sortedNames(old.Pools) {
		if cfg.Pools[name] == nil && old.Pools[name].Listen != "" {
			return fmt.Errorf("%w: pool %q has its own listener (%s); it cannot be removed", ErrNeedsRestart, name, old.Pools[name].Listen)
		}
	}
	for _, name := range sortedNames(cfg.Pools) {
		if err := poolReloadable(name, old.Pools[name], cfg.Pools[name]); err != nil {
			return err
		}
	}
	return nil
}

// poolReloadable checks a pool of the new config against the old one
// (nil for a new pool).
func poolReloadable(name string, old, pc *PoolConfig) error {
	if old == nil {
		if pc.Listen != "" {
			return fmt.Errorf("%w: new pool %q has its own listener (%s)", ErrNeedsRestart, name, pc.Listen)
		}
		return nil
	}
	return unchanged(fmt.Sprintf("pool %q: ", name), []setting{
		{"listen", old.Listen, pc.Listen},
		{"connections", old.Connections, pc.Connections},
		{"max_inflight", old.MaxInflight, pc.MaxInflight},
		{"failure_limit", old.FailureLimit, pc.FailureLimit},
		{"retry_timeout", old.RetryTimeout, pc.RetryTimeout},
		{"retry_max", old.RetryMax, pc.RetryMax},
		{"tls/auth", secureMode(old), secureMode(pc)}, // open connections would keep the old mode
	})
}

// setting is a config value before and after a reload.
type setting struct {
	name     string
	was, now any
}

// unchanged returns an error wrapping ErrNeedsRestart for the first
// setting that changed.
func unchanged(where string, settings []setting) error {
	for _, st := range settings {
		if st.was != st.now {
			return fmt.Errorf("%w: %s%s %s → %s", ErrNeedsRestart, where, st.name, show(st.was), show(st.now))
		}
	}
	return nil
}

// show renders a setting's value: strings quoted, so that "" shows.
func show(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// spoolPaths returns the files of the spools the pools keep.
func spoolPaths(members map[*pool]*members) map[string]bool {
	paths := map[string]bool{}
	for p := range members {
		p.spoolMu.Lock()
		for _, sp := range p.spools {
			paths[sp.path] = true
		}
		p.spoolMu.Unlock()
	}
	return paths
}

// nodeNames lists nodes as pool/address for the reload log line.
func nodeNames(nodes []*node) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.pool.name + "/" + n.addr
	}
	return strings.Join(names, " ")
}
