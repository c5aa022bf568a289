// Histograms: latencies in HdrHistogram, their percentile summaries, and the
// sharded recorder that load workers write into.
package bench

import (
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1µs to 60s; the overall
// histogram keeps 3 significant figures, the per-bucket ones 2.
const (
	histMin     = 1
	histMax     = 60_000_000
	histSigFigs = 3
	bucketFigs  = 2
	shardCount  = 8
)

// Summary is a latency distribution in microseconds.
type Summary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

func newHist(figs int) *hdr.Histogram { return hdr.New(histMin, histMax, figs) }

// micros converts d to whole microseconds clamped to the histogram's range.
func micros(d time.Duration) int64 {
	return min(max(d.Microseconds(), histMin), histMax)
}

// summarize reads the percentiles of h.
func summarize(h *hdr.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	return Summary{
		Count: h.TotalCount(),
		Mean:  h.Mean(),
		P50:   float64(h.ValueAtQuantile(50)),
		P90:   float64(h.ValueAtQuantile(90)),
		P99:   float64(h.ValueAtQuantile(99)),
		P999:  float64(h.ValueAtQuantile(99.9)),
		Max:   float64(h.Max()),
	}
}

// Sample is one time-series bucket. Rates are per second; latencies in µs.
type Sample struct {
	T      float64 `json:"t"` // bucket start, seconds since the series began
	Ops    float64 `json:"ops_per_s"`
	Errors float64 `json:"errors_per_s"`
	Hits   float64 `json:"hits_per_s"`
	Misses float64 `json:"misses_per_s"`
	P50    float64 `json:"p50_us"`
	P99    float64 `json:"p99_us"`
	Max    float64 `json:"max_us"`
}

// bucket holds the counts of one time slice.
type bucket struct {
	ops, errors, hits, misses int64
	lat                       *hdr.Histogram
}

// shard is one lock's worth of a recorder.
type shard struct {
	mu      sync.Mutex // guards all and buckets
	all     *hdr.Histogram
	buckets []bucket
}

// recorder collects request outcomes from many goroutines into one overall
// histogram and a time series. It is safe for concurrent use; workers
// spread over shards so they rarely share a lock.
type recorder struct {
	start  time.Time
	width  time.Duration
	shards [shardCount]shard
	ops    atomic.Int64 // live totals for the progress line
	errs   atomic.Int64
}

func newRecorder(start time.Time, width time.Duration) *recorder {
	r := &recorder{start: start, width: width}
	for i := range r.shards {
		r.shards[i].all = newHist(histSigFigs)
	}
	return r
}

// outcome is what one request did.
type outcome struct {
	at           time.Time // when it completed
	lat          time.Duration
	err          bool
	hits, misses int
}

// record adds o to shard i (any int; callers pass their worker number).
func (r *recorder) record(i int, o outcome) {
	r.ops.Add(1)
	if o.err {
		r.errs.Add(1)
	}
	s := &r.shards[i%shardCount]
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bucketAt(int(o.at.Sub(r.start) / r.width))
	b.ops++
	b.hits += int64(o.hits)
	b.misses += int64(o.misses)
	if o.err {
		b.errors++
		return
	}
	us := micros(o.lat)
	s.all.RecordValue(us)
	b.lat.RecordValue(us)
}

func (s *shard) bucketAt(i int) *bucket {
	i = max(i, 0)
	for len(s.buckets) <= i {
		s.buckets = append(s.buckets, bucket{lat: newHist(bucketFigs)})
	}
	return &s.buckets[i]
}

// summary merges the shards' overall histograms.
func (r *recorder) summary() Summary {
	h := newHist(histSigFigs)
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		h.Merge(s.all)
		s.mu.Unlock()
	}
	return summarize(h)
}

// series merges the shards' buckets into samples, rates per second.
func (r *recorder) series() []Sample {
	var merged []bucket
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		merged = mergeBuckets(merged, s.buckets)
		s.mu.Unlock()
	}
	out := make([]Sample, len(merged))
	per := 1 / r.width.Seconds()
	for i, b := range merged {
		out[i] = Sample{
			T: float64(i) * r.width.Seconds(), Ops: float64(b.ops) * per, Errors: float64(b.errors) * per,
			Hits: float64(b.hits) * per, Misses: float64(b.misses) * per,
		}
		if b.lat.TotalCount() > 0 {
			out[i].P50 = float64(b.lat.ValueAtQuantile(50))
			out[i].P99 = float64(b.lat.ValueAtQuantile(99))
			out[i].Max = float64(b.lat.Max())
		}
	}
	return out
}

func mergeBuckets(dst, src []bucket) []bucket {
	for len(dst) < len(src) {
		dst = append(dst, bucket{lat: newHist(bucketFigs)})
	}
	for i, b := range src {
		d := &dst[i]
		d.ops += b.ops
		d.errors += b.errors
		d.hits += b.hits
		d.misses += b.misses
		d.lat.Merge(b.lat)
	}
	return dst
}

// counts returns total ops, errors, hits and misses.
func (r *recorder) counts() (ops, errs, hits, misses int64) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for _, b := range s.buckets {
			ops, errs, hits, misses = ops+b.ops, errs+b.errors, hits+b.hits, misses+b.misses
		}
		s.mu.Unlock()
	}
	return
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
