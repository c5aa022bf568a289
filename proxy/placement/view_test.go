package placement

import (
	"fmt"
	"slices"
	"testing"

	"github.com/shepherd-proxy/shepherd/ring"
)

// nodes is a pool's nodes as placement sees them: which are in service,
// which have been readmitted (their spool no longer diverts writes), and
// the keys diverted to each spool.
type nodes struct {
	out      map[int]bool
	admitted map[int]bool
	diverted map[int][]string
}

func newNodes(out ...int) *nodes {
	n := &nodes{out: map[int]bool{}, admitted: map[int]bool{}, diverted: map[int][]string{}}
	for _, i := range out {
		n.out[i] = true
	}
	return n
}

func (n *nodes) Healthy(i int) bool { return !n.out[i] }

func (n *nodes) Divert(i int, key []byte) bool {
	if n.admitted[i] {
		return false
	}
	n.diverted[i] = append(n.diverted[i], string(key))
	return true
}

// servers is a pool of size nodes.
func servers(size int) []ring.Node {
	var ns []ring.Node
	for i := range size {
		ns = append(ns, ring.Node{Addr: fmt.Sprintf("127.0.0.1:%d", 11211+i), Weight: 1})
	}
	return ns
}

func mustRing(t *testing.T, ns []ring.Node) *ring.Ring {
	t.Helper()
	r, err := ring.New(ns, ring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// build returns the full ring of a pool of 3 and its view with out out.
func build(t *testing.T, policy Policy, gutter bool, ns *nodes) (*ring.Ring, *View) {
	t.Helper()
	srv := servers(3)
	full := mustRing(t, srv)
	v, err := Build(full, srv, ring.Options{}, policy, gutter, ns)
	if err != nil {
		t.Fatal(err)
	}
	return full, v
}

func keys(n int) [][]byte {
	var ks [][]byte
	for i := range n {
		ks = append(ks, []byte(fmt.Sprint("key:", i)))
	}
	return ks
}

// Every node in: under every policy the ring in force is the full one and
// every key, read or written, goes to its owner; no write is diverted.
func TestServeHealthy(t *testing.T) {
	for _, policy := range []Policy{Rehash, Gutter, Fail} {
		ns := newNodes()
		full, v := build(t, policy, true, ns)
		if !v.All() {
			t.Fatalf("policy %d, all in: All() = false; want true", policy)
		}
		if r, live := v.Degraded(); r != nil || live != nil {
			t.Fatalf("policy %d, all in: Degraded() = %v, %v; want nil", policy, r, live)
		}
		for _, k := range keys(100) {
			for _, write := range []bool{false, true} {
				o := full.Lookup(k)
				if c := v.Serve(k, write, ns); c != (Choice{Route: Owner, Node: o, Owner: o}) || c.Failover() {
					t.Fatalf("policy %d: Serve(%s, write %v) = %+v; want its owner %d, no failover", policy, k, write, c, o)
				}
			}
		}
		if len(ns.diverted) != 0 {
			t.Fatalf("policy %d: writes diverted with every node in: %v", policy, ns.diverted)
		}
	}
}

// Under rehash the ring in force holds the healthy nodes: an out node's
// keys go to them (in that ring's order), the others' keys stay, and a
// write of an out node's key is diverted to its spool.
func TestServeRehash(t *testing.T) {
	ns := newNodes(1)
	full, v := build(t, Rehash, false, ns)
	r, live := v.Degraded()
	if v.All() || r == nil || !slices.Equal(live, []int{0, 2}) {
		t.Fatalf("node 1 out: All() %v, Degraded() %v, %v; want a ring of nodes 0 and 2", v.All(), r, live)
	}
	want := mustRing(t, []ring.Node{servers(3)[0], servers(3)[2]})
	moved := 0
	for _, k := range keys(300) {
		o := full.Lookup(k)
		for _, write := range []bool{false, true} {
			c := v.Serve(k, write, ns)
			if o != 1 {
				if c != (Choice{Route: Owner, Node: o, Owner: o}) {
					t.Fatalf("Serve(%s, write %v) = %+v; want its healthy owner %d", k, write, c, o)
				}
				continue
			}
			if s := live[want.Lookup(k)]; c != (Choice{Route: StandIn, Node: s, Owner: 1}) || !c.Failover() {
				t.Fatalf("Serve(%s, write %v) = %+v; want stand-in %d for owner 1, a failover", k, write, c, s)
			}
			if write {
				moved++
			}
		}
		if i, ok := v.Rehashed(k); !ok || i != live[want.Lookup(k)] {
			t.Fatalf("Rehashed(%s) = %d, %v; want %d", k, i, ok, live[want.Lookup(k)])
		}
		if rt, i := v.Interim(k); rt != StandIn || i != live[want.Lookup(k)] {
			t.Fatalf("Interim(%s) = %d, %d; want stand-in %d", k, rt, i, live[want.Lookup(k)])
		}
	}
	if moved == 0 || len(ns.diverted[1]) != moved || len(ns.diverted) != 1 {
		t.Fatalf("%d writes of node 1's keys, %d diverted (to %d spools); want one each, all to node 1's", moved, len(ns.diverted[1]), len(ns.diverted))
	}
}

// A node readmitted before the view catches up serves its keys again: a
// read once health says so, a write once its spool stops diverting.
func TestServeReadmittedBeforeTheView(t *testing.T) {
	ns := newNodes(1)
	full, v := build(t, Rehash, false, ns)
	var k []byte
	for _, c := range keys(100) {
		if full.Lookup(c) == 1 {
			k = c
			break
		}
	}
	ns.admitted[1] = true // the replay admitted it; health has not yet
	if c := v.Serve(k, true, ns); c != (Choice{Route: Owner, Node: 1, Owner: 1}) {
		t.Fatalf("write once admitted: %+v; want owner 1", c)
	}
	if c := v.Serve(k, false, ns); c.Route != StandIn {
		t.Fatalf("read once admitted, not yet healthy: %+v; want a stand-in", c)
	}
	ns.out[1] = false
	for _, write := range []bool{false, true} {
		if c := v.Serve(k, write, ns); c != (Choice{Route: Owner, Node: 1, Owner: 1}) || c.Failover() {
			t.Fatalf("write %v once healthy: %+v; want owner 1", write, c)
		}
	}
	if len(ns.diverted) != 0 {
		t.Fatalf("diverted %v; want nothing", ns.diverted)
	}
}

// Under rehash with every node out no node may serve: not a failover.
func TestServeNoNodes(t *testing.T) {
	ns := newNodes(0, 1, 2)
	full, v := build(t, Rehash, false, ns)
	if v.All() {
		t.Fatal("every node out: All() = true; want false")
	}
	if r, live := v.Degraded(); r != nil || live != nil {
		t.Fatalf("every node out: Degraded() = %v, %v; want nil", r, live)
	}
	for _, k := range keys(50) {
		o := full.Lookup(k)
		for _, write := range []bool{false, true} {
			if c := v.Serve(k, write, ns); c != (Choice{Route: None, Node: -1, Owner: o}) || c.Failover() {
				t.Fatalf("Serve(%s, write %v) = %+v; want none, owner %d, no failover", k, write, c, o)
			}
		}
		if i, ok := v.Rehashed(k); ok || i != -1 {
			t.Fatalf("Rehashed(%s) = %d, %v; want -1, false", k, i, ok)
		}
		if rt, i := v.Interim(k); rt != None || i != -1 {
			t.Fatalf("Interim(%s) = %d, %d; want none", k, rt, i)
		}
	}
	ns.admitted[2] = true
	for _, k := range keys(50) {
		if o := full.Lookup(k); o == 2 {
			if c := v.Serve(k, true, ns); c != (Choice{Route: Owner, Node: 2, Owner: 2}) {
				t.Fatalf("write of node 2's key once it is admitted: %+v; want node 2", c)
			}
		}
	}
}

// While the ring in force is the full one an out owner's keys go by the
// policy: to the gutter pool, nowhere (fail), or under rehash to the ring
// that is being rebuilt. Writes are diverted, and go to the owner when it
// was just readmitted.
func TestServeOwnerOutOfTheFullRing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  Policy
		gutter  bool
		route   Route
		interim Route
	}{
		{"gutter", Gutter, true, ToGutter, ToGutter},
		{"gutter without a gutter pool", Gutter, false, Refused, None},
		{"fail", Fail, true, Refused, None},
		{"rehash, the ring not yet rebuilt", Rehash, false, Rebuilding, None},
	} {
		ns := newNodes()
		full, v := build(t, tc.policy, tc.gutter, ns)
		ns.out[0] = true // after the view was built
		if !v.All() {
			t.Fatalf("%s: All() = false; want true", tc.name)
		}
		n := 0
		for _, k := range keys(100) {
			o := full.Lookup(k)
			for _, write := range []bool{false, true} {
				c := v.Serve(k, write, ns)
				switch {
				case o != 0 && c != (Choice{Route: Owner, Node: o, Owner: o}):
					t.Fatalf("%s: Serve(%s, write %v) = %+v; want its healthy owner %d", tc.name, k, write, c, o)
				case o == 0 && (c != (Choice{Route: tc.route, Node: -1, Owner: 0}) || !c.Failover()):
					t.Fatalf("%s: Serve(%s, write %v) = %+v; want route %d for owner 0, a failover", tc.name, k, write, c, tc.route)
				case o == 0 && write:
					n++
				}
			}
			if rt, i := v.Interim(k); rt != tc.interim || i != -1 {
				t.Fatalf("%s: Interim(%s) = %d, %d; want %d, -1", tc.name, k, rt, i, tc.interim)
			}
			if i, ok := v.Rehashed(k); ok || i != -1 {
				t.Fatalf("%s: Rehashed(%s) = %d, %v; want -1, false", tc.name, k, i, ok)
			}
		}
		if n == 0 || len(ns.diverted[0]) != n || len(ns.diverted) != 1 {
			t.Fatalf("%s: %d writes of node 0's keys, %d diverted to it (%d spools); want one each", tc.name, n, len(ns.diverted[0]), len(ns.diverted))
		}
		ns.admitted[0] = true
		for _, k := range keys(100) {
			if full.Lookup(k) == 0 {
				if c := v.Serve(k, true, ns); c != (Choice{Route: Owner, Node: 0, Owner: 0}) || c.Failover() {
					t.Fatalf("%s: write once node 0 is admitted: %+v; want node 0", tc.name, c)
				}
				if c := v.Serve(k, false, ns); c.Route != tc.route {
					t.Fatalf("%s: read once node 0 is admitted, not yet healthy: %+v; want route %d", tc.name, c, tc.route)
				}
			}
		}
	}
}

// Under gutter and fail the ring never changes, whatever is out.
func TestBuildKeepsTheFullRing(t *testing.T) {
	for _, policy := range []Policy{Gutter, Fail} {
		for _, out := range [][]int{{0}, {0, 1, 2}} {
			_, v := build(t, policy, true, newNodes(out...))
			if !v.All() {
				t.Errorf("policy %d, %v out: All() = false; want the full ring", policy, out)
			}
		}
	}
}

// A ring that cannot be built comes with the full one and the error.
func TestBuildError(t *testing.T) {
	srv := servers(2)
	full := mustRing(t, srv)
	srv[1].Weight = 0 // no longer valid: the ring of node 1 alone fails
	v, err := Build(full, srv, ring.Options{}, Rehash, false, newNodes(0))
	if err == nil || v == nil || !v.All() {
		t.Fatalf("Build of an invalid ring: %v, %v; want the full ring and an error", v, err)
	}
}

func TestFailover(t *testing.T) {
	for r, want := range map[Route]bool{Owner: false, StandIn: true, ToGutter: true, Rebuilding: true, None: false, Refused: true} {
		if got := (Choice{Route: r}).Failover(); got != want {
			t.Errorf("route %d: Failover() = %v; want %v", r, got, want)
		}
	}
}
