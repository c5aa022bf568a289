// Tests of the node state machine, driven through its Probe, Readmit and
// OnChange hooks. Timing assertions use lower bounds, which timers cannot
// break (a timer never fires early), and upper bounds many times the
// expected value, so that a loaded machine slows the tests down without
// failing them.
package health_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/health"
)

// long is a delay no test waits for: a probe scheduled after it never runs.
const long = time.Hour

// waitLimit bounds every wait for something that should happen soon.
// Mutation runs (make mutate) shorten it with SHEPHERD_TEST_WAIT so that a
// mutant that stops something from happening fails in seconds rather than
// timing out.
var waitLimit = testWait(10 * time.Second)

func testWait(def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv("SHEPHERD_TEST_WAIT")); err == nil && d > 0 {
		return d
	}
	return def
}

var errDown = errors.New("down")

// probes is a Probe hook that records when it ran and answers with the
// errors queued in results (nil once they run out), or with errDown
// forever when failing is set.
type probes struct {
	mu      sync.Mutex
	times   []time.Time
	results []error
	failing bool
	ran     chan struct{} // one tick per probe, buffered
}

func newProbes(results ...error) *probes {
	return &probes{results: results, ran: make(chan struct{}, 1000)}
}

func (p *probes) probe(ctx context.Context) error {
	p.mu.Lock()
	p.times = append(p.times, time.Now())
	err := error(nil)
	switch {
	case p.failing:
		err = errDown
	case len(p.results) > 0:
		err, p.results = p.results[0], p.results[1:]
	}
	p.mu.Unlock()
	notify(p.ran)
	return err
}

func (p *probes) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.times)
}

func (p *probes) at() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.times)
}

// wait waits for the n-th probe since the hook was made.
func (p *probes) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for p.count() < n {
		select {
		case <-p.ran:
		case <-deadline:
			t.Fatalf("probes: got %d after %v; want %d", p.count(), waitLimit, n)
		}
	}
}

// changes is an OnChange hook that records transitions.
type changes struct {
	mu   sync.Mutex
	seen []string
	tick chan struct{}
}

func newChanges() *changes { return &changes{tick: make(chan struct{}, 1000)} }

func (c *changes) onChange(from, to health.State) {
	c.mu.Lock()
	c.seen = append(c.seen, from.String()+"→"+to.String())
	c.mu.Unlock()
	notify(c.tick)
}

// notify ticks ch without ever blocking the hook that calls it: a hook
// that blocked would hang the node (and the test) instead of failing it.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *changes) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

// waitFor waits until the last transition recorded is want.
func (c *changes) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if l := c.list(); len(l) > 0 && l[len(l)-1] == want {
			return
		}
		select {
		case <-c.tick:
		case <-deadline:
			t.Fatalf("transitions: got %v; want them to end in %s", c.list(), want)
		}
	}
}

// waitUntil polls cond until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}

func newNode(t *testing.T, cfg health.Config) *health.Node {
	t.Helper()
	n := health.NewNode(cfg)
	t.Cleanup(func() { closeWithin(t, n) })
	return n
}

// closeWithin closes n and fails the test if Close does not return
// within waitLimit (a hung prober), rather than hanging until go test's
// global timeout.
func closeWithin(t *testing.T, n *health.Node) {
	t.Helper()
	done := make(chan struct{})
	go func() { n.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Errorf("Close did not return within %v", waitLimit)
	}
}

// recv waits for ch, failing the test after waitLimit.
func recv(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("no %s within %v", what, waitLimit)
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[health.State]string{
		health.Healthy: "healthy", health.Ejected: "ejected", health.Probing: "probing", health.State(7): "unknown",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q; want %q", s, got, want)
		}
	}
}

func TestFailureLimit(t *testing.T) {
	t.Parallel()
	p := newProbes()
	n := newNode(t, health.Config{FailureLimit: 3, RetryTimeout: long, Probe: p.probe})
	step := func(what string, f func(), want health.State) {
		t.Helper()
		f()
		if got := n.State(); got != want {
			t.Fatalf("after %s: state %v; want %v", what, got, want)
		}
	}
	step("failure 1", n.Failure, health.Healthy)
	step("failure 2", n.Failure, health.Healthy)
	step("success", n.Success, health.Healthy) // resets the count
	step("failure 1 after success", n.Failure, health.Healthy)
	step("failure 2 after success", n.Failure, health.Healthy)
	if n.Ejections() != 0 || !n.Healthy() {
		t.Fatalf("before the limit: ejections %d, healthy %v; want 0, true", n.Ejections(), n.Healthy())
	}
	step("failure 3 after success", n.Failure, health.Ejected)
	step("failure 4", n.Failure, health.Ejected)
	step("success while ejected", n.Success, health.Ejected) // only a probe readmits
	if got := n.Ejections(); got != 1 {
		t.Errorf("ejections: got %d; want 1", got)
	}
	if n.Healthy() {
		t.Errorf("Healthy() = true for an ejected node; want false")
	}
	if got := p.count(); got != 0 {
		t.Errorf("probes before RetryTimeout: got %d; want 0", got)
	}
}

func TestDefaultFailureLimit(t *testing.T) {
	t.Parallel()
	n := newNode(t, health.Config{RetryTimeout: long, Probe: newProbes().probe})
	for i := 1; i < health.DefaultFailureLimit; i++ {
		n.Failure()
	}
	if got := n.State(); got != health.Healthy {
		t.Fatalf("after %d failures: state %v; want healthy", health.DefaultFailureLimit-1, got)
	}
	n.Failure()
	if got := n.State(); got != health.Ejected {
		t.Fatalf("after %d failures: state %v; want ejected", health.DefaultFailureLimit, got)
	}
}

// TestOneProber ejects a node from many goroutines at once. A second
// prober would show as overlapping probes, a second ejection, or probes
// coming faster than one prober's fixed interval allows.
func TestOneProber(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	var active, overlaps atomic.Int32
	p := newProbes()
	p.failing = true
	probe := func(ctx context.Context) error {
		if active.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer active.Add(-1)
		time.Sleep(time.Millisecond) // a probe takes a while: room to overlap
		return p.probe(ctx)
	}
	n := newNode(t, health.Config{FailureLimit: 1, RetryTimeout: interval, RetryMax: interval, Probe: probe})

	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			<-start
			for range 20 {
				n.Failure()
			}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()

	const k = 5
	p.wait(t, k)
	elapsed := time.Since(began)
	if got := n.Ejections(); got != 1 {
		t.Errorf("ejections: got %d; want 1", got)
	}
	if got := overlaps.Load(); got != 0 {
		t.Errorf("overlapping probes: got %d; want 0", got)
	}
	// One prober waits at least 0.9×interval before each probe.
	if floor := time.Duration(float64(k*interval) * 0.9); elapsed < floor {
		t.Errorf("%d probes in %v; want at least %v from a single prober", k, elapsed, floor)
	}
}

// TestBackoff checks the probe schedule: RetryTimeout, then ×1.5 per failed
// probe up to RetryMax, each ±10%.
func TestBackoff(t *testing.T) {
	t.Parallel()
	const (
		first = 10 * time.Millisecond
		limit = 25 * time.Millisecond
	)
	p := newProbes()
	p.failing = true
	n := newNode(t, health.Config{FailureLimit: 1, RetryTimeout: first, RetryMax: limit, Probe: p.probe})
	ejected := time.Now()
	n.Failure()
	// 10, 15, 22.5, then 25 (not 33.75, 50.6, ...) ms.
	want := []time.Duration{first, 15 * time.Millisecond, 22500 * time.Microsecond}
	for len(want) < 12 {
		want = append(want, limit)
	}
	p.wait(t, len(want))
	closeWithin(t, n)

	at := append([]time.Time{ejected}, p.at()...)
	var gaps []time.Duration
	for i, d := range want {
		gap := at[i+1].Sub(at[i])
		gaps = append(gaps, gap)
		if floor := time.Duration(float64(d) * 0.9); gap < floor {
			t.Errorf("gap before probe %d: got %v; want at least %v (%v - 10%%)", i+1, gap, floor, d)
		}
	}
	// Uncapped, the last four gaps would be 256ms and more; capped they are
	// 25ms plus whatever the scheduler adds, which is unlikely to pass
	// 150ms four times in a row.
	if last := slices.Min(gaps[len(gaps)-4:]); last > 150*time.Millisecond {
		t.Errorf("gaps before probes 9 to 12: %v; want about %v (RetryMax caps the backoff)", gaps[8:], limit)
	}
}

func TestEjectDelay(t *testing.T) {
	t.Parallel()
	p := newProbes()
	n := newNode(t, health.Config{RetryTimeout: long, Probe: p.probe})
	const delay = 15 * time.Millisecond
	ejected := time.Now()
	n.Eject(delay)
	if got := n.State(); got != health.Ejected {
		t.Fatalf("after Eject: state %v; want ejected", got)
	}
	n.Eject(time.Millisecond) // already out: no second ejection, no second prober
	p.wait(t, 1)
	if gap, floor := p.at()[0].Sub(ejected), time.Duration(float64(delay)*0.9); gap < floor {
		t.Errorf("first probe after %v; want at least %v", gap, floor)
	}
	waitUntil(t, "readmission", n.Healthy)
	if n.Ejections() != 1 || n.Probes() != 1 || n.ProbeFailures() != 0 {
		t.Errorf("ejections, probes, failures: got %d, %d, %d; want 1, 1, 0", n.Ejections(), n.Probes(), n.ProbeFailures())
	}
}

func TestOnChangeOrder(t *testing.T) {
	t.Parallel()
	p := newProbes(errDown) // the first probe fails, the second succeeds
	c := newChanges()
	n := newNode(t, health.Config{FailureLimit: 2, RetryTimeout: 5 * time.Millisecond, Probe: p.probe, OnChange: c.onChange})
	n.Failure()
	n.Failure()
	c.waitFor(t, "probing→healthy")
	want := []string{
		"healthy→ejected", "ejected→probing", "probing→ejected",
		"ejected→probing", "probing→healthy",
	}
	if got := c.list(); !slices.Equal(got, want) {
		t.Errorf("transitions: got %v; want %v", got, want)
	}
	if !n.Healthy() || n.Probes() != 2 || n.ProbeFailures() != 1 {
		t.Errorf("healthy, probes, failures: got %v, %d, %d; want true, 2, 1", n.Healthy(), n.Probes(), n.ProbeFailures())
	}
	// Readmission resets the failure count: one failure short of the
	// limit leaves the node in.
	n.Failure()
	if got := n.State(); got != health.Healthy {
		t.Errorf("one failure after readmission: state %v; want healthy", got)
	}
}

// TestReadmitFailure: a good probe whose Readmit fails leaves the node
// out, counts a probe failure, and the next probe tries again.
func TestReadmitFailure(t *testing.T) {
	t.Parallel()
	p := newProbes()
	c := newChanges()
	var readmits atomic.Int32
	var sawHealthy atomic.Bool
	var n *health.Node
	readmit := func(ctx context.Context) error {
		// Bounded by ReadmitTimeout, and with that time still ahead: a
		// replay must not start on a context already done.
		if dl, ok := ctx.Deadline(); !ok || ctx.Err() != nil || time.Until(dl) > health.ReadmitTimeout {
			t.Errorf("Readmit's context: deadline %v (set %v), error %v; want a deadline within ReadmitTimeout (%v) and not yet passed",
				time.Until(dl), ok, ctx.Err(), health.ReadmitTimeout)
		}
		if n.Healthy() {
			sawHealthy.Store(true)
		}
		if readmits.Add(1) <= 2 {
			return fmt.Errorf("replay: %w", errDown)
		}
		return nil
	}
	n = newNode(t, health.Config{
		FailureLimit: 1, RetryTimeout: 5 * time.Millisecond, RetryMax: 5 * time.Millisecond,
		Probe: p.probe, Readmit: readmit, OnChange: c.onChange,
	})
	n.Failure()
	c.waitFor(t, "probing→healthy")
	if sawHealthy.Load() {
		t.Errorf("node took traffic (Healthy) before Readmit finished")
	}
	if got := readmits.Load(); got != 3 {
		t.Errorf("readmits: got %d; want 3", got)
	}
	if n.Probes() != 3 || n.ProbeFailures() != 2 {
		t.Errorf("probes, failures: got %d, %d; want 3, 2", n.Probes(), n.ProbeFailures())
	}
	want := []string{
		"healthy→ejected",
		"ejected→probing", "probing→ejected",
		"ejected→probing", "probing→ejected",
		"ejected→probing", "probing→healthy",
	}
	if got := c.list(); !slices.Equal(got, want) {
		t.Errorf("transitions: got %v; want %v", got, want)
	}
}

// TestReadmitAlwaysFails: the node never comes back while Readmit fails,
// and Readmit does not run after a failed probe.
func TestReadmitAlwaysFails(t *testing.T) {
	t.Parallel()
	p := newProbes(errDown, nil, errDown, nil, errDown, nil)
	var readmits atomic.Int32
	n := newNode(t, health.Config{
		FailureLimit: 1, RetryTimeout: 2 * time.Millisecond, RetryMax: 2 * time.Millisecond,
		Probe:   p.probe,
		Readmit: func(context.Context) error { readmits.Add(1); return errDown },
	})
	n.Failure()
	waitUntil(t, "6 probe failures", func() bool { return n.ProbeFailures() >= 6 })
	closeWithin(t, n)
	if n.Healthy() {
		t.Errorf("node healthy after only failing readmits")
	}
	if got := readmits.Load(); got < 3 {
		t.Errorf("readmits after 6 probes, 3 of them good: got %d; want at least 3", got)
	}
	// Probes 1, 3 and 5 fail, the rest succeed: at most count-3 readmits.
	if got := p.count(); int(readmits.Load()) > got-3 {
		t.Errorf("readmits %d after %d probes, 3 of them failed; Readmit ran after a failed probe", readmits.Load(), got)
	}
}

func TestProbeTimeout(t *testing.T) {
	t.Parallel()
	got := make(chan time.Duration, 1)
	n := newNode(t, health.Config{
		FailureLimit: 1, RetryTimeout: time.Millisecond, ProbeTimeout: 30 * time.Millisecond,
		Probe: func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			if !ok {
				d = time.Now().Add(long)
			}
			select {
			case got <- time.Until(d):
			default:
			}
			return errDown
		},
	})
	n.Failure()
	select {
	case d := <-got:
		if d <= 0 || d > 30*time.Millisecond {
			t.Errorf("probe context deadline in %v; want within ProbeTimeout (30ms)", d)
		}
	case <-time.After(waitLimit):
		t.Fatal("no probe")
	}
}

func TestCloseStopsProber(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Millisecond
	p := newProbes()
	p.failing = true
	n := newNode(t, health.Config{FailureLimit: 1, RetryTimeout: interval, RetryMax: interval, Probe: p.probe})
	n.Failure()
	p.wait(t, 2)
	closeWithin(t, n)
	closeWithin(t, n) // twice is fine
	// A probe in flight when Close ran may still finish; none may start
	// after that.
	time.Sleep(2 * interval)
	before := p.count()
	time.Sleep(10 * interval)
	if got := p.count(); got != before {
		t.Errorf("probes after Close: %d more; want none", got-before)
	}
	if got := n.State(); got != health.Ejected {
		t.Errorf("state after Close: %v; want it to stay ejected", got)
	}
}

func TestCloseBeforeFirstProbe(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Millisecond
	p := newProbes()
	n := newNode(t, health.Config{FailureLimit: 1, RetryTimeout: interval, Probe: p.probe})
	n.Failure()
	closeWithin(t, n)
	time.Sleep(10 * interval)
	if got := p.count(); got != 0 {
		t.Errorf("probes after Close: got %d; want 0", got)
	}
	if got := n.State(); got != health.Ejected {
		t.Errorf("state: %v; want ejected", got)
	}
}

func TestEjectAfterClose(t *testing.T) {
	t.Parallel()
	p := newProbes()
	n := newNode(t, health.Config{FailureLimit: 1, RetryTimeout: time.Millisecond, Probe: p.probe})
	closeWithin(t, n)
	n.Eject(0)
	time.Sleep(50 * time.Millisecond)
	if got := p.count(); got != 0 {
		t.Errorf("probes of a closed node: got %d; want 0", got)
	}
	if got := n.State(); got != health.Ejected {
		t.Errorf("state: %v; want ejected", got)
	}
}

// TestEjectWhileReadmitting ejects the node in the instant it is readmitted
// (from OnChange, as a client's failing request can between the prober's
// state change and its exit). The node must not stay out with no prober.
func TestEjectWhileReadmitting(t *testing.T) {
	t.Parallel()
	p := newProbes()
	var once sync.Once
	var n *health.Node
	n = newNode(t, health.Config{
		FailureLimit: 1, RetryTimeout: 2 * time.Millisecond, Probe: p.probe,
		OnChange: func(from, to health.State) {
			if to == health.Healthy {
				once.Do(n.Failure)
			}
		},
	})
	n.Failure()
	p.wait(t, 2) // the second prober's probe readmits the node
	waitUntil(t, "readmission after the second ejection", n.Healthy)
}

// TestCloseDuringProbe closes the node while a probe is in flight: Close
// cancels the probe's context and waits for it, and a probe that succeeds
// anyway (it ignored its context) does not readmit a closed node.
func TestCloseDuringProbe(t *testing.T) {
	t.Parallel()
	for _, honours := range []bool{true, false} {
		t.Run(fmt.Sprintf("probe honours its context %v", honours), func(t *testing.T) {
			t.Parallel()
			c := newChanges()
			entered, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			n := newNode(t, health.Config{
				FailureLimit: 1, RetryTimeout: time.Millisecond, OnChange: c.onChange,
				Probe: func(ctx context.Context) error {
					once.Do(func() { close(entered) })
					if !honours {
						<-release
						return nil
					}
					select {
					case <-release:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				},
			})
			n.Failure()
			recv(t, "probe", entered)
			closed := make(chan struct{})
			go func() { n.Close(); close(closed) }()
			select {
			case <-closed:
				if !honours {
					t.Fatalf("Close returned while a probe was still running; want it to wait")
				}
			case <-time.After(50 * time.Millisecond):
			}
			close(release)
			recv(t, "return from Close", closed)
			if got := n.State(); got != health.Ejected {
				t.Errorf("state after Close during a probe: %v; want ejected", got)
			}
			before := len(c.list())
			time.Sleep(20 * time.Millisecond)
			if got := c.list(); len(got) != before {
				t.Errorf("transitions after Close returned: %v; want none", got[before:])
			}
		})
	}
}
