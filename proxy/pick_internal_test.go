// Unit tests of pick, where one key goes now, on a server that is built
// but never started: no I/O and no memcached. Ejections are made through
// health, so these also check that the pool follows its nodes' health
// (pool.watch) before the ejecting call returns.
package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/proxy/backend"
	"github.com/shepherd-proxy/shepherd/ring"
)

// pickPool returns pool "main" of a server that is never started: three
// nodes on ports nothing listens on, onEject, and for gutter a one-node
// pool "g".
func pickPool(t testing.TB, onEject string) *pool {
	t.Helper()
	nodes := func(ports ...int) []ring.Node {
		var ns []ring.Node
		for _, p := range ports {
			ns = append(ns, ring.Node{Addr: fmt.Sprintf("127.0.0.1:%d", p), Weight: 1})
		}
		return ns
	}
	cfg := &Config{
		SpoolDir: t.TempDir(),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Pools: map[string]*PoolConfig{
			"main": {Servers: nodes(1, 2, 3), OnEject: onEject, RetryTimeout: time.Hour},
			"g":    {Servers: nodes(9)},
		},
		DefaultPool: "main",
	}
	if onEject == EjectGutter {
		cfg.Pools["main"].Gutter = "g"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.pools()["main"]
}

// addrOf is n's address, or "no node".
func addrOf(n *node) string {
	if n == nil {
		return "no node"
	}
	return n.addr
}

// owner is the node that owns key in p's full ring.
func owner(p *pool, key []byte) *node {
	m := p.members()
	return m.nodes[m.full.Lookup(key)]
}

func TestPickHealthy(t *testing.T) {
	t.Parallel()
	p := pickPool(t, EjectRehash)
	for i := 0; i < 100; i++ {
		k := []byte(fmt.Sprint("key:", i))
		for _, write := range []bool{false, true} {
			n, gutter, err := p.pick(k, write)
			if n != owner(p, k) || gutter || err != nil {
				t.Fatalf("pick(%s, write %v): got %v, %v, %v; want its owner", k, write, addrOf(n), gutter, err)
			}
		}
	}
}

// Under rehash an ejected node's keys go to the others, and the others'
// keys stay where they are; with every node out there is none.
func TestPickRehash(t *testing.T) {
	t.Parallel()
	p := pickPool(t, EjectRehash)
	out := p.members().nodes[0]
	out.h.Eject(time.Hour)
	if _, live := p.view.Load().rings.Degraded(); len(live) != 2 {
		t.Fatalf("when Eject returned the ring in force had %d nodes; want the 2 healthy", len(live))
	}
	moved := 0
	for i := 0; i < 300; i++ {
		k := []byte(fmt.Sprint("key:", i))
		n, _, err := p.pick(k, false)
		switch o := owner(p, k); {
		case err != nil:
			t.Fatalf("pick(%s): %v", k, err)
		case n == out:
			t.Fatalf("pick(%s) chose the ejected node", k)
		case o == out:
			moved++
		case n != o:
			t.Fatalf("pick(%s): got %s; want its healthy owner %s", k, n.addr, o.addr)
		}
	}
	if moved == 0 || out.failovers.Load() != uint64(moved) {
		t.Fatalf("%d keys moved, %d failovers counted; want some, and one each", moved, out.failovers.Load())
	}
	for _, n := range p.members().nodes[1:] {
		n.h.Eject(time.Hour)
	}
	if _, _, err := p.pick([]byte("key:1"), false); !errors.Is(err, ErrNoNodes) {
		t.Fatalf("every node out: got %v; want ErrNoNodes", err)
	}
}

// A write of an out node's key goes elsewhere and is spooled for the
// owner, whose later reads of it miss (ErrSpooled) until replayed.
func TestPickSpoolsWritesForAnOutNode(t *testing.T) {
	t.Parallel()
	p := pickPool(t, EjectRehash)
	k := []byte("some:key")
	o := owner(p, k)
	o.h.Eject(time.Hour)
	n, _, err := p.pick(k, true)
	if err != nil || n == o {
		t.Fatalf("write while its owner is out: got %v, %v; want another node", addrOf(n), err)
	}
	if !o.sp.Stale(k) {
		t.Fatal("the write was not spooled for the owner")
	}
	o.sp.SetAdmitted(true) // as a readmission does, before the view catches up
	if n, _, err := p.pick(k, true); err != nil || n != o {
		t.Fatalf("write once readmitted: got %v, %v; want the owner", addrOf(n), err)
	}
	// On a node in service, a key its spool holds is a miss for reads,
	// and writes go to it.
	q := pickPool(t, EjectRehash)
	qo := owner(q, k)
	qo.sp.Record(k)
	if _, _, err := q.pick(k, false); !errors.Is(err, ErrSpooled) {
		t.Fatalf("read of a spooled key: got %v; want ErrSpooled", err)
	}
	if n, _, err := q.pick(k, true); err != nil || n != qo {
		t.Fatalf("write of a spooled key: got %v, %v; want the owner", addrOf(n), err)
	}
}

// Under fail an out node's keys fail; under gutter they go to the gutter
// pool, marked so that their TTLs are capped.
func TestPickFailAndGutter(t *testing.T) {
	t.Parallel()
	k := []byte("k")
	f := pickPool(t, EjectFail)
	owner(f, k).h.Eject(time.Hour)
	if !f.view.Load().rings.All() {
		t.Fatal("under fail the ring changed")
	}
	if _, _, err := f.pick(k, false); !errors.Is(err, backend.ErrEjected) {
		t.Fatalf("fail: got %v; want ErrEjected", err)
	}
	g := pickPool(t, EjectGutter)
	owner(g, k).h.Eject(time.Hour)
	n, gutter, err := g.pick(k, false)
	if err != nil || !gutter || n.addr != "127.0.0.1:9" {
		t.Fatalf("gutter: got %v, %v, %v; want the gutter node, marked", addrOf(n), gutter, err)
	}
	if g.interim(k) != n {
		t.Fatal("interim does not name the gutter node that stood in")
	}
}

// BenchmarkPick is what routing one key costs: every node in, and one
// node out under rehash.
func BenchmarkPick(b *testing.B) {
	for _, out := range []bool{false, true} {
		b.Run(fmt.Sprint("out=", out), func(b *testing.B) {
			p := pickPool(b, EjectRehash)
			if out {
				p.members().nodes[0].h.Eject(time.Hour)
			}
			keys := make([][]byte, 1024)
			for i := range keys {
				keys[i] = []byte(fmt.Sprintf("key:%d", i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.pick(keys[i%len(keys)], false)
			}
		})
	}
}
