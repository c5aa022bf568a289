// Histogram tests: percentiles against known distributions, shard merging,
// time series rates.
package bench

import (
	"math"
	"sync"
	"testing"
	"time"
)

// within reports whether got is within rel (relative) of want.
func within(got, want, rel float64) bool { return math.Abs(got-want) <= rel*want }

func TestSummaryUniform(t *testing.T) {
	t.Parallel()
	h := newHist(histSigFigs)
	for v := int64(1); v <= 10000; v++ {
		h.RecordValue(v)
	}
	s := summarize(h)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"p50", s.P50, 5000}, {"p90", s.P90, 9000}, {"p99", s.P99, 9900}, {"p99.9", s.P999, 9990},
		{"max", s.Max, 10000}, {"mean", s.Mean, 5000.5},
	} {
		if !within(c.got, c.want, 0.002) { // 3 significant figures
			t.Errorf("%s: got %v; want %v ±0.2%%", c.name, c.got, c.want)
		}
	}
	if s.Count != 10000 {
		t.Errorf("count: got %d; want 10000", s.Count)
	}
}

func TestSummarySkewed(t *testing.T) {
	t.Parallel()
	h := newHist(histSigFigs)
	h.RecordValues(100, 990) // 99% fast
	h.RecordValues(50000, 9) // 0.9% slow
	h.RecordValue(2_000_000) // one very slow
	s := summarize(h)
	if !within(s.P50, 100, 0.01) || !within(s.P99, 100, 0.01) || !within(s.P999, 50000, 0.01) || !within(s.Max, 2_000_000, 0.001) {
		t.Fatalf("got p50 %v p99 %v p99.9 %v max %v; want 100 100 50000 2000000", s.P50, s.P99, s.P999, s.Max)
	}
	if empty := summarize(newHist(histSigFigs)); empty != (Summary{}) {
		t.Fatalf("empty: got %+v; want zero", empty)
	}
}

func TestMicrosClamp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 1}, {500 * time.Nanosecond, 1}, {1500 * time.Microsecond, 1500}, {time.Hour, histMax}} {
		if got := micros(c.d); got != c.want {
			t.Errorf("micros(%v): got %d; want %d", c.d, got, c.want)
		}
	}
}

func TestRecorderMergesShards(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := newRecorder(start, 100*time.Millisecond)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 1000 {
				o := outcome{at: start.Add(time.Duration(i%10) * 100 * time.Millisecond), lat: time.Duration(w*1000+i+1) * time.Microsecond, hits: 1}
				if i%100 == 0 {
					o = outcome{at: o.at, err: true}
				}
				r.record(w, o)
			}
		})
	}
	wg.Wait()
	ops, errs, hits, _ := r.counts()
	if ops != 16000 || errs != 160 || hits != 15840 {
		t.Fatalf("counts: got ops %d errors %d hits %d; want 16000 160 15840", ops, errs, hits)
	}
	if got := r.summary(); got.Count != 15840 || !within(got.Max, 16000, 0.001) {
		t.Fatalf("summary: got count %d max %v; want 15840 and 16000", got.Count, got.Max)
	}
	series := r.series()
	if len(series) != 10 {
		t.Fatalf("series: got %d buckets; want 10", len(series))
	}
	var errSum float64
	for _, s := range series { // 1600 ops per 100ms bucket = 16000/s
		if !within(s.Ops, 16000, 1e-9) {
			t.Fatalf("bucket %v: got %v ops/s; want 16000", s.T, s.Ops)
		}
		errSum += s.Errors * 0.1
	}
	if !within(errSum, 160, 1e-9) || !within(series[0].Errors, 1600, 1e-9) {
		t.Fatalf("errors: got %v in all, %v/s in the first bucket; want 160 and 1600", errSum, series[0].Errors)
	}
}

func TestRatios(t *testing.T) {
	t.Parallel()
	pts := []Point{
		{Label: "c=1", Target: TargetDirect, OpsPerSec: 1000, Latency: Summary{P99: 100}},
		{Label: "c=1", Target: TargetShepherd, OpsPerSec: 800, Latency: Summary{P99: 150}},
		{Label: "c=2", Target: TargetShepherd, OpsPerSec: 800},
	}
	setRatios(pts)
	if pts[0].Ratio != 1 || pts[1].Ratio != 0.8 || pts[1].P99Ratio != 1.5 || pts[2].Ratio != 0 {
		t.Fatalf("ratios: got %v %v %v %v; want 1 0.8 1.5 0", pts[0].Ratio, pts[1].Ratio, pts[1].P99Ratio, pts[2].Ratio)
	}
	if ratio(1, 0) != 0 {
		t.Fatal("ratio(1, 0): want 0")
	}
}
