// Ring behaviour: option checking, remapping when nodes come and go,
// allocation-free lookups.

package ring

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// testNodes returns n nodes of weight 1 on 10.0.0.1..n, port 11211 + i.
func testNodes(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{Addr: fmt.Sprintf("10.0.0.%d:%d", i+1, 11211+i), Weight: 1}
	}
	return nodes
}

func testKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("key:" + strconv.Itoa(i))
	}
	return keys
}

func TestNewErrors(t *testing.T) {
	two := testNodes(2)
	tests := []struct {
		name  string
		nodes []Node
		opts  Options
		want  error
	}{
		{"no nodes", nil, Options{}, ErrNoNodes},
		{"zero weight", []Node{{Addr: "h:1", Weight: 0}}, Options{}, ErrWeight},
		{"negative weight", []Node{{Addr: "h:1", Weight: -3}}, Options{}, ErrWeight},
		{"total weight overflow", []Node{{"h:1", 1 << 30, ""}, {"h:2", 1 << 30, ""}}, Options{}, ErrWeight},
		{"unknown distribution", two, Options{Distribution: "random"}, ErrDistribution},
		{"unknown hash", two, Options{Hash: "sha1"}, ErrHash},
		{"unknown compat", two, Options{Compat: "memcache-java"}, ErrCompat},
		{"compat checked for jump", two, Options{Distribution: "jump", Compat: "x"}, ErrCompat},
		{"one-byte hash tag", two, Options{HashTag: "{"}, ErrHashTag},
		{"three-byte hash tag", two, Options{HashTag: "{}}"}, ErrHashTag},
		{"same address twice", []Node{{"h:1", 1, ""}, {"h:1", 2, ""}}, Options{}, ErrDuplicate},
		{"same name twice", []Node{{"h:1", 1, "a"}, {"h:2", 1, "a"}}, Options{}, ErrDuplicate},
		{"bad address", []Node{{"no-port", 1, ""}}, Options{}, ErrAddr},
		{"bad port", []Node{{"h:99999", 1, ""}}, Options{Distribution: "modula"}, ErrAddr},
		{"bad address libmemcached", []Node{{"h", 1, ""}}, Options{Compat: "libmemcached"}, ErrAddr},
		{"bad address jump", []Node{{"h:1", 1, ""}, {"", 1, ""}}, Options{Distribution: "jump"}, ErrAddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.nodes, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("New(%v, %+v) = %v, %v; want error %v", tt.nodes, tt.opts, r, err, tt.want)
			}
		})
	}
}

// TestNewLimits: the largest legal values are accepted (the limits are
// inclusive).
func TestNewLimits(t *testing.T) {
	cases := []struct {
		name  string
		nodes []Node
		opts  Options
	}{
		{"total weight at the limit", []Node{{"h:1", maxTotalWeight - 1, ""}, {"h:2", 1, ""}}, Options{}},
		{"port 65535, libmemcached", []Node{{"h:65535", 1, ""}, {"h:1", 1, ""}}, Options{Compat: "libmemcached"}},
		{"port 1, libmemcached", []Node{{"h:1", 1, ""}}, Options{Compat: "libmemcached"}},
	}
	for _, c := range cases {
		if _, err := New(c.nodes, c.opts); err != nil {
			t.Errorf("%s: New(%v, %+v) = %v; want no error", c.name, c.nodes, c.opts, err)
		}
	}
	if _, err := New([]Node{{"h:65536", 1, ""}}, Options{Compat: "libmemcached"}); !errors.Is(err, ErrAddr) {
		t.Errorf("port 65536, libmemcached: got %v; want %v", err, ErrAddr)
	}
}

func TestNewAccepts(t *testing.T) {
	for _, opts := range []Options{
		{}, {Distribution: "ketama", Hash: "fnv1a_64", Compat: "twemproxy"},
		{Compat: "libmemcached"}, {Distribution: "jump"}, {Distribution: "modula", HashTag: "$$"},
	} {
		for _, h := range append(Hashes(), "") {
			opts.Hash = h
			if _, err := New(testNodes(3), opts); err != nil {
				t.Errorf("New(%+v): %v", opts, err)
			}
		}
	}
}

// TestRemap: adding or removing one of n equal nodes moves about 1/n of the
// keys, and (consistent hashing's promise) no key moves between two nodes
// that are in both rings.
func TestRemap(t *testing.T) {
	for _, opts := range []Options{
		{}, {Hash: "fnv1a_64"}, {Compat: "libmemcached"}, {Compat: "libmemcached", Hash: "md5"},
		{Distribution: "jump", Hash: "fnv1a_64"}, {Distribution: "jump", Hash: "md5"},
	} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			t.Parallel()
			const n = 10
			// jump can only lose its last bucket consistently.
			removed := 3
			if opts.Distribution == "jump" {
				removed = n - 1
			}
			checkRemap(t, opts, testNodes(n), testNodes(n+1))
			checkRemap(t, opts, testNodes(n), without(testNodes(n), removed))
		})
	}
}

func without(nodes []Node, i int) []Node {
	return append(append([]Node(nil), nodes[:i]...), nodes[i+1:]...)
}

// checkRemap compares placements in rings over before and after, which
// differ by one node, matching nodes by address.
func checkRemap(t *testing.T, opts Options, before, after []Node) {
	t.Helper()
	rb, err := New(before, opts)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := New(after, opts)
	if err != nil {
		t.Fatal(err)
	}
	keys := testKeys(20000)
	moved := 0
	for _, k := range keys {
		from, to := before[rb.Lookup(k)].Addr, after[ra.Lookup(k)].Addr
		if from == to {
			continue
		}
		moved++
		if in(before, to) && in(after, from) {
			t.Fatalf("key %q moved from %s to %s, both in both rings", k, from, to)
		}
	}
	n := max(len(before), len(after))
	want := len(keys) / n
	if moved < want/2 || moved > want*3/2 {
		t.Errorf("%d -> %d nodes moved %d of %d keys; want about %d", len(before), len(after), moved, len(keys), want)
	}
}

func in(nodes []Node, addr string) bool {
	for _, n := range nodes {
		if n.Addr == addr {
			return true
		}
	}
	return false
}

// TestWeightedPointCountFloat32: twemproxy computes a node's share in float32,
// which for 5 nodes of total weight 25 gives weight 1 28 points where exact
// arithmetic gives 32. twemproxy_md5.tsv pins this against nutcracker.
func TestWeightedPointCountFloat32(t *testing.T) {
	tests := []struct{ weight, total, nodes, want int }{
		{1, 1, 1, 160}, {1, 4, 4, 160}, {1, 25, 5, 28}, {4, 25, 5, 124},
		{15, 25, 5, 480}, {11, 28, 7, 436}, {1, 3, 3, 160}, {1, 1000, 2, 0},
	}
	for _, tt := range tests {
		if got := weightedPointCount(tt.weight, tt.total, tt.nodes); got != tt.want {
			t.Errorf("weightedPointCount(%d, %d, %d) = %d; want %d", tt.weight, tt.total, tt.nodes, got, tt.want)
		}
	}
}

func TestWeightsShareKeys(t *testing.T) {
	nodes := []Node{{"10.0.0.1:11211", 1, ""}, {"10.0.0.2:11211", 3, ""}}
	for _, opts := range []Options{{}, {Distribution: "modula"}, {Compat: "libmemcached"}} {
		r, err := New(nodes, opts)
		if err != nil {
			t.Fatal(err)
		}
		heavy := 0
		keys := testKeys(20000)
		for _, k := range keys {
			heavy += r.Lookup(k)
		}
		if share := float64(heavy) / float64(len(keys)); share < 0.70 || share > 0.80 {
			t.Errorf("%+v: weight 3 of 4 node got %.2f of keys; want about 0.75", opts, share)
		}
	}
}

// TestModulaOrder: twemproxy lays out modula slots in server-name order
// (shorter names first), not in the order given.
func TestModulaOrder(t *testing.T) {
	nodes := []Node{{"10.0.0.1:2", 1, "long-name"}, {"10.0.0.2:2", 1, "b"}, {"10.0.0.3:2", 1, "a"}}
	r, err := New(nodes, Options{Distribution: "modula", Hash: "crc16"})
	if err != nil {
		t.Fatal(err)
	}
	// crc16 of one byte b < 0x10 is small enough to pick slot b % 3 directly.
	for b, want := range []int{2, 1, 0} {
		key := []byte{byte(b)}
		if h := hashCRC16(key) % 3; h != uint32(b) {
			t.Fatalf("crc16(%q) %% 3 = %d; the test assumes %d", key, h, b)
		}
		if got := r.Lookup(key); got != want {
			t.Errorf("slot %d: got node %d; want %d", b, got, want)
		}
	}
}

func TestEmptyKeyHashesToZero(t *testing.T) {
	r, _ := New(testNodes(5), Options{Distribution: "modula"})
	if got := r.Lookup(nil); got != 0 {
		t.Errorf("Lookup(nil) = %d; want 0 (hash 0, slot 0)", got)
	}
}

func TestSingleNode(t *testing.T) {
	for _, d := range []string{"ketama", "jump", "modula"} {
		r, err := New([]Node{{"/tmp/mc.sock", 7, ""}}, Options{Distribution: d})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range testKeys(100) {
			if got := r.Lookup(k); got != 0 {
				t.Fatalf("%s: key %q: got node %d; want 0", d, k, got)
			}
		}
	}
}

func TestNodesAndLen(t *testing.T) {
	in := testNodes(3)
	r, _ := New(in, Options{})
	in[0].Addr = "changed:1"
	got := r.Nodes()
	got[1].Addr = "changed:2"
	if r.Len() != 3 || r.Nodes()[0].Addr != "10.0.0.1:11211" || r.Nodes()[1].Addr != "10.0.0.2:11212" {
		t.Errorf("ring shares memory with the caller: Len %d, Nodes %v", r.Len(), r.Nodes())
	}
}

func TestLookupAllocs(t *testing.T) {
	key := []byte("{user:42}:profile:ключ")
	for _, opts := range benchOptions {
		r, err := New(testNodes(16), opts.opts)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { sink = r.Lookup(key) }); n != 0 {
			t.Errorf("%s: Lookup allocates %.1f times; want 0", opts.name, n)
		}
	}
}

// TestConcurrentLookup is for the race detector: a ring is read-only.
func TestConcurrentLookup(t *testing.T) {
	r, _ := New(testNodes(8), Options{HashTag: "{}"})
	want := make([]int, 1000)
	keys := testKeys(len(want))
	for i, k := range keys {
		want[i] = r.Lookup(k)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, k := range keys {
				if got := r.Lookup(k); got != want[i] {
					t.Errorf("key %q: got node %d; want %d", k, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

// TestOptionLists: every value the lists name builds a ring, an unlisted
// one is refused with its sentinel, and WithDefaults names the defaults
// (the first of each list; the hash follows the compat).
func TestOptionLists(t *testing.T) {
	t.Parallel()
	nodes := []Node{{Addr: "127.0.0.1:11211", Weight: 1}, {Addr: "127.0.0.1:11212", Weight: 1}}
	for _, d := range Distributions() {
		for _, c := range Compats() {
			for _, h := range Hashes() {
				if _, err := New(nodes, Options{Distribution: d, Compat: c, Hash: h}); err != nil {
					t.Errorf("New(distribution %s, compat %s, hash %s): %v; want a ring", d, c, h, err)
				}
			}
		}
	}
	for _, tc := range []struct {
		opts Options
		want error
	}{
		{Options{Distribution: "random"}, ErrDistribution},
		{Options{Compat: "spymemcached"}, ErrCompat},
		{Options{Hash: "sha1"}, ErrHash},
	} {
		if _, err := New(nodes, tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("New(%+v): got %v; want %v", tc.opts, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want Options }{
		{Options{}, Options{Distribution: Distributions()[0], Compat: Compats()[0], Hash: "md5"}},
		{Options{Compat: "libmemcached"}, Options{Distribution: "ketama", Compat: "libmemcached", Hash: "one_at_a_time"}},
		{Options{Distribution: "jump", Hash: "crc32", HashTag: "{}"}, Options{Distribution: "jump", Compat: "twemproxy", Hash: "crc32", HashTag: "{}"}},
	} {
		if got := tc.in.WithDefaults(); got != tc.want {
			t.Errorf("%+v.WithDefaults() = %+v; want %+v", tc.in, got, tc.want)
		}
	}
	if got := Hashes(); !slices.IsSorted(got) || len(got) != 12 {
		t.Errorf("Hashes() = %v; want twemproxy's 12 names, sorted", got)
	}
}
