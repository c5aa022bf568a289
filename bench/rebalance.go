// Rebalance: a node added to or removed from a running shepherd's pool
// (SIGHUP reload when shepherd has it, else a restart on the same port);
// the share of keys that move and the hit rate of cache-aside clients.
package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shepherd-proxy/shepherd/ring"
)

// Membership changes.
const (
	ChangeAdd    = "add"    // n nodes become n+1
	ChangeRemove = "remove" // n nodes become n-1
)

func runRebalance(ctx context.Context, e *Env, s *Scenario, res *Result) error {
	out := &RebalanceResult{}
	res.Rebalance = out
	for _, change := range s.Rebalance.Changes {
		run, err := e.rebalanceRun(ctx, s, change, res)
		if err != nil {
			return fmt.Errorf("%s: %w", change, err)
		}
		out.Runs = append(out.Runs, run)
	}
	r := s.Rebalance
	res.note(fmt.Sprintf("%d keys prefilled; %d cache-aside clients (get, set on miss, zipf %v) for %v before and %v after the change; \"measured\" is the share of keys missing on one read of every key right after the change",
		r.Keys, r.Clients, r.Zipf, r.Before, r.After))
	return nil
}

// rebalanceRun runs one change on fresh nodes and a fresh shepherd.
func (e *Env) rebalanceRun(ctx context.Context, s *Scenario, change string, res *Result) (RebalanceRun, error) {
	r := s.Rebalance
	nodes, err := e.Procs.StartMemcacheds(ctx, e.Memcached, s.Nodes+1)
	if err != nil {
		return RebalanceRun{}, err
	}
	defer killNodes(nodes)
	from, to := addrsOf(nodes[:s.Nodes]), addrsOf(nodes)
	if change == ChangeRemove {
		from, to = addrsOf(nodes[:s.Nodes]), addrsOf(nodes[:s.Nodes-1])
	}
	run := RebalanceRun{Change: change, From: len(from), To: len(to), Keys: r.Keys, FromAddrs: from, ToAddrs: to}
	sh, err := e.plainShepherd(ctx, nodes[:s.Nodes], s.Pool, res)
	if err != nil {
		return run, err
	}
	defer func() { sh.Stop() }()
	ks := newKeyspace("rb:", r.Keys)
	if err := prefill(ctx, proxyTarget(TargetShepherd, sh.Addr), ks, []byte("v"), time.Second); err != nil {
		return run, fmt.Errorf("prefill: %w", err)
	}
	if run.ExpectedMoved, err = movedShare(ks, from, to); err != nil {
		return run, err
	}
	start := time.Now()
	rec := newRecorder(start, s.Sample)
	stop := e.startProgress("rebalance "+change, rec)
	defer stop()
	cacheAside(ctx, sh.Addr, s, ks, rec, r.Before)
	if sh, run.Method, err = e.changeNodes(ctx, sh, to); err != nil {
		return run, err
	}
	run.ChangeAt = time.Since(start).Seconds()
	run.MeasuredMoved = missShare(sh.Addr, ks)
	cacheAside(ctx, sh.Addr, s, ks, rec, r.After)
	run.Series = rec.series()
	run.HitBefore, run.HitFirst, run.HitEnd = hitRates(run.Series, run.ChangeAt)
	return run, nil
}

// movedShare is the share of keys whose ketama owner differs between the
// two node lists (a key on a surviving node keeps its address).
func movedShare(ks *keyspace, from, to []string) (float64, error) {
	a, err := ringOf(from)
	if err != nil {
		return 0, err
	}
	b, err := ringOf(to)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, k := range ks.keys {
		if from[a.Lookup(k)] != to[b.Lookup(k)] {
			moved++
		}
	}
	return float64(moved) / float64(len(ks.keys)), nil
}

func ringOf(addrs []string) (*ring.Ring, error) {
	nodes := make([]ring.Node, len(addrs))
	for i, a := range addrs {
		nodes[i] = ring.Node{Addr: a, Weight: 1}
	}
	return ring.New(nodes, ring.Options{Distribution: "ketama", Hash: "md5"})
}

// changeNodes gives shepherd the new node list: by SIGHUP when a probe key
// shows the new ring took effect, else by a restart on the same address.
func (e *Env) changeNodes(ctx context.Context, sh *Shepherd, to []string) (*Shepherd, string, error) {
	c := sh.cfg
	c.Nodes = to
	if err := sh.Reload(c); err != nil {
		return sh, "", err
	}
	if reloaded(sh.Addr, to, "rb:probe:") {
		if e.features != nil {
			e.features.Reload = true
		}
		return sh, "sighup", nil
	}
	sh.Stop()
	c.Listen, c.Admin = sh.Addr, sh.Admin
	next, err := e.tryShepherd(ctx, c)
	return next, "restart", err
}

// reloaded polls for up to a second whether keys (named prefix + n) set
// through addr land where the ring of to puts them.
func reloaded(addr string, to []string, prefix string) bool {
	r, err := ringOf(to)
	if err != nil {
		return false
	}
	ks := newKeyspace(prefix, 64)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if placedBy(addr, ks, r, to) {
			return true
		}
	}
	return false
}

// placedBy sets every probe key through addr and checks each is on the
// node r names.
func placedBy(addr string, ks *keyspace, r *ring.Ring, to []string) bool {
	for _, k := range ks.keys {
		if setKey(addr, string(k), "p") != nil {
			return false
		}
		if reply, err := sendLine(to[r.Lookup(k)], "get "+string(k)); err != nil || reply == "END" {
			return false
		}
	}
	return true
}

// missShare reads every key once through addr and returns the share missed.
func missShare(addr string, ks *keyspace) float64 {
	sess := proxyTarget(TargetShepherd, addr).session(2*time.Second, false)
	defer sess.close()
	const width = 100
	var misses, seen int
	reps := make([]reply, 1)
	for i := 0; i < len(ks.keys); i += width {
		keys := ks.keys[i:min(i+width, len(ks.keys))]
		sess.do([]op{{kind: opGet, keys: keys}}, reps)
		if reps[0].err == nil {
			misses += reps[0].misses
			seen += len(keys)
		}
	}
	return ratio(float64(misses), float64(seen))
}

// cacheAside runs the clients for d: get a zipf-chosen key, set it on a miss.
func cacheAside(ctx context.Context, addr string, s *Scenario, ks *keyspace, rec *recorder, d time.Duration) {
	r := s.Rebalance
	l := Load{GetRatio: ptrTo(1.0), MultiGet: 1, ValueSize: 1, Zipf: r.Zipf}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for id := range r.Clients {
		g := newGen(ks, l, uint64(id)+100)
		sess := proxyTarget(TargetShepherd, addr).session(time.Second, false)
		wg.Go(func() { cacheAsideLoop(ctx, id, sess, g, rec, r.MaxOps) })
	}
	wg.Wait()
}

func cacheAsideLoop(ctx context.Context, id int, sess *session, g *gen, rec *recorder, maxOps int64) {
	defer sess.close()
	ops, reps := make([]op, 1), make([]reply, 1)
	for n := int64(0); n < maxOps && ctx.Err() == nil; n++ {
		g.fill(ops)
		t0 := time.Now()
		sess.do(ops, reps)
		if reps[0].err == nil && reps[0].misses > 0 {
			sess.do([]op{{kind: opSet, keys: ops[0].keys, val: g.val}}, make([]reply, 1))
		}
		rec.record(id, outcomeOf(&reps[0], t0))
	}
}

// hitRates returns the hit rate before the change, in the first second
// after it and in the last second of the series.
func hitRates(series []Sample, changeAt float64) (before, first, last float64) {
	var end float64
	if len(series) > 0 {
		end = series[len(series)-1].T
	}
	return hitRate(series, 0, changeAt), hitRate(series, changeAt, changeAt+1), hitRate(series, end-1, end+1)
}

func hitRate(series []Sample, from, to float64) float64 {
	var hits, misses float64
	for _, s := range series {
		if s.T >= from && s.T < to {
			hits, misses = hits+s.Hits, misses+s.Misses
		}
	}
	return ratio(hits, hits+misses)
}
