// Lookup benchmarks: every distribution, small and large pools.

package ring

import (
	"fmt"
	"testing"
)

// sink keeps the compiler from discarding benchmarked lookups.
var sink int

var benchOptions = []struct {
	name string
	opts Options
}{
	{"ketama/md5", Options{Hash: "md5"}},
	{"ketama/fnv1a_64", Options{Hash: "fnv1a_64"}},
	{"ketama/fnv1a_64/hashtag", Options{Hash: "fnv1a_64", HashTag: "{}"}},
	{"ketama-libmemcached/one_at_a_time", Options{Compat: "libmemcached"}},
	{"jump/fnv1a_64", Options{Distribution: "jump", Hash: "fnv1a_64"}},
	{"modula/fnv1a_64", Options{Distribution: "modula", Hash: "fnv1a_64"}},
}

func BenchmarkLookup(b *testing.B) {
	keys := testKeys(1024)
	for _, bo := range benchOptions {
		for _, n := range []int{4, 64} {
			r, err := New(testNodes(n), bo.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/nodes=%d", bo.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					sink = r.Lookup(keys[i&1023])
				}
			})
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for _, n := range []int{4, 64} {
		b.Run(fmt.Sprintf("ketama/nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, _ := New(testNodes(n), Options{})
				sink = r.Len()
			}
		})
	}
}
