package ring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// searchPick is pick as a binary search over the whole circle, the
// definition the arc index must agree with.
func searchPick(c *continuum, h uint32) int {
	i, _ := slices.BinarySearch(c.values, h)
	if i == len(c.values) {
		i = 0
	}
	return int(c.owners[i])
}

// TestPickIndex: the arc index finds the owner a binary search finds, for
// circles of every small size, with points on arc edges, at 0 and at the
// top, equal values and clusters, asked at every point, next to every
// point, on every arc edge and at random.
func TestPickIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 2026))
	circles := map[string][]uint32{
		"one":          {7},
		"one at zero":  {0},
		"one at top":   {math.MaxUint32},
		"two equal":    {9, 9},
		"ends":         {0, math.MaxUint32},
		"arc edges":    {0, 1 << 30, 1 << 31, 3 << 30},
		"cluster":      {100, 101, 102, 103, 104, 105, 106, 107, 1 << 31},
		"high cluster": {math.MaxUint32 - 3, math.MaxUint32 - 2, math.MaxUint32 - 1, math.MaxUint32},
	}
	for _, n := range []int{3, 5, 16, 17, 160, 480, 1000} {
		v := make([]uint32, n)
		for i := range v {
			v[i] = rng.Uint32()
		}
		circles[fmt.Sprintf("random %d", n)] = v
	}
	for name, values := range circles {
		pts := make([]point, len(values))
		for i, v := range values {
			pts[i] = point{value: v, node: int32(i % 7)}
		}
		c := sortPoints(pts)
		asks := []uint32{0, 1, math.MaxUint32, math.MaxUint32 - 1}
		for _, v := range c.values {
			asks = append(asks, v, v-1, v+1)
		}
		for a := range len(c.starts) - 1 {
			edge := uint32(uint64(a) << c.shift)
			asks = append(asks, edge, edge-1, edge+1)
		}
		for range 2000 {
			asks = append(asks, rng.Uint32())
		}
		for _, h := range asks {
			if got, want := c.pick(h), searchPick(c, h); got != want {
				t.Fatalf("%s: pick(%d) = %d; binary search gives %d (values %v)", name, h, got, want, c.values)
			}
		}
		// The index's shape: the smallest power of two of arcs that is at
		// least the points (about one point an arc, not a linear search),
		// covering the circle exactly, each point in its own arc.
		arcs := len(c.starts) - 1
		if arcs < len(c.values) || arcs&(arcs-1) != 0 || arcs > 1 && arcs/2 >= len(c.values) {
			t.Errorf("%s: %d arcs for %d points; want the smallest power of two at least the points", name, arcs, len(c.values))
		}
		if uint64(arcs)<<c.shift != 1<<32 {
			t.Errorf("%s: %d arcs with shift %d do not cover the circle", name, arcs, c.shift)
		}
		for a := range arcs {
			for i := c.starts[a]; i < c.starts[a+1]; i++ {
				if int(c.values[i]>>c.shift) != a {
					t.Errorf("%s: point %d (%d) indexed in arc %d", name, i, c.values[i], a)
				}
			}
		}
	}
}
