// Placements: the rings a pool has had (placement.Layout, with its nodes'
// spools). A node may still hold values for the keys it owned in an
// earlier ring; when such a key is written on another node, the old
// owner's spool records it, so that before the old owner serves the key
// again (a rollback, a flapping deploy, a node added a second time) the
// value is brought up to date. A reload is then the same event as an
// ejection and readmission. This file keeps them per pool and on disk.
package proxy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/shepherd-proxy/shepherd/proxy/placement"
	"github.com/shepherd-proxy/shepherd/ring"
)

// track is called for every write once it is done (or failed, so may
// have happened) on n: for every placement (the ring in force, earlier
// rings, and the rings that routed around ejected nodes, whose stand-ins
// hold copies) whose owner of key is another node, that node's copy is
// now old and its spool records the key. An owner that serves the key
// now (the write was sent under an older ring) deletes it soon.
func (p *pool) track(key []byte, n *node) {
	v := p.view.Load()
	if v.m.place == nil {
		return
	}
	if owner := v.m.nodes[v.m.full.Lookup(key)]; owner != n {
		owner.sp.Record(key)
		if owner.h.Healthy() {
			owner.settleSoon()
		}
	}
	for _, list := range [][]*layout{v.m.past, v.recent} {
		for _, pl := range list {
			if sp := pl.Owner(key); sp != n.sp {
				sp.Record(key)
			}
		}
	}
	if v.standIns != nil {
		if sp := v.standIns.Owner(key); sp != n.sp {
			sp.Record(key)
		}
	}
}

// earlier returns the placements a pool had up to v, newest first: the
// rings that routed around ejected nodes, v's own and its past.
func earlier(v *view) []*layout {
	if v == nil || v.m.place == nil {
		return nil
	}
	var all []*layout
	if v.standIns != nil {
		all = append(all, v.standIns)
	}
	all = append(all, v.recent...)
	return append(append(all, v.m.place), v.m.past...)
}

// recentStandIns returns the stand-in rings to remember in a view that
// follows prev over the same members: prev's own and its recent ones,
// without cur's, at most maxPast.
func recentStandIns(prev *view, cur *view) []*layout {
	if prev == nil || prev.m != cur.m {
		return nil // a reload: the new members' past holds them
	}
	all := prev.recent
	if prev.standIns != nil {
		all = append([]*layout{prev.standIns}, all...)
	}
	sig := cur.m.place.Sig
	if cur.standIns != nil {
		sig = cur.standIns.Sig
	}
	recent, _ := placement.Past(all, sig)
	return recent
}

// degraded returns the layout of v's ring when it routes around ejected
// nodes (rehash), else nil.
func degraded(v *view) *layout {
	r, live := v.rings.Degraded()
	if r == nil {
		return nil
	}
	var servers []ring.Node
	var spools []*spool
	for _, i := range live {
		servers = append(servers, v.m.cfg.Servers[i])
		spools = append(spools, v.m.nodes[i].sp)
	}
	return placement.NewLayout(servers, v.m.cfg.Ring, r, spools)
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
func (p *pool) forget(m *members, dropped []*layout) {
	if len(dropped) == 0 {
		return
	}
	kept := map[*spool]bool{}
	for _, pl := range append([]*layout{m.place}, m.past...) {
		for _, sp := range pl.Nodes {
			kept[sp] = true
		}
	}
	p.spoolMu.Lock()
	defer p.spoolMu.Unlock()
	for _, pl := range dropped {
		for _, sp := range pl.Nodes {
			p.drop(sp, kept[sp])
		}
	}
}

func (p *pool) drop(sp *spool, kept bool) {
	if kept {
		sp.MarkFlush()
		return
	}
	for addr, s := range p.spools {
		if s == sp {
			delete(p.spools, addr)
			sp.Forget()
			p.log.Info("no longer tracking a node that left the pool; it will be flushed if it returns", "pool", p.name, "node", addr)
		}
	}
}

// savedPlacement is a placement as the history file keeps it.
type savedPlacement struct {
	Servers []ring.Node
	Ring    ring.Options
}

func historyPath(dir, pool string) string { return filepath.Join(dir, pool+".rings") }

// saveHistory keeps m's placements (the one in force first) in the spool
// directory, so that a restart goes on tracking them.
func saveHistory(dir, pool string, m *members) error {
	var saved []savedPlacement
	for _, pl := range append([]*layout{m.place}, m.past...) {
		saved = append(saved, savedPlacement{pl.Servers, pl.Opts})
	}
	b, err := json.Marshal(saved)
	if err != nil {
		return err
	}
	path := historyPath(dir, pool)
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// loadHistory returns the placements an earlier run of the pool saved,
// with their nodes' spools; those of nodes not in servers are departed.
// An unreadable file is logged and ignored: the nodes it named are then
// not tracked (see markStrays).
func (p *pool) loadHistory(cfg *Config, servers []ring.Node) ([]*layout, error) {
	b, err := os.ReadFile(historyPath(cfg.SpoolDir, p.name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var saved []savedPlacement
	if err == nil {
		err = json.Unmarshal(b, &saved)
	}
	if err != nil {
		p.log.Warn("ignoring the pool's saved rings", "pool", p.name, "err", err)
		return nil, nil
	}
	var all []*layout
	for _, sv := range saved {
		r, err := ring.New(sv.Servers, sv.Ring)
		if err != nil {
			continue
		}
		var spools []*spool
		for _, srv := range sv.Servers {
			sp, err := p.spoolFor(cfg, srv.Addr)
			if err != nil {
				return nil, err
			}
			sp.SetDeparted(!slices.ContainsFunc(servers, func(n ring.Node) bool { return n.Addr == srv.Addr }))
			spools = append(spools, sp)
		}
		all = append(all, placement.NewLayout(sv.Servers, sv.Ring, r, spools))
	}
	return all, nil
}
