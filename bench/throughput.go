// Throughput: the same loads against memcached direct, shepherd and
// nutcracker over the same nodes, each target's ratio to direct.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
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
		l.MultiGet, l.GetRatio, l.Connections = w, ptrTo(1.0), t.MultiGetConnections
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
	var nt *nodeTLS
	var nodes []*Node
	var err error
	if wantsTLS(t.Targets) {
		if nt, err = newNodeTLS(e.Dir); err != nil {
			return fmt.Errorf("tls certificates: %w", err)
		}
		nodes, err = e.Procs.StartMemcachedsTLS(ctx, e.Memcached, s.Nodes, nt)
	} else {
		nodes, err = e.Procs.StartMemcacheds(ctx, e.Memcached, s.Nodes)
	}
	if err != nil {
		return err
	}
	targets, err := e.throughputTargets(ctx, s, nodes, res)
	if err != nil {
		return err
	}
	if nt != nil {
		if targets, err = e.tlsTargets(ctx, s, nodes, nt, res, targets); err != nil {
			return err
		}
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
	if t.IdleConnections > 0 { // first, while the proxies are fresh: no load garbage to reuse
		for _, tg := range targets[1:] { // memcached nodes run with -c 1024: too few for the usual count
			if tg.ring != nil {
				continue // direct-tls: memcached, not a proxy
			}
			out.Idle = append(out.Idle, measureIdle(ctx, tg, t.IdleConnections))
		}
	}
	start := time.Now()
	rounds := make([][]Point, t.Rounds)
	for r := range rounds {
		for _, pt := range t.points() {
			for _, tg := range roundOrder(targets, r) {
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				rounds[r] = append(rounds[r], e.measure(ctx, s, tg, pt, ks, start, nodes))
			}
		}
	}
	out.Points = medianPoints(rounds)
	setRatios(out.Points)
	res.note(fmt.Sprintf("each point: %v warmup then %v measured, %d round(s), medians; %d keys, %d-byte values, zipf %v, pipeline %d, %.0f%% gets",
		t.Warmup, t.Load.Duration, t.Rounds, t.Load.Keys, t.Load.ValueSize, t.Load.Zipf, t.Load.Pipeline, 100**t.Load.GetRatio))
	res.note("cost per request: CPU (utime+stime), read+write syscalls (/proc/PID/io syscr+syscw, plus a proxy's io_uring_enter calls from its stats loop_ring_enters: a send through io_uring is no write(2)) and context switches (every thread's) of the target's own processes over the measured window: the proxy process, or all the nodes for direct")
	return nil
}

// roundOrder alternates the proxies' order from round to round so neither
// always runs right after the other; direct stays first.
func roundOrder(targets []*Target, round int) []*Target {
	out := append([]*Target(nil), targets...)
	if round%2 == 1 && len(out) > 2 {
		slices.Reverse(out[1:])
	}
	return out
}

// medianPoints merges the rounds point by point: ops/s and the costs are
// medians, errors add up, latency and series are the first round's.
func medianPoints(rounds [][]Point) []Point {
	type key struct{ label, target string }
	all := map[key][]Point{}
	var order []key
	for _, round := range rounds {
		for _, p := range round {
			k := key{p.Label, p.Target}
			if all[k] == nil {
				order = append(order, k)
			}
			all[k] = append(all[k], p)
		}
	}
	out := make([]Point, 0, len(order))
	for _, k := range order {
		out = append(out, mergeRounds(all[k]))
	}
	return out
}

func mergeRounds(ps []Point) Point {
	m := ps[0]
	med := func(f func(Point) float64) float64 {
		vs := make([]float64, len(ps))
		for i, p := range ps {
			vs[i] = f(p)
		}
		return median(vs)
	}
	m.OpsPerSec = med(func(p Point) float64 { return p.OpsPerSec })
	m.KeysPerSec = med(func(p Point) float64 { return p.KeysPerSec })
	m.RoundOps = nil
	for _, p := range ps[1:] {
		m.Errors += p.Errors
	}
	for _, p := range ps {
		m.RoundOps = append(m.RoundOps, p.OpsPerSec)
	}
	m.Cost = medianCost(ps, func(p *Point) *ProcCost { return p.Cost })
	m.ClientCost = medianCost(ps, func(p *Point) *ProcCost { return p.ClientCost })
	m.NodesCost = medianCost(ps, func(p *Point) *ProcCost { return p.NodesCost })
	return m
}

// medianCost is the median of one cost of every round, field by field;
// nil if a round lacks it.
func medianCost(ps []Point, cost func(*Point) *ProcCost) *ProcCost {
	cs := make([]*ProcCost, len(ps))
	for i := range ps {
		if cs[i] = cost(&ps[i]); cs[i] == nil {
			return nil
		}
	}
	med := func(f func(*ProcCost) float64) float64 {
		vs := make([]float64, len(cs))
		for i, c := range cs {
			vs[i] = f(c)
		}
		return median(vs)
	}
	c := *cs[0]
	c.CPUus = med(func(c *ProcCost) float64 { return c.CPUus })
	c.Syscalls = med(func(c *ProcCost) float64 { return c.Syscalls })
	c.CtxSwitches = med(func(c *ProcCost) float64 { return c.CtxSwitches })
	c.RingEnters = med(func(c *ProcCost) float64 { return c.RingEnters })
	c.CPUUtil = med(func(c *ProcCost) float64 { return c.CPUUtil })
	return &c
}

// median of vs (the mean of the middle two for an even count); vs is sorted in place.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// throughputTargets builds the direct target (always first, it prefills)
// and starts the proxies the scenario names, and those of --proxy between
// shepherd and nutcracker.
func (e *Env) throughputTargets(ctx context.Context, s *Scenario, nodes []*Node, res *Result) ([]*Target, error) {
	direct, err := directTarget(nodes)
	if err != nil {
		return nil, err
	}
	direct.pids = func() []int { return pidsOf(nodes) }
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
		tg := proxyTarget(TargetShepherd, sh.Addr)
		tg.pids = func() []int { return []int{sh.proc.Pid()} }
		targets = append(targets, tg)
	}
	for _, p := range e.Proxies {
		tg, err := e.startCommandProxy(ctx, p, nodes)
		if err != nil {
			return nil, err
		}
		targets = append(targets, tg)
	}
	if wanted[TargetNutcracker] {
		nc, err := e.startNutcracker(ctx, addrsOf(nodes), s.Pool)
		if err != nil {
			res.note(fmt.Sprintf("nutcracker left out: %v", err))
		} else {
			tg := proxyTarget(TargetNutcracker, nc.Addr)
			tg.pids = func() []int { return []int{nc.proc.Pid()} }
			targets = append(targets, tg)
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
func (e *Env) measure(ctx context.Context, s *Scenario, tg *Target, pt labelled, ks *keyspace, origin time.Time, nodes []*Node) Point {
	if w := s.Throughput.Warmup; w > 0 {
		l := pt.load
		l.Duration = w
		runLoad(ctx, tg, l, ks, newRecorder(time.Now(), s.Sample))
	}
	pids := tg.processes()
	box := [][]int{pids, {os.Getpid()}, pidsOf(nodes)} // the target, the load generator, the nodes
	var before, after [3]procCounters
	var errs [3]error
	proxy := tg.Name != TargetDirect && tg.ring == nil && tg.tls == nil
	var enters int64
	if proxy { // before the window: asking costs the proxy system calls too
		enters = -ringEnters(tg.Addrs[0])
	}
	for i, ps := range box {
		before[i], errs[i] = sumProcCounters(ps)
	}
	began := time.Now()
	rec := newRecorder(began, s.Sample)
	stop := e.startProgress(fmt.Sprintf("%s %s", tg.Name, pt.label), rec)
	runLoad(ctx, tg, pt.load, ks, rec)
	stop()
	secs := time.Since(began).Seconds()
	for i, ps := range box {
		var err error
		after[i], err = sumProcCounters(ps)
		errs[i] = errors.Join(errs[i], err)
	}
	if proxy {
		enters += ringEnters(tg.Addrs[0])
		after[0].Syscalls += enters
	}
	ops, failed, hits, misses := rec.counts()
	l := pt.load
	p := Point{
		Label: pt.label, Target: tg.Name, Mode: l.Mode, Rate: l.Rate, Connections: l.Connections,
		Pipeline: l.Pipeline, MultiGet: l.MultiGet, Start: began.Sub(origin).Seconds(), Seconds: secs,
		Ops: ops, Errors: failed, Hits: hits, Misses: misses, OpsPerSec: float64(ops) / secs,
		KeysPerSec: float64(hits+misses) / secs, Latency: rec.summary(), Series: rec.series(),
	}
	costs := [3]**ProcCost{&p.Cost, &p.ClientCost, &p.NodesCost}
	for i, ps := range box {
		if len(ps) > 0 && errs[i] == nil {
			*costs[i] = costOf(after[i].minus(before[i]), len(ps), ops, secs)
		}
	}
	if p.Cost != nil && enters > 0 {
		p.Cost.RingEnters = ratio(float64(enters), float64(ops))
	}
	return p
}

// processes is the pids whose cost t's points measure (none if unknown).
func (t *Target) processes() []int {
	if t.pids == nil {
		return nil
	}
	return t.pids()
}

// pidsOf lists the running nodes' pids.
func pidsOf(nodes []*Node) []int {
	var out []int
	for _, n := range nodes {
		n.mu.Lock()
		if n.proc != nil {
			out = append(out, n.proc.Pid())
		}
		n.mu.Unlock()
	}
	return out
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
