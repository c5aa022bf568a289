// Load: keys, request generation and the bounded closed-loop and
// fixed-rate worker loops.
package bench

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// keyspace is a fixed table of keys, shared read-only by all workers.
type keyspace struct {
	keys [][]byte
}

func newKeyspace(prefix string, n int) *keyspace {
	ks := &keyspace{keys: make([][]byte, n)}
	for i := range ks.keys {
		ks.keys[i] = strconv.AppendInt([]byte(prefix), int64(i), 10)
	}
	return ks
}

// gen makes the requests of one worker. Not safe for concurrent use.
type gen struct {
	ks   *keyspace
	l    Load
	r    *rand.Rand
	zipf *rand.Zipf // nil: uniform
	val  []byte
}

func newGen(ks *keyspace, l Load, seed uint64) *gen {
	g := &gen{ks: ks, l: l, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), val: makeValue(l.ValueSize, seed)}
	if l.Zipf > 1 && len(ks.keys) > 1 {
		g.zipf = rand.NewZipf(g.r, l.Zipf, 1, uint64(len(ks.keys)-1))
	}
	return g
}

// makeValue returns n printable bytes.
func makeValue(n int, seed uint64) []byte {
	v := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range v {
		v[i] = 'a' + byte(r.IntN(26))
	}
	return v
}

func (g *gen) pick() int {
	if g.zipf != nil {
		return int(g.zipf.Uint64())
	}
	return g.r.IntN(len(g.ks.keys))
}

// fill overwrites ops with the next requests: gets (of MultiGet
// consecutive keys) with probability GetRatio, else sets.
func (g *gen) fill(ops []op) {
	for i := range ops {
		k := g.pick()
		if g.r.Float64() >= *g.l.GetRatio {
			ops[i] = op{kind: opSet, keys: g.ks.keys[k : k+1], val: g.val}
			continue
		}
		w := min(g.l.MultiGet, len(g.ks.keys))
		k = min(k, len(g.ks.keys)-w)
		ops[i] = op{kind: opGet, keys: g.ks.keys[k : k+w]}
	}
}

// runLoad drives t with l until l.Duration passes, l.MaxOps requests are
// sent, or ctx ends; every outcome goes to rec.
func runLoad(ctx context.Context, t *Target, l Load, ks *keyspace, rec *recorder) {
	start := time.Now()
	deadline := start.Add(l.Duration)
	batches := max(l.MaxOps/int64(l.Connections*l.Pipeline), 1)
	var interval time.Duration // between one worker's batches; 0: closed loop
	if l.Mode == "rate" {
		interval = time.Duration(float64(time.Second) * float64(l.Connections*l.Pipeline) / l.Rate)
	}
	var wg sync.WaitGroup
	for id := range l.Connections {
		w := &worker{id: id, sess: t.session(l.Timeout, false), gen: newGen(ks, l, uint64(id)+1), rec: rec}
		first := start.Add(interval * time.Duration(id) / time.Duration(l.Connections))
		wg.Go(func() { w.loop(ctx, deadline, batches, first, interval, l.Pipeline) })
	}
	wg.Wait()
}

// worker is one client connection's loop.
type worker struct {
	id   int
	sess *session
	gen  *gen
	rec  *recorder
}

// loop sends up to batches pipelined batches of depth requests. With
// interval > 0 batch k is due at first+k·interval and its latency counts
// from then (no coordinated omission); otherwise it is closed-loop.
func (w *worker) loop(ctx context.Context, deadline time.Time, batches int64, first time.Time, interval time.Duration, depth int) {
	defer w.sess.close()
	ops, reps := make([]op, depth), make([]reply, depth)
	for k := int64(0); k < batches && ctx.Err() == nil; k++ {
		t0 := time.Now()
		if interval > 0 {
			t0 = first.Add(time.Duration(k) * interval)
			if !sleepUntil(ctx, t0) {
				return
			}
		}
		if t0.After(deadline) {
			return
		}
		w.gen.fill(ops)
		w.sess.do(ops, reps)
		for i := range reps {
			w.rec.record(w.id, outcomeOf(&reps[i], t0))
		}
	}
}

func outcomeOf(rep *reply, t0 time.Time) outcome {
	return outcome{at: rep.done, lat: rep.done.Sub(t0), err: rep.err != nil, hits: rep.hits, misses: rep.misses}
}

// sleepUntil waits for t or ctx; it reports whether t came first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
