// Smoke tests: every scenario kind runs end to end for a moment against
// real processes and fills its section of the result.
package bench

import (
	"context"
	"strings"
	"testing"
)

// smoke runs one scenario given as YAML and returns its result.
func smoke(t *testing.T, yaml string) *Result {
	t.Helper()
	s, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	e := testEnv(t, nil)
	rep := Run(context.Background(), e, []*Scenario{s})
	if len(rep.Results) != 1 {
		t.Fatalf("results: got %d; want 1", len(rep.Results))
	}
	r := rep.Results[0]
	if r.Error != "" {
		t.Fatalf("%s: %s", r.Kind, r.Error)
	}
	if _, err := rep.HTML(); err != nil {
		t.Fatalf("report: %v", err)
	}
	if e.Procs.Live() != 0 {
		t.Fatalf("live processes after the run: got %d; want 0", e.Procs.Live())
	}
	return r
}

func TestSmokeThroughput(t *testing.T) {
	t.Parallel()
	r := smoke(t, `scenario: throughput
throughput:
  warmup: 0s
  load: {duration: 200ms, keys: 500, pipeline: 4}
  connections: [2]
  multigets: [100]
  rates: [500]
  rate_connections: 2
  idle_connections: 50
`)
	tp := r.Throughput
	if len(tp.Idle) == 0 || tp.Idle[0].Opened != 50 || tp.Idle[0].RSSAfter <= 0 || tp.Idle[0].Error != "" {
		t.Errorf("idle: got %+v; want 50 connections opened to each proxy and its RSS", tp.Idle)
	}
	if len(tp.Points) < 6 { // direct and shepherd at least, three points each
		t.Fatalf("points: got %d; want ≥ 6", len(tp.Points))
	}
	for _, p := range tp.Points {
		if p.Ops == 0 || p.Errors != 0 || (p.Target != TargetDirect && p.Ratio == 0) {
			t.Errorf("%s %s: got %d ops, %d errors, ratio %v; want ops, no errors, a ratio", p.Label, p.Target, p.Ops, p.Errors, p.Ratio)
		}
		if c := p.Cost; c == nil || c.Syscalls <= 0 || c.CPUus < 0 || c.CtxSwitches < 0 || c.Processes < 1 {
			t.Errorf("%s %s: got cost %+v; want syscalls > 0 per request from /proc", p.Label, p.Target, c)
		}
		if p.MultiGet == 100 && p.Hits < p.Ops*90 {
			t.Errorf("%s %s: got %d hits for %d multi-gets; want ~100 each (keys were prefilled)", p.Label, p.Target, p.Hits, p.Ops)
		}
	}
}

// TestSmokeThroughputTLS: the TLS targets run beside the plain ones over
// the same nodes (each over its own port), every request answered, and
// the nodes' TLS port really is TLS.
func TestSmokeThroughputTLS(t *testing.T) {
	// Not parallel: its five loads beside TestSmokeThroughput's push that
	// test's gets past the pool timeout on a small machine under -race
	// (failed keys count as misses there).
	r := smoke(t, `scenario: throughput
nodes: 2
throughput:
  targets: [direct, direct-tls, shepherd, shepherd-tls]
  warmup: 0s
  load: {duration: 200ms, keys: 500}
  connections: [2]
  multigets: [10]
`)
	seen := map[string]int{}
	for _, p := range r.Throughput.Points {
		seen[p.Target]++
		if p.Ops == 0 || p.Errors != 0 || p.Hits == 0 {
			t.Errorf("%s %s: got %d ops, %d errors, %d hits; want ops, no errors, hits (keys were prefilled in the clear)", p.Label, p.Target, p.Ops, p.Errors, p.Hits)
		}
	}
	for _, tg := range []string{TargetDirect, TargetDirectTLS, TargetShepherd, TargetShepherdTLS} {
		if seen[tg] != 2 {
			t.Errorf("points of %s: got %d; want 2", tg, seen[tg])
		}
	}
}

func TestTLSArgs(t *testing.T) {
	t.Parallel()
	got := strings.Join(tlsArgs([]string{"-l", "127.0.0.1", "-p", "4000", "-U", "0"}, 4000, "127.0.0.1:4001", &nodeTLS{Cert: "c.pem", Key: "k.pem"}), " ")
	want := "-U 0 -Z -o ssl_chain_cert=c.pem,ssl_key=k.pem -l notls:127.0.0.1:4000 -l 127.0.0.1:4001"
	if got != want {
		t.Errorf("tlsArgs: got %q; want %q", got, want)
	}
}

func TestSmokeHerd(t *testing.T) {
	t.Parallel()
	r := smoke(t, `scenario: herd
herd:
  clients: 40
  shepherds: 2
  duration: 1s
  invalidate: [400ms]
  think: 5ms
  modes: [off, on]
`)
	h := r.Herd
	if len(h.Modes) != 2 || h.Modes[0].Reads == 0 || h.Modes[1].Reads == 0 {
		t.Fatalf("modes: got %+v; want two with reads", h.Modes)
	}
	if off := h.Modes[0]; off.Misses == 0 || off.Fills == 0 || off.Active {
		t.Errorf("off: got %d misses, %d fills, active %v; want a storm without protection", off.Misses, off.Fills, off.Active)
	}
	if !r.Features.Reload {
		t.Errorf("features: got SIGHUP reload no; want yes (this shepherd reloads its server list)")
	}
}

func TestSmokeFailover(t *testing.T) {
	t.Parallel()
	r := smoke(t, `scenario: failover
pool: {timeout: 100ms, failure_limit: 2, retry_timeout: 200ms}
failover:
  variants: [stop]
  duration: 1500ms
  fault_at: 300ms
  return_at: 900ms
  clients: 2
  keys: 50
`)
	runs := r.Failover.Runs
	if len(runs) != 1 || len(runs[0].Targets) == 0 {
		t.Fatalf("runs: got %+v; want one with targets", runs)
	}
	for _, tg := range runs[0].Targets {
		if tg.Ops == 0 || len(tg.Series) == 0 || len(tg.NodeSeries) == 0 {
			t.Errorf("%s: got %d ops, %d samples, %d node samples; want all", tg.Target, tg.Ops, len(tg.Series), len(tg.NodeSeries))
		}
	}
}

func TestSmokeRebalance(t *testing.T) {
	t.Parallel()
	r := smoke(t, `scenario: rebalance
rebalance:
  changes: [add]
  keys: 2000
  clients: 2
  before: 200ms
  after: 500ms
`)
	run := r.Rebalance.Runs[0]
	// The reference is nutcracker's placement over the run's own node
	// addresses, not shepherd's ring.
	want := nutcrackerMoved(t, newKeyspace("rb:", run.Keys).keys, run.FromAddrs, run.ToAddrs)
	t.Logf("%d -> %d nodes: nutcracker moves %.4f of the keys; the bench expected %.4f and measured %.4f",
		run.From, run.To, want, run.ExpectedMoved, run.MeasuredMoved)
	if want < 0.1 || want > 0.45 {
		t.Errorf("nutcracker moved: got %v; want about 1/4 (a node added to 3)", want)
	}
	if run.ExpectedMoved != want {
		t.Errorf("bench's expected moved share: got %v; want nutcracker's %v", run.ExpectedMoved, want)
	}
	if d := run.MeasuredMoved - want; d < -0.05 || d > 0.05 {
		t.Errorf("measured moved: got %v; want within 0.05 of nutcracker's %v", run.MeasuredMoved, want)
	}
}

// TestSmokeComments runs the comment service (built from ./cmd/comments)
// over a tiny database and checks the mix, the cost headers and that every
// process it started has gone.
func TestSmokeComments(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte(`scenario: comments
sample: 100ms
comments:
  posts: 1000
  clients: 2
  duration: 1s
  threads: 10
  pages: 2
  writes: 0.3
  edits: 0.5
`))
	if err != nil {
		t.Fatal(err)
	}
	log := &syncLog{}
	e := testEnv(t, log)
	rep := Run(context.Background(), e, []*Scenario{s})
	ports, pids := started(log.String())
	assertNoStrays(t, ports, pids)
	r := rep.Results[0]
	if r.Error != "" || r.Skipped != "" {
		t.Fatalf("comments: error %q, skipped %q; want a run", r.Error, r.Skipped)
	}
	if !strings.Contains(log.String(), "started comments serve") {
		t.Fatal("no comments serve was started")
	}
	c := r.Comments
	if c.Requests == 0 || c.Errors != 0 || c.Threads != 10 || len(c.Kinds) != reqKinds {
		t.Fatalf("got %d requests, %d errors, %d threads, %d kinds; want requests, no errors, 10 threads, 3 kinds", c.Requests, c.Errors, c.Threads, len(c.Kinds))
	}
	read, reply := c.Kinds[reqRead], c.Kinds[reqReply]
	if read.Requests == 0 || reply.Requests == 0 {
		t.Fatalf("got %d reads and %d replies; want both", read.Requests, reply.Requests)
	}
	if reply.QueriesPerReq < 1 || read.CacheOpsPerReq < 1 {
		t.Errorf("got %.2f queries per reply, %.2f cache requests per read; want a reply to query the database and a read to ask the cache", reply.QueriesPerReq, read.CacheOpsPerReq)
	}
	if c.ZeroQueryReads == 0 {
		t.Errorf("share of reads with 0 queries: got 0; want repeated pages answered from the cache")
	}
	if len(c.Series) == 0 || len(c.CostSeries) == 0 {
		t.Errorf("got %d samples and %d cost samples; want both series", len(c.Series), len(c.CostSeries))
	}
	if _, err := rep.HTML(); err != nil {
		t.Fatalf("report: %v", err)
	}
}
