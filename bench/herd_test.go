// Tests of the herd scenario's bookkeeping: misses and fills are charged
// to the delete that caused them.
package bench

import (
	"net/url"
	"testing"
	"time"
)

func TestOriginFillCarriesItsMissTime(t *testing.T) {
	t.Parallel()
	o := &origin{start: time.Now().Add(-2 * time.Second)}
	f := o.arrived(url.Values{"by": {"client"}, "miss_ns": {"900000000"}})
	if !f.byClient || f.cause != 900*time.Millisecond || f.at < 2*time.Second {
		t.Fatalf("got %+v; want a client fill arriving after 2s caused at 0.9s", f)
	}
	f = o.arrived(url.Values{"by": {"shepherd"}})
	if f.byClient || f.cause != f.at {
		t.Fatalf("got %+v; want a shepherd fill caused when it arrived", f)
	}
	f = o.arrived(url.Values{"by": {"client"}, "miss_ns": {"99000000000"}})
	if f.cause != f.at {
		t.Fatalf("miss after arrival: got cause %v; want the arrival %v", f.cause, f.at)
	}
}

func TestStormsChargeTheDeleteThatCausedThem(t *testing.T) {
	t.Parallel()
	h := &Herd{Duration: 4 * time.Second, Invalidate: []time.Duration{time.Second, 2500 * time.Millisecond}}
	r := &herdRun{h: h, storms: []*recorder{newRecorder(time.Now(), time.Second), newRecorder(time.Now(), time.Second)}}
	r.misses = []time.Duration{1010 * time.Millisecond, 2490 * time.Millisecond, 2510 * time.Millisecond}
	fills := []fill{
		{at: 2600 * time.Millisecond, cause: 2490 * time.Millisecond, byClient: true}, // slow refill of the first storm
		{at: 2550 * time.Millisecond, cause: 2550 * time.Millisecond},                 // shepherd's fill after the second delete
	}
	var m HerdMode
	r.splitStorms(&m, fills)
	if got := []int64{m.Storms[0].Misses, m.Storms[1].Misses}; got[0] != 2 || got[1] != 1 {
		t.Errorf("misses per delete: got %v; want [2 1]", got)
	}
	if got := []int64{m.Storms[0].Fills, m.Storms[1].Fills}; got[0] != 1 || got[1] != 1 {
		t.Errorf("fills per delete: got %v; want [1 1]", got)
	}
}
