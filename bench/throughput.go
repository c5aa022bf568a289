// Throughput: the same loads against memcached direct, shepherd and
// nutcracker over the same nodes, each target's ratio to direct.
package bench

import (
	"context"
	"fmt"
	"time"
)

// labelled is one point's load.
type labelled struct {
	label string
	load  Load
}

// points expands the sweep: closed-loop connection counts, multi-gets and
// fixed rates, all from the base load.
func (t *Throughput) points() []labelled {
	var out []labelled
	for _, c := range t.Connections {
		l := t.Load
		l.Connections = c
		out = append(out, labelled{fmt.Sprintf("c=%d", c), l})
	}
	for _, w := range t.MultiGets {
		l := t.Load
		l.MultiGet, l.GetRatio, l.Connections = w, 1, t.MultiGetConnections
		out = append(out, labelled{fmt.Sprintf("mget=%d c=%d", w, l.Connections), l})
	}
	for _, r := range t.Rates {
		l := t.Load
		l.Mode, l.Rate, l.Connections = "rate", r, t.RateConnections
		out = append(out, labelled{fmt.Sprintf("rate=%g c=%d", r, l.Connections), l})
	}
	return out
}

func runThroughput(ctx context.Context, e *Env, s *Scenario, res *Result) error {
	t := s.Throughput
	nodes, err := e.Procs.StartMemcacheds(ctx, e.Memcached, s.Nodes)
	if err != nil {
		return err
	}
	targets, err := e.throughputTargets(ctx, s, nodes, res)
	if err != nil {
		return err
	}
	ks := newKeyspace("tp:", t.Load.Keys)
	if err := prefill(ctx, targets[0], ks, makeValue(t.Load.ValueSize, 7), t.Load.Timeout); err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	out := &ThroughputResult{}
	for _, tg := range targets {
		out.Targets = append(out.Targets, tg.Name)
	}
	res.Throughput = out
	start := time.Now()
	for _, pt := range t.points() {
		for _, tg := range targets {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			out.Points = append(out.Points, e.measure(ctx, s, tg, pt, ks, start))
		}
	}
	setRatios(out.Points)
	res.note(fmt.Sprintf("each point: %v warmup then %v measured; %d keys, %d-byte values, zipf %v, pipeline %d",
		t.Warmup, t.Load.Duration, t.Load.Keys, t.Load.ValueSize, t.Load.Zipf, t.Load.Pipeline))
	return nil
}

// throughputTargets builds the direct target (always first, it prefills)
// and starts the proxies the scenario names.
func (e *Env) throughputTargets(ctx context.Context, s *Scenario, nodes []*Node, res *Result) ([]*Target, error) {
	direct, err := directTarget(nodes)
	if err != nil {
		return nil, err
	}
	targets := []*Target{direct}
	wanted := map[string]bool{}
	for _, name := range s.Throughput.Targets {
		wanted[name] = true
	}
	if wanted[TargetShepherd] {
		sh, err := e.plainShepherd(ctx, nodes, s.Pool, res)
		if err != nil {
			return nil, err
		}
		targets = append(targets, proxyTarget(TargetShepherd, sh.Addr))
	}
	if wanted[TargetNutcracker] {
		nc, err := e.startNutcracker(ctx, addrsOf(nodes), s.Pool)
		if err != nil {
			res.note(fmt.Sprintf("nutcracker left out: %v", err))
		} else {
			targets = append(targets, proxyTarget(TargetNutcracker, nc.Addr))
		}
	}
	return targets, nil // direct is always measured: it prefills and anchors the ratios
}

// plainShepherd starts a shepherd over nodes with the health keys it
// accepts and no herd rules, and records its features in res.
func (e *Env) plainShepherd(ctx context.Context, nodes []*Node, pool Pool, res *Result) (*Shepherd, error) {
	f, err := e.shepherdFeatures(ctx, nodes, pool)
	if err != nil {
		return nil, fmt.Errorf("shepherd: %w", err)
	}
	res.Features = &f
	return e.startShepherd(ctx, shepherdConfig{Nodes: addrsOf(nodes), Pool: pool, health: f.HealthConfig})
}

// measure runs one point against one target: warmup, then measurement.
func (e *Env) measure(ctx context.Context, s *Scenario, tg *Target, pt labelled, ks *keyspace, origin time.Time) Point {
	if w := s.Throughput.Warmup; w > 0 {
		l := pt.load
		l.Duration = w
		runLoad(ctx, tg, l, ks, newRecorder(time.Now(), s.Sample))
	}
	began := time.Now()
	rec := newRecorder(began, s.Sample)
	stop := e.startProgress(fmt.Sprintf("throughput %s %s", tg.Name, pt.label), rec)
	runLoad(ctx, tg, pt.load, ks, rec)
	stop()
	secs := time.Since(began).Seconds()
	ops, errs, hits, misses := rec.counts()
	l := pt.load
	return Point{
		Label: pt.label, Target: tg.Name, Mode: l.Mode, Rate: l.Rate, Connections: l.Connections,
		Pipeline: l.Pipeline, MultiGet: l.MultiGet, Start: began.Sub(origin).Seconds(), Seconds: secs,
		Ops: ops, Errors: errs, Hits: hits, Misses: misses, OpsPerSec: float64(ops) / secs,
		KeysPerSec: float64(hits+misses) / secs, Latency: rec.summary(), Series: rec.series(),
	}
}

// setRatios divides each point by the direct point of the same label.
func setRatios(points []Point) {
	direct := map[string]Point{}
	for _, p := range points {
		if p.Target == TargetDirect {
			direct[p.Label] = p
		}
	}
	for i := range points {
		d, ok := direct[points[i].Label]
		if !ok {
			continue
		}
		points[i].Ratio = ratio(points[i].OpsPerSec, d.OpsPerSec)
		points[i].P99Ratio = ratio(points[i].Latency.P99, d.Latency.P99)
	}
}

// prefill sets every key of ks through t, pipelined.
func prefill(ctx context.Context, t *Target, ks *keyspace, val []byte, timeout time.Duration) error {
	sess := t.session(timeout, false)
	defer sess.close()
	const depth = 100
	ops, reps := make([]op, 0, depth), make([]reply, depth)
	for i := 0; i < len(ks.keys) && ctx.Err() == nil; i += depth {
		ops = ops[:0]
		for _, k := range ks.keys[i:min(i+depth, len(ks.keys))] {
			ops = append(ops, op{kind: opSet, keys: [][]byte{k}, val: val})
		}
		sess.do(ops, reps[:len(ops)])
		for _, r := range reps[:len(ops)] {
			if r.err != nil {
				return r.err
			}
		}
	}
	return context.Cause(ctx)
}
