package ring

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestLookupCached: through one cache shared by rings that hash
// differently (md5, fnv1a_64, a hash tag, jump, other nodes), every key
// lands where Lookup puts it, on the first lookup (a miss) and on the next
// (a hit), also once more keys than slots have replaced one another, and
// for keys that are never cached (empty, longer than sumsKeyMax).
func TestLookupCached(t *testing.T) {
	rings := map[string]*Ring{}
	for name, o := range map[string]Options{
		"md5":            {Hash: "md5"},
		"md5 tagged":     {Hash: "md5", HashTag: "{}"},
		"fnv1a_64":       {Hash: "fnv1a_64"},
		"fnv1a_64 {}":    {Hash: "fnv1a_64", HashTag: "{}"},
		"fnv1a_64 []":    {Hash: "fnv1a_64", HashTag: "[]"},
		"jump crc32":     {Distribution: "jump", Hash: "crc32"},
		"libmemcached":   {Compat: "libmemcached"},
		"md5 13 nodes":   {Hash: "md5"},
		"modula murmur":  {Distribution: "modula", Hash: "murmur"},
		"one_at_a_time":  {Hash: "one_at_a_time"},
		"md5 other tags": {Hash: "md5", HashTag: "<>"},
	} {
		n := 5
		if name == "md5 13 nodes" {
			n = 13
		}
		r, err := New(testNodes(n), o)
		if err != nil {
			t.Fatal(name, err)
		}
		rings[name] = r
	}
	rng := rand.New(rand.NewPCG(3, 12))
	var keys [][]byte
	for i := range 3 * sumsSlots {
		keys = append(keys, fmt.Appendf(nil, "k{%d}:%d", i%97, i))
	}
	for _, n := range []int{0, 1, 2, 63, 64, 65, 200} {
		k := make([]byte, n)
		for i := range k {
			k[i] = byte(rng.IntN(256))
		}
		keys = append(keys, k)
	}
	s := NewSums()
	for round := range 3 {
		for i, k := range keys {
			for name, r := range rings {
				if got, want := r.LookupCached(k, s), r.Lookup(k); got != want {
					t.Fatalf("round %d, key %d %q, %s: LookupCached %d, Lookup %d", round, i, k, name, got, want)
				}
			}
		}
	}
	if got, want := rings["md5"].LookupCached(keys[0], nil), rings["md5"].Lookup(keys[0]); got != want {
		t.Errorf("nil cache: %d; want %d", got, want)
	}
}

// TestSumsSlots: a key up to sumsKeyMax bytes is kept whole with the sum
// Lookup hashes (after its tag), and found again; a longer key and the
// empty key leave the slots as they were.
func TestSumsSlots(t *testing.T) {
	r, err := New(testNodes(3), Options{Hash: "md5", HashTag: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSums()
	held := func() (n int) {
		for _, sl := range s.slots {
			if sl.n > 0 {
				n++
			}
		}
		return n
	}
	long := bytes.Repeat([]byte("x"), sumsKeyMax+1)
	r.LookupCached(long, s)
	r.LookupCached(nil, s)
	fnv, err := New(testNodes(3), Options{Hash: "fnv1a_64"})
	if err != nil {
		t.Fatal(err)
	}
	fnv.LookupCached([]byte("cheap"), s) // cheaper to hash than to cache
	if n := held(); n != 0 {
		t.Fatalf("%d slots taken by keys that are not cached", n)
	}
	key := append([]byte("{user:7}"), bytes.Repeat([]byte("y"), sumsKeyMax-8)...)
	r.LookupCached(key, s)
	if n := held(); n != 1 {
		t.Fatalf("%d slots taken after one key of %d bytes; want 1", n, len(key))
	}
	for _, sl := range s.slots {
		if sl.n == 0 {
			continue
		}
		if !bytes.Equal(sl.key[:sl.n], key) || sl.sum != hashMD5([]byte("user:7")) || sl.spec != r.spec {
			t.Errorf("slot holds %q, sum %d, spec %+v; want the key, md5 of its tag %d, spec %+v",
				sl.key[:sl.n], sl.sum, sl.spec, hashMD5([]byte("user:7")), r.spec)
		}
	}
	// A hit reads the slot: poison its sum and the lookup follows it.
	for i := range s.slots {
		if s.slots[i].n > 0 {
			s.slots[i].sum = 0
		}
	}
	if got, want := r.LookupCached(key, s), r.pick.pick(0); got != want {
		t.Errorf("hit: node %d; want %d, the owner of the slot's sum", got, want)
	}
	if specOf("md5", [2]byte{}, false) == specOf("fnv1a_64", [2]byte{}, false) {
		t.Error("md5 and fnv1a_64 share a spec")
	}
}

func TestLookupCachedAllocs(t *testing.T) {
	r, _ := New(testNodes(4), Options{})
	s := NewSums()
	keys := testKeys(64)
	i := 0
	if n := testing.AllocsPerRun(1000, func() { sink = r.LookupCached(keys[i%64], s); i++ }); n != 0 {
		t.Errorf("LookupCached allocates %.1f times a lookup", n)
	}
}

func BenchmarkLookupCached(b *testing.B) {
	keys := testKeys(1024)
	for _, n := range []int{4, 64} {
		r, _ := New(testNodes(n), Options{Hash: "md5"})
		s := NewSums()
		b.Run(fmt.Sprintf("ketama/md5/nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				sink = r.LookupCached(keys[i&1023], s)
			}
		})
	}
}
