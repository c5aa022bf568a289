// Placements: the rings a pool has had. A node may still hold values for
// the keys it owned in an earlier ring; when such a key is written on
// another node, the old owner's spool records it, so that before the old
// owner serves the key again (a rollback, a flapping deploy, a node added
// a second time) the value is brought up to date. A reload is then the
// same event as an ejection and readmission.
package proxy

import (
	"fmt"
	"slices"

	"github.com/shepherd-proxy/shepherd/ring"
)

// maxPast is how many earlier placements (distinct sets of servers) a
// pool tracks. When one falls out, its nodes' spools overflow: the
// departed ones are flushed if they return, the members at their next
// reload.
const maxPast = 8

// placement is one ring a pool had, with the spool of each node it names.
// Immutable.
type placement struct {
	sig    string // servers and ring options: equal rings, equal sig
	spools []*spool
	lookup func(key []byte) int
}

// signature identifies the ring a pool config builds.
func signature(pc *PoolConfig) string {
	return fmt.Sprintf("%+v|%+v", pc.Servers, pc.Ring)
}

// owner returns the spool of key's owner in this placement.
func (pl *placement) owner(key []byte) *spool { return pl.spools[pl.lookup(key)] }

// track is called for every write once it is done (or failed, so may
// have happened) on n: for every placement, current or past, whose owner
// of key is another node, that node's copy is now old and its spool
// records the key.
func (p *pool) track(key []byte, n *node) {
	m := p.members()
	if m.place == nil {
		return
	}
	if sp := m.place.owner(key); sp != n.sp {
		sp.record(key)
	}
	for _, pl := range m.past {
		if sp := pl.owner(key); sp != n.sp {
			sp.record(key)
		}
	}
}

// history returns the placements to track after prev when cur is in
// force: the ring prev routed by when some of its nodes were ejected
// (their stand-ins hold copies), prev's own and its past, newest first,
// without cur's and without repeats, at most maxPast; and those that fell
// out.
func history(prev *view, cur string) (past, dropped []*placement) {
	if prev == nil || prev.m.place == nil {
		return nil, nil
	}
	all := append([]*placement{prev.m.place}, prev.m.past...)
	if pl := degraded(prev); pl != nil {
		all = append([]*placement{pl}, all...)
	}
	seen := map[string]bool{cur: true}
	for _, pl := range all {
		switch {
		case seen[pl.sig]:
		case len(past) == maxPast:
			dropped = append(dropped, pl)
		default:
			past = append(past, pl)
		}
		seen[pl.sig] = true
	}
	return past, dropped
}

// degraded returns the placement of v's ring when it routes around
// ejected nodes (rehash), else nil.
func degraded(v *view) *placement {
	if v.all || v.ring == nil {
		return nil
	}
	pl := &placement{lookup: v.ring.Lookup}
	var servers []ring.Node
	for i, n := range v.m.nodes {
		if slices.Contains(v.nodes, n) {
			servers = append(servers, v.m.cfg.Servers[i])
			pl.spools = append(pl.spools, n.sp)
		}
	}
	pl.sig = fmt.Sprintf("%+v|%+v", servers, v.m.cfg.Ring)
	return pl
}

// spoolFor returns the spool of the node at addr: the one the pool keeps
// (the node is a member, or left and is still tracked), else the file's.
func (p *pool) spoolFor(cfg *Config, addr string) (*spool, error) {
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	if sp := p.spools[addr]; sp != nil {
		return sp, nil
	}
	sp, err := openSpool(cfg.SpoolDir, p.name, addr, cfg.SpoolLimit)
	if err != nil {
		return nil, err
	}
	p.spools[addr] = sp
	return sp, nil
}

// forget stops tracking the placements a reload dropped: nodes no longer
// named by m lose their spool (forgotten: flushed if they ever return);
// members' spools overflow, so that they are flushed at the next reload
// rather than trusted for keys no placement tracks any more.
func (p *pool) forget(m *members, dropped []*placement) {
	if len(dropped) == 0 {
		return
	}
	kept := map[*spool]bool{}
	for _, pl := range append([]*placement{m.place}, m.past...) {
		for _, sp := range pl.spools {
			kept[sp] = true
		}
	}
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	for _, pl := range dropped {
		for _, sp := range pl.spools {
			p.drop(sp, kept[sp])
		}
	}
}

func (p *pool) drop(sp *spool, kept bool) {
	if kept {
		sp.markFlush()
		return
	}
	for addr, s := range p.spools {
		if s == sp {
			delete(p.spools, addr)
			sp.forget()
			p.log.Info("no longer tracking a node that left the pool; it will be flushed if it returns", "pool", p.name, "node", addr)
		}
	}
}
