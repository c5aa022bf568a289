// Unit tests of the spool files and what tracking a write costs.
package proxy

import (
	"fmt"
	"testing"

	"github.com/shepherd-proxy/shepherd/proxy/placement"
	"github.com/shepherd-proxy/shepherd/ring"
)

// A spool's file survives its node's close: reopened, the spool holds
// the keys and the overflow an earlier run left.
func TestSpoolFileRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, err := openSpool(dir, "p", "127.0.0.1:1", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		sp.Record([]byte(k))
	}
	sp.Close()
	again, err := openSpool(dir, "p", "127.0.0.1:1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if again.Size() != 2 || !again.Stale([]byte("a")) || again.Pending(func([]byte) bool { return false }) {
		t.Fatalf("reopened: %d keys, pending without an owned key %v; want 2, false", again.Size(), again.Pending(func([]byte) bool { return false }))
	}
	again.Record([]byte("c")) // over the limit
	again.Close()
	if err := markStrays(dir, nil); err != nil {
		t.Fatal(err)
	}
	last, err := openSpool(dir, "p", "127.0.0.1:1", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	if last.Size() != 2 || !last.Pending(func([]byte) bool { return false }) {
		t.Fatalf("reopened after an overflow: %d keys, pending %v; want 2, the overflow", last.Size(), last.Pending(func([]byte) bool { return false }))
	}
}

// BenchmarkTrack is what a write pays after it is done, with no earlier
// ring (past 0) and with one (past 1, as while a pool flaps between two).
func BenchmarkTrack(b *testing.B) {
	for _, past := range []int{0, 1} {
		b.Run(fmt.Sprint("past=", past), func(b *testing.B) {
			p, nodes := benchPool(b, past)
			keys := make([][]byte, 1024)
			owners := make([]*node, len(keys))
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("key:%d", i))
				owners[i] = nodes[p.members().full.Lookup(keys[i])]
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.track(keys[i%len(keys)], owners[i%len(keys)])
			}
		})
	}
}

// benchPool is a pool of 3 nodes (no connections) that had past earlier
// rings of 4.
func benchPool(b *testing.B, past int) (*pool, []*node) {
	dir := b.TempDir()
	p := newPool("main", nil)
	var servers []ring.Node
	var nodes []*node
	for i := 0; i < 4; i++ {
		servers = append(servers, ring.Node{Addr: fmt.Sprintf("127.0.0.1:%d", 10000+i), Weight: 1})
		sp, err := openSpool(dir, "main", servers[i].Addr, DefaultSpoolLimit)
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, &node{addr: servers[i].Addr, sp: sp, pool: p})
	}
	placementOf := func(n int) (*ring.Ring, *layout) {
		r, err := ring.New(servers[:n], ring.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var spools []*spool
		for _, nd := range nodes[:n] {
			spools = append(spools, nd.sp)
		}
		return r, placement.NewLayout(servers[:n], ring.Options{}, r, spools)
	}
	r, pl := placementOf(3)
	m := &members{cfg: &PoolConfig{}, nodes: nodes[:3], full: r, place: pl}
	for i := 0; i < past; i++ {
		_, old := placementOf(4)
		m.past = append(m.past, old)
	}
	rings, err := placement.Build(r, servers[:3], ring.Options{}, placement.Rehash, false, allHealthy{})
	if err != nil {
		b.Fatal(err)
	}
	p.view.Store(&view{m: m, rings: rings})
	return p, nodes
}

// allHealthy is a pool's nodes, all in service.
type allHealthy struct{}

func (allHealthy) Healthy(int) bool        { return true }
func (allHealthy) Divert(int, []byte) bool { return false }
