// Failover: one node hung, killed or slowed while clients read and write
// through shepherd and nutcracker at once, each in front of its own nodes.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fault variants.
const (
	FaultStop = "stop" // SIGSTOP at fault_at, SIGCONT at return_at: a hung host
	FaultKill = "kill" // SIGKILL at fault_at, restarted on its port at return_at
	FaultSlow = "slow" // stopped and continued in turns (slow_stop, slow_run) until return_at
)

// foTarget is one target's nodes, proxy and what its clients saw.
type foTarget struct {
	name  string
	nodes []*Node
	addr  string
	sh    *Shepherd   // nil for nutcracker
	nc    *Nutcracker // nil for shepherd
	rec   *recorder
	keys  *keyspace

	getErrs, setErrs, slow, stale atomic.Int64

	mu        sync.Mutex // guards the fields below, written by the monitor
	nodeRate  []NodeSample
	events    []Event
	ejected   float64 // seconds after the fault; -1 until seen
	readmit   float64 // seconds after the return; -1 until seen
	inFault   int64   // requests the node counted during the fault; -1 unknown
	faultReqs int64   // the node's request counter when the fault began; -1 unknown
	ncEjectAt float64 // nutcracker's server_ejected_at when the fault began
	phase     int     // 0 before the fault, 1 during, 2 after the return
	answered  bool    // the node answered stats after the return
}

func (t *foTarget) faulty() *Node { return t.nodes[0] }

func runFailover(ctx context.Context, e *Env, s *Scenario, res *Result) error {
	out := &FailoverResult{}
	res.Failover = out
	for _, v := range s.Failover.Variants {
		run, err := e.failoverRun(ctx, s, v, res)
		if err != nil {
			return fmt.Errorf("%s: %w", v, err)
		}
		out.Runs = append(out.Runs, run)
	}
	f := s.Failover
	res.note(fmt.Sprintf("%d clients per target alternate set and get over %d keys for %v; the fault hits one node at %v and ends at %v; pool timeout %v, failure_limit %d, retry_timeout %v (nutcracker: server_failure_limit, server_retry_timeout, auto_eject_hosts)",
		f.Clients, f.Keys, f.Duration, f.FaultAt, f.ReturnAt, s.Pool.Timeout, s.Pool.FailureLimit, s.Pool.RetryTimeout))
	return nil
}

// failoverRun sets up every target, runs the clients and the fault, and
// stops what it started.
func (e *Env) failoverRun(ctx context.Context, s *Scenario, variant string, res *Result) (FailoverRun, error) {
	f := s.Failover
	run := FailoverRun{Variant: variant, FaultAt: f.FaultAt.Seconds(), ReturnAt: f.ReturnAt.Seconds()}
	var targets []*foTarget
	defer func() { stopTargets(targets) }()
	for _, name := range f.Targets {
		t, err := e.foSetup(ctx, s, name, res)
		if err != nil {
			return run, fmt.Errorf("%s: %w", name, err)
		}
		if t != nil {
			targets = append(targets, t)
		}
	}
	start := time.Now()
	for _, t := range targets {
		t.rec = newRecorder(start, s.Sample)
	}
	stop := e.startProgress("failover "+variant, targets[0].rec)
	e.foDrive(ctx, s, variant, targets, start)
	stop()
	for _, t := range targets {
		run.Targets = append(run.Targets, t.result(s))
	}
	return run, nil
}

// foSetup starts one target's nodes and proxy and prefills its keys; it
// returns nil (with a note) when the target is unavailable.
func (e *Env) foSetup(ctx context.Context, s *Scenario, name string, res *Result) (*foTarget, error) {
	nodes, err := e.Procs.StartMemcacheds(ctx, e.Memcached, s.Nodes)
	if err != nil {
		return nil, err
	}
	t := &foTarget{name: name, nodes: nodes, ejected: -1, readmit: -1, inFault: -1, faultReqs: -1, keys: newKeyspace("fo:", s.Failover.Keys)}
	if name == TargetShepherd {
		if t.sh, err = e.plainShepherd(ctx, nodes, s.Pool, res); err != nil {
			return nil, err
		}
		t.addr = t.sh.Addr
	} else {
		if t.nc, err = e.startNutcracker(ctx, addrsOf(nodes), s.Pool); err != nil {
			res.note(fmt.Sprintf("nutcracker left out: %v", err))
			killNodes(nodes)
			return nil, nil
		}
		t.addr = t.nc.Addr
	}
	err = prefill(ctx, proxyTarget(name, t.addr), t.keys, []byte("init"), s.Failover.Timeout)
	return t, err
}

func stopTargets(ts []*foTarget) {
	for _, t := range ts {
		if t.sh != nil {
			t.sh.Stop()
		}
		if t.nc != nil {
			t.nc.Stop()
		}
		killNodes(t.nodes)
	}
}

func killNodes(nodes []*Node) {
	for _, n := range nodes {
		n.Kill()
	}
}

// foDrive runs clients, monitors and the fault until the run's time is up.
func (e *Env) foDrive(ctx context.Context, s *Scenario, variant string, targets []*foTarget, start time.Time) {
	ctx, cancel := context.WithDeadline(ctx, start.Add(s.Failover.Duration))
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range targets {
		for j := range s.Failover.Clients {
			wg.Go(func() { t.client(ctx, s, j, start) })
		}
		wg.Go(func() { t.monitor(ctx, s, start) })
	}
	wg.Go(func() { e.inject(ctx, s.Failover, variant, targets, start) })
	wg.Wait()
}

// inject applies the fault to every target's first node at fault_at and
// takes it back at return_at.
func (e *Env) inject(ctx context.Context, f *Failover, variant string, targets []*foTarget, start time.Time) {
	if !sleepUntil(ctx, start.Add(f.FaultAt)) {
		return
	}
	for _, t := range targets {
		t.snapshot(start, "fault: "+variant)
	}
	switch variant {
	case FaultStop:
		eachNode(targets, (*Node).Pause)
	case FaultKill:
		eachNode(targets, (*Node).Kill)
	case FaultSlow:
		slowUntil(ctx, f, targets, start.Add(f.ReturnAt))
	}
	if !sleepUntil(ctx, start.Add(f.ReturnAt)) && variant != FaultKill {
		eachNode(targets, (*Node).Resume) // leave nothing stopped behind
		return
	}
	switch variant {
	case FaultStop, FaultSlow:
		eachNode(targets, (*Node).Resume)
	case FaultKill:
		eachNode(targets, func(n *Node) { n.Restart(context.WithoutCancel(ctx)) })
	}
	for _, t := range targets {
		t.event(start, "return")
	}
}

func eachNode(targets []*foTarget, fn func(*Node)) {
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { fn(t.faulty()) })
	}
	wg.Wait()
}

// slowUntil stops and continues the faulty nodes in turns until end.
func slowUntil(ctx context.Context, f *Failover, targets []*foTarget, end time.Time) {
	for time.Now().Before(end) && ctx.Err() == nil {
		eachNode(targets, (*Node).Pause)
		sleepUntil(ctx, minTime(time.Now().Add(f.SlowStop), end))
		eachNode(targets, (*Node).Resume)
		sleepUntil(ctx, minTime(time.Now().Add(f.SlowRun), end))
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// client alternates sets and gets over its own share of the keys and
// checks every value it reads against the last one it stored.
func (t *foTarget) client(ctx context.Context, s *Scenario, j int, start time.Time) {
	f := s.Failover
	sess := proxyTarget(t.name, t.addr).session(f.Timeout, true)
	defer sess.close()
	own := ownKeys(len(t.keys.keys), f.Clients, j)
	if len(own) == 0 {
		return
	}
	want := map[int]string{}
	for _, k := range own {
		want[k] = "init"
	}
	rng := rand.New(rand.NewPCG(uint64(j), 11))
	ops, reps := make([]op, 1), make([]reply, 1)
	for n := int64(0); n < f.MaxOps && ctx.Err() == nil; n++ {
		k := own[rng.IntN(len(own))]
		t0 := time.Now()
		t.step(n, k, j, want, sess, ops, reps)
		o := outcomeOf(&reps[0], t0)
		if o.lat > s.Pool.Timeout+50*time.Millisecond {
			t.slow.Add(1)
		}
		t.check(&ops[0], k, want, &reps[0], t0.Sub(start) >= f.ReturnAt)
		t.rec.record(j, o)
		sleepUntil(ctx, time.Now().Add(f.Think))
	}
}

// step sends request n: even ones set key k, odd ones get it.
func (t *foTarget) step(n int64, k, j int, want map[int]string, sess *session, ops []op, reps []reply) {
	key := t.keys.keys[k : k+1]
	if n%2 == 0 {
		ops[0] = op{kind: opSet, keys: key, val: []byte("c" + strconv.Itoa(j) + "-" + strconv.FormatInt(n, 10))}
	} else {
		ops[0] = op{kind: opGet, keys: key}
	}
	sess.do(ops, reps)
}

// check counts errors and stale reads and tracks what key k should hold.
func (t *foTarget) check(o *op, k int, want map[int]string, rep *reply, afterReturn bool) {
	switch {
	case o.kind == opSet && rep.err != nil:
		t.setErrs.Add(1)
		delete(want, k) // it may or may not have been stored
	case o.kind == opSet && rep.stored:
		want[k] = string(o.val)
	case o.kind == opSet:
	case rep.err != nil:
		t.getErrs.Add(1)
	case rep.hits > 0 && afterReturn:
		if w, known := want[k]; known && w != string(rep.val) {
			t.stale.Add(1)
		}
	}
}

// ownKeys are the key indexes client j of n owns: j, j+n, j+2n, ...
func ownKeys(keys, n, j int) []int {
	var out []int
	for k := j; k < keys; k += n {
		out = append(out, k)
	}
	return out
}
