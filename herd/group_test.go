// Tests of Group against fakeMC, a tiny in-process imitation of memcached's
// meta protocol for one key.
package herd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

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

// fakeMC imitates memcached (1.6) for ONE key, just enough for herd:
//
//   - mg with N on a miss vivifies an empty item and answers W to that
//     reader, Z to every later one until a value is set;
//   - md I marks the value stale and bumps its CAS; the next mg gets X W
//     (the win is re-armed), later ones X Z;
//   - ms and md with C<cas> compare: EX on a mismatch, NF when absent;
//   - "get" answers like a backend without meta: "VA <n> f<flags>" or EN.
//
// It models no TTLs (a lease never lapses) and ignores flags herd does not
// send. The real memcached behaviour, through shepherd, is covered by
// proxy/herd_test.go and proxy/metaconf_test.go.
type fakeMC struct {
	t   *testing.T
	key string

	mu     sync.Mutex // guards the fields below
	exists bool
	filled bool // false for a vivified item no one has set yet
	stale  bool
	won    bool // the win has been handed out
	value  []byte
	flags  uint32
	cas    uint64
	last   uint64   // the last CAS given out
	cmds   []string // "mg v f c N10", ... in the order received
	gate   chan struct{}
	err    error // when set, every command fails with it

	answered atomic.Int32  // mg commands answered
	mgs      chan struct{} // one tick per mg answered
}

func newFake(t *testing.T, key string) *fakeMC {
	return &fakeMC{t: t, key: key, mgs: make(chan struct{}, 10000)}
}

// set stores a live value, as a client's plain set would.
func (f *fakeMC) set(v string, flags uint32) *fakeMC {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store([]byte(v), flags)
	return f
}

func (f *fakeMC) store(v []byte, flags uint32) {
	f.exists, f.filled, f.stale, f.won = true, true, false, false
	f.value, f.flags = bytes.Clone(v), flags
	f.cas = f.bump()
}

func (f *fakeMC) bump() uint64 { f.last++; return f.last }

// hold makes every mg wait until the returned func is called.
func (f *fakeMC) hold() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	return sync.OnceFunc(func() { close(f.gate) })
}

// Meta renders req as memcached would read it and answers it as text,
// parsed by protocol's parser as a real reply would be.
func (f *fakeMC) Meta(ctx context.Context, req *protocol.MetaRequest) (protocol.MetaReply, error) {
	wire := protocol.AppendMeta(nil, req)
	toks := strings.Fields(string(wire[:bytes.Index(wire, []byte("\r\n"))]))
	cmd, key, rest := toks[0], toks[1], toks[2:]
	if cmd == "ms" {
		rest = rest[1:]
	}
	if cmd == "gets" {
		cmd = "get"
	}
	line, val, err := f.meta(ctx, cmd, []byte(key), strings.Join(rest, " "), req.Value)
	if err != nil {
		return protocol.MetaReply{}, err
	}
	raw := line + "\r\n"
	if strings.HasPrefix(line, "VA") {
		raw += string(val) + "\r\n"
	}
	return protocol.ParseMetaReply([]byte(raw))
}

func (f *fakeMC) meta(ctx context.Context, cmd string, key []byte, flags string, value []byte) (string, []byte, error) {
	if string(key) != f.key {
		f.t.Errorf("fake: %s for key %q; want only %q", cmd, key, f.key)
	}
	f.mu.Lock()
	gate := f.gate
	f.cmds = append(f.cmds, strings.TrimSpace(cmd+" "+flags))
	f.mu.Unlock()
	if gate != nil && cmd == "mg" {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", nil, f.err
	}
	tok := tokens(flags)
	switch cmd {
	case "mg":
		defer func() { f.answered.Add(1); f.mgs <- struct{}{} }()
		return f.mg(flags, tok)
	case "get":
		if !f.exists || !f.filled {
			return "EN", nil, nil
		}
		return fmt.Sprintf("VA %d f%d", len(f.value), f.flags), bytes.Clone(f.value), nil
	case "ms":
		if c, ok := tok['C']; ok && !f.exists {
			return "NF", nil, nil
		} else if ok && c != strconv.FormatUint(f.cas, 10) {
			return "EX", nil, nil
		}
		fl, _ := strconv.ParseUint(tok['F'], 10, 32)
		f.store(value, uint32(fl))
		return "HD", nil, nil
	case "md":
		if !f.exists {
			return "NF", nil, nil
		}
		if c, ok := tok['C']; ok && c != strconv.FormatUint(f.cas, 10) {
			return "EX", nil, nil
		}
		if _, ok := tok['I']; ok {
			f.stale, f.won = true, false
			f.cas = f.bump()
			return "HD", nil, nil
		}
		f.exists = false
		return "HD", nil, nil
	}
	f.t.Errorf("fake: unexpected command %q", cmd)
	return "ERROR", nil, nil
}

func (f *fakeMC) mg(flags string, tok map[byte]string) (string, []byte, error) {
	var state string
	switch _, vivify := tok['N']; {
	case !f.exists && !vivify:
		return "EN", nil, nil
	case !f.exists:
		f.exists, f.filled, f.stale, f.won, f.value, f.flags = true, false, false, true, nil, 0
		f.cas = f.bump()
		state = "W"
	case f.stale && !f.won:
		f.won = true
		state = "X W"
	case f.stale:
		state = "Z X"
	case !f.filled:
		state = "Z"
	}
	var b strings.Builder
	var val []byte
	if _, ok := tok['v']; ok {
		val = bytes.Clone(f.value)
		if val == nil {
			val = []byte{}
		}
		fmt.Fprintf(&b, "VA %d", len(val))
	} else {
		b.WriteString("HD")
	}
	for _, t := range strings.Fields(flags) {
		switch t[0] {
		case 'f':
			fmt.Fprintf(&b, " f%d", f.flags)
		case 'c':
			fmt.Fprintf(&b, " c%d", f.cas)
		case 's':
			fmt.Fprintf(&b, " s%d", len(f.value))
		}
	}
	if state != "" {
		b.WriteString(" " + state)
	}
	return b.String(), val, nil
}

func tokens(flags string) map[byte]string {
	m := map[byte]string{}
	for _, t := range strings.Fields(flags) {
		m[t[0]] = t[1:]
	}
	return m
}

func (f *fakeMC) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

func (f *fakeMC) count(cmd string) int {
	n := 0
	for _, c := range f.commands() {
		if c == cmd || strings.HasPrefix(c, cmd+" ") {
			n++
		}
	}
	return n
}

// snapshot returns the item: its value, whether it is there, stale, filled.
func (f *fakeMC) snapshot() (value string, exists, stale, filled bool, cas uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.value), f.exists, f.stale, f.filled, f.cas
}

// waitMGs waits until the fake has answered n mg commands in all.
func (f *fakeMC) waitMGs(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for int(f.answered.Load()) < n {
		select {
		case <-f.mgs:
		case <-deadline:
			t.Fatalf("fake: %d mg answered after %v; want %d", f.answered.Load(), waitLimit, n)
		}
	}
}

func validRule(t *testing.T, r Rule) *Rule {
	t.Helper()
	r = r.WithDefaults()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return &r
}

// waitGoroutines waits until n goroutines' stack dumps satisfy match: a
// seam into where the Group's goroutines are blocked, so that tests force
// interleavings without sleeping.
func waitGoroutines(t *testing.T, n int, match func(stack string) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		buf := make([]byte, 1<<20)
		for {
			k := runtime.Stack(buf, true)
			if k < len(buf) {
				buf = buf[:k]
				break
			}
			buf = make([]byte, 2*len(buf))
		}
		got := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if match(g) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines in the wanted place: got %d after %v; want %d", got, waitLimit, n)
		}
		time.Sleep(time.Millisecond)
	}
}

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

func TestGetHit(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k").set("v", 7)
	g := New(Config{})
	r, err := g.Get(t.Context(), f, []byte("k"), validRule(t, Rule{LeaseTTL: 3 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Found || string(r.Value) != "v" || r.Flags != 7 || r.CAS == 0 || r.Lease != (Lease{}) {
		t.Errorf("Get = %+v; want a hit on v, flags 7, a CAS and no lease", r)
	}
	if got, want := f.commands(), []string{"mg v f c N3"}; !slices.Equal(got, want) {
		t.Errorf("backend commands %q; want %q", got, want)
	}
	if g.Stats.Wins.Load()+g.Stats.Holds.Load()+g.Stats.StaleServed.Load() != 0 {
		t.Errorf("a plain hit counted as a win, hold or stale read")
	}
}

func TestGetBackendError(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k")
	f.err = errors.New("connection reset")
	g := New(Config{})
	if _, err := g.Get(t.Context(), f, []byte("k"), validRule(t, Rule{})); !errors.Is(err, f.err) {
		t.Errorf("Get: error %v; want %v", err, f.err)
	}
	bad := BackendFunc(func(context.Context, *protocol.MetaRequest) (protocol.MetaReply, error) {
		return protocol.MetaReply{Error: "SERVER_ERROR out of memory"}, nil
	})
	if _, err := g.Get(t.Context(), bad, []byte("k"), validRule(t, Rule{})); !errors.Is(err, ErrUnexpected) {
		t.Errorf("Get with a SERVER_ERROR reply: error %v; want ErrUnexpected", err)
	}
}

// TestGetCoalesces sends n concurrent gets of a cold key: one backend mg,
// one lease, and the others held until the lease holder's set.
func TestGetCoalesces(t *testing.T) {
	t.Parallel()
	const n = 16
	f := newFake(t, "k")
	g := New(Config{})
	rule := validRule(t, Rule{Hold: waitLimit})
	release := f.hold()
	t.Cleanup(release) // so that no getter outlives a failed test
	type res struct {
		r   Result
		err error
	}
	results := make(chan res, n)
	for range n {
		go func() {
			r, err := g.Get(t.Context(), f, []byte("k"), rule)
			results <- res{r, err}
		}()
	}
	// Every getter is inside singleflight, waiting for the flight or (its
	// leader) inside the fake, before the one mg may answer.
	waitGoroutines(t, n, func(s string) bool {
		return strings.Contains(s, "herd.TestGetCoalesces") && strings.Contains(s, "singleflight.(*Group).Do(") &&
			(strings.Contains(s, "herd.(*fakeMC).Meta(") || strings.Contains(s, "sync.(*WaitGroup).Wait("))
	})
	if got := f.count("mg"); got != 1 {
		t.Fatalf("backend mg for %d concurrent gets: got %d; want 1", n, got)
	}
	release()

	first := <-results // the winner returns at once; the others are held
	if first.err != nil || first.r.Found || first.r.Lease.CAS == 0 {
		t.Fatalf("first result %+v, %v; want a miss with a lease", first.r, first.err)
	}
	waitGoroutines(t, n-1, func(s string) bool {
		return strings.Contains(s, "herd.TestGetCoalesces") && strings.Contains(s, "herd.(*Group).hold(")
	})
	stored, err := g.Store(t.Context(), f, []byte("k"), []byte("fresh"), 5, 0, first.r.Lease)
	if err != nil || !stored {
		t.Fatalf("Store with the lease: %v, %v; want true, nil", stored, err)
	}
	for range n - 1 {
		r := <-results
		if r.err != nil || !r.r.Found || string(r.r.Value) != "fresh" || r.r.Flags != 5 || r.r.Lease.CAS != 0 {
			t.Errorf("held reader got %+v, %v; want a hit on fresh (flags 5) and no lease", r.r, r.err)
		}
	}
	st := &g.Stats
	if st.Wins.Load() != 1 || st.Holds.Load() != n-1 || st.HoldTimeouts.Load() != 0 || st.Coalesced.Load() < n-1 {
		t.Errorf("wins %d, holds %d, hold timeouts %d, coalesced %d; want 1, %d, 0, at least %d",
			st.Wins.Load(), st.Holds.Load(), st.HoldTimeouts.Load(), st.Coalesced.Load(), n-1, n-1)
	}
}

// TestGetStale: after an invalidation one reader wins the refill (a miss
// and a lease) and every other reader gets the stale value at once.
func TestGetStale(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k").set("old", 3)
	g := New(Config{})
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return t0 }
	rule := validRule(t, Rule{LeaseTTL: 7 * time.Second})
	key := []byte("k")
	if found, err := invalidate(g, t.Context(), f, key, rule); !found || err != nil {
		t.Fatalf("Invalidate of a live value: %v, %v; want true, nil", found, err)
	}

	win, err := g.Get(t.Context(), f, key, rule)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, _, cas := f.snapshot()
	if want := (Lease{CAS: cas, Expires: t0.Add(7 * time.Second)}); win.Found || win.Lease != want {
		t.Fatalf("first read after the invalidation: %+v; want a miss with lease %+v", win, want)
	}
	for i := range 3 {
		r, err := g.Get(t.Context(), f, key, rule)
		if err != nil || !r.Found || string(r.Value) != "old" || r.Flags != 3 || r.Lease != (Lease{}) {
			t.Fatalf("read %d after the win: %+v, %v; want the stale value old (flags 3), no lease", i+2, r, err)
		}
	}
	if got := g.Stats.StaleServed.Load(); got != 3 {
		t.Errorf("stale served: got %d; want 3", got)
	}
	if stored, err := g.Store(t.Context(), f, key, []byte("new"), 4, 60, win.Lease); !stored || err != nil {
		t.Fatalf("Store under the lease: %v, %v; want true, nil", stored, err)
	}
	if got := f.commands(); got[len(got)-1] != fmt.Sprintf("ms C%d F4 T60", cas) {
		t.Errorf("Store sent %q; want %q", got[len(got)-1], fmt.Sprintf("ms C%d F4 T60", cas))
	}
	r, err := g.Get(t.Context(), f, key, rule)
	if err != nil || !r.Found || string(r.Value) != "new" {
		t.Errorf("read after the refill: %+v, %v; want new", r, err)
	}
	if got := g.Stats.StaleServed.Load(); got != 3 {
		t.Errorf("stale served after the refill: got %d; want still 3", got)
	}
}

// TestHoldWakeup: a reader held on a cold key is woken by Filled when the
// lease holder's set goes through this Group, without waiting for a poll.
func TestHoldWakeup(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k")
	g := New(Config{})
	rule := validRule(t, Rule{Hold: waitLimit})
	key := []byte("k")
	win, err := g.Get(t.Context(), f, key, rule)
	if err != nil || win.Lease.CAS == 0 {
		t.Fatalf("first get: %+v, %v; want a lease", win, err)
	}
	type res struct {
		r   Result
		err error
	}
	done := make(chan res, 1)
	go func() {
		r, err := g.Get(t.Context(), f, key, rule)
		done <- res{r, err}
	}()
	// The held reader re-reads after 5, 10, 20, 40 and 80ms, then every
	// 100ms. Once it has (1 + 1 + 5 mg), it sleeps 100ms in its select:
	// Filled comes long before its next poll.
	f.waitMGs(t, 7)
	waitGoroutines(t, 1, func(s string) bool {
		return strings.Contains(s, "herd.TestHoldWakeup") && strings.Contains(s, "[select") &&
			strings.Contains(s, "herd.(*Group).hold(") && !strings.Contains(s, "herd.(*Group).fetch(")
	})
	before := f.count("mg")
	if stored, err := g.Store(t.Context(), f, key, []byte("v"), 0, 0, win.Lease); !stored || err != nil {
		t.Fatalf("Store: %v, %v", stored, err)
	}
	got := <-done
	if got.err != nil || !got.r.Found || string(got.r.Value) != "v" {
		t.Fatalf("held reader: %+v, %v; want v", got.r, got.err)
	}
	if after := f.count("mg"); after != before+1 {
		t.Errorf("mg from the held reader after Store: %d; want 1 (its re-read when woken)", after-before)
	}
	if w, to := g.Stats.HoldWakeups.Load(), g.Stats.HoldTimeouts.Load(); w != 1 || to != 0 {
		t.Errorf("hold wakeups %d, timeouts %d; want 1, 0", w, to)
	}
}

func TestFilledWakesWaiters(t *testing.T) {
	t.Parallel()
	g := New(Config{})
	a, b := g.join([]byte("k")), g.join([]byte("k"))
	other := g.join([]byte("j"))
	if a != b {
		t.Fatalf("join: two channels for one key; want one shared")
	}
	g.Filled([]byte("k"))
	g.Filled([]byte("k")) // nothing waits any more: no double close
	select {
	case <-a:
	default:
		t.Fatal("Filled did not close the key's channel")
	}
	select {
	case <-other:
		t.Fatal("Filled of k woke the readers of j")
	default:
	}
	if c := g.join([]byte("k")); c == a {
		t.Errorf("waiter after Filled returned the closed channel; want a new one")
	}
}

// TestHoldTimeout: a reader held on a cold key no one fills gets a miss
// after Hold.
func TestHoldTimeout(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k")
	g := New(Config{})
	const hold = 50 * time.Millisecond
	rule := validRule(t, Rule{Hold: hold})
	key := []byte("k")
	if win, err := g.Get(t.Context(), f, key, rule); err != nil || win.Lease.CAS == 0 {
		t.Fatalf("first get: %+v, %v; want a lease", win, err)
	}
	start := time.Now()
	r, err := g.Get(t.Context(), f, key, rule)
	elapsed := time.Since(start)
	if err != nil || r.Found || r.Lease != (Lease{}) {
		t.Errorf("held reader: %+v, %v; want a plain miss", r, err)
	}
	if elapsed < hold || elapsed > 5*time.Second {
		t.Errorf("held for %v; want about %v", elapsed, hold)
	}
	if h, to := g.Stats.Holds.Load(), g.Stats.HoldTimeouts.Load(); h != 1 || to != 1 {
		t.Errorf("holds %d, hold timeouts %d; want 1, 1", h, to)
	}
	if got := f.count("mg"); got < 3 {
		t.Errorf("mg: got %d; want the held reader to have re-read at least once", got)
	}
}

func TestHoldLeavesNoWaiter(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k")
	g := New(Config{})
	rule := validRule(t, Rule{Hold: 20 * time.Millisecond})
	g.Get(t.Context(), f, []byte("k"), rule)
	g.Get(t.Context(), f, []byte("k"), rule) // held, times out
	g.mu.Lock()
	n := len(g.holds)
	g.mu.Unlock()
	if n != 0 {
		t.Errorf("g.holds after the hold ended: %d entries; want 0", n)
	}
}

func TestHoldContextCancel(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k")
	g := New(Config{})
	rule := validRule(t, Rule{Hold: waitLimit})
	g.Get(t.Context(), f, []byte("k"), rule) // takes the win
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := g.Get(ctx, f, []byte("k"), rule); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held reader whose context ends: error %v; want context.DeadlineExceeded", err)
	}
}

// TestStoreLateFill: a refill that started before an invalidation must not
// overwrite what came after it.
func TestStoreLateFill(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	t.Run("cold key deleted", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, "k")
		g := New(Config{})
		rule := validRule(t, Rule{})
		win, _ := g.Get(t.Context(), f, key, rule)
		if found, err := invalidate(g, t.Context(), f, key, rule); found || err != nil {
			t.Fatalf("Invalidate of a cold key being filled: %v, %v; want false, nil", found, err)
		}
		stored, err := g.Store(t.Context(), f, key, []byte("from before"), 0, 0, win.Lease)
		if stored || err != nil {
			t.Errorf("late Store: %v, %v; want false, nil", stored, err)
		}
		if _, exists, _, _, _ := f.snapshot(); exists {
			t.Errorf("the late fill was stored")
		}
		if got := g.Stats.LateFillsRejected.Load(); got != 1 {
			t.Errorf("late fills rejected: got %d; want 1", got)
		}
	})
	t.Run("stale key invalidated again", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, "k").set("v1", 0)
		g := New(Config{})
		rule := validRule(t, Rule{})
		invalidate(g, t.Context(), f, key, rule)
		win, _ := g.Get(t.Context(), f, key, rule)
		if win.Lease.CAS == 0 {
			t.Fatalf("read after the invalidation: %+v; want a lease", win)
		}
		if found, err := invalidate(g, t.Context(), f, key, rule); found || err != nil {
			t.Fatalf("second Invalidate: %v, %v; want false, nil (already stale)", found, err)
		}
		stored, err := g.Store(t.Context(), f, key, []byte("v2 from before"), 0, 0, win.Lease)
		if stored || err != nil {
			t.Errorf("late Store: %v, %v; want false, nil", stored, err)
		}
		if v, _, stale, _, _ := f.snapshot(); v != "v1" || !stale {
			t.Errorf("item after the late fill: %q, stale %v; want v1, stale", v, stale)
		}
		if got := g.Stats.LateFillsRejected.Load(); got != 1 {
			t.Errorf("late fills rejected: got %d; want 1", got)
		}
		// The re-armed win goes to the next reader.
		if r, _ := g.Get(t.Context(), f, key, rule); r.Lease.CAS == 0 || r.Lease.CAS == win.Lease.CAS {
			t.Errorf("read after the second invalidation: %+v; want a new lease", r)
		}
	})
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     func(f *fakeMC, g *Group)
		found     bool
		wantCmds  []string // after the setup
		wantExist bool
	}{
		{
			name:  "live",
			setup: func(f *fakeMC, g *Group) { f.set("v", 0) },
			found: true, wantCmds: []string{"mg c t s", "md C1 T45 I"}, wantExist: true,
		},
		{
			name:  "absent",
			setup: func(*fakeMC, *Group) {},
			found: false, wantCmds: []string{"mg c t s"},
		},
		{
			name: "already stale",
			setup: func(f *fakeMC, g *Group) {
				f.set("v", 0)
				invalidate(g, context.Background(), f, []byte("k"), &Rule{StaleTTL: 45 * time.Second})
			},
			found: false, wantCmds: []string{"mg c t s", "md C2 T45 I", "md C2 I"}, wantExist: true, // the look took the win: handed back (a no-op once re-marked)
		},
		{
			name: "cold key being filled",
			setup: func(f *fakeMC, g *Group) {
				g.Get(context.Background(), f, []byte("k"), &Rule{LeaseTTL: time.Second})
			},
			found: false, wantCmds: []string{"mg c t s", "md C1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, "k")
			g := New(Config{})
			tc.setup(f, g)
			skip := len(f.commands())
			found, err := invalidate(g, t.Context(), f, []byte("k"), validRule(t, Rule{StaleTTL: 45 * time.Second}))
			if err != nil || found != tc.found {
				t.Errorf("Invalidate: %v, %v; want %v, nil", found, err, tc.found)
			}
			if got := f.commands()[skip:]; !slices.Equal(got, tc.wantCmds) {
				t.Errorf("backend commands %q; want %q", got, tc.wantCmds)
			}
			v, exists, stale, _, _ := f.snapshot()
			if exists != tc.wantExist || (exists && (!stale || v != "v")) {
				t.Errorf("item after Invalidate: exists %v, stale %v, value %q; want exists %v (stale, v)", exists, stale, v, tc.wantExist)
			}
			if exists {
				// The win is armed for the next reader even if Invalidate's
				// own read took it.
				r, _ := g.Get(t.Context(), f, []byte("k"), validRule(t, Rule{}))
				if r.Lease.CAS == 0 {
					t.Errorf("first read after Invalidate: %+v; want the win", r)
				}
			}
		})
	}
}

func TestInvalidateBackendError(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k").set("v", 0)
	f.err = errors.New("timeout")
	g := New(Config{})
	if found, err := invalidate(g, t.Context(), f, []byte("k"), validRule(t, Rule{})); found || !errors.Is(err, f.err) {
		t.Errorf("Invalidate: %v, %v; want false, %v", found, err, f.err)
	}
}

func TestNoMeta(t *testing.T) {
	t.Parallel()
	f := newFake(t, "k")
	g := New(Config{NoMeta: true})
	if g.Meta() {
		t.Fatal("Meta() = true with NoMeta")
	}
	rule := validRule(t, Rule{})
	r, err := g.Get(t.Context(), f, []byte("k"), rule)
	if err != nil || r.Found || r.Lease != (Lease{}) {
		t.Errorf("cold get without meta: %+v, %v; want a plain miss", r, err)
	}
	f.set("v", 9)
	r, err = g.Get(t.Context(), f, []byte("k"), rule)
	if err != nil || !r.Found || string(r.Value) != "v" || r.Flags != 9 {
		t.Errorf("get without meta: %+v, %v; want v, flags 9", r, err)
	}
	if got, want := f.commands(), []string{"get", "get"}; !slices.Equal(got, want) {
		t.Errorf("backend commands %q; want %q", got, want)
	}

	g2 := New(Config{})
	if !g2.Meta() {
		t.Fatal("Meta() = false by default")
	}
	g2.DisableMeta()
	g2.Get(t.Context(), f, []byte("k"), rule)
	if got := f.commands(); got[len(got)-1] != "get" || g2.Meta() {
		t.Errorf("after DisableMeta: sent %q, Meta() %v; want get, false", got[len(got)-1], g2.Meta())
	}
}

// testOrigin is an httptest origin on 127.0.0.1 answering status with body
// for /fill?key=<key>.
type testOrigin struct {
	srv    *httptest.Server
	status atomic.Int32
	body   string
	hits   atomic.Int32
	keys   chan string
}

func newTestOrigin(t *testing.T, status int, body string) *testOrigin {
	o := &testOrigin{body: body, keys: make(chan string, 100)}
	o.status.Store(int32(status))
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		select {
		case o.keys <- r.URL.Query().Get("key"):
		default:
		}
		w.WriteHeader(int(o.status.Load()))
		fmt.Fprint(w, o.body)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *testOrigin) rule(t *testing.T, r Rule) *Rule {
	r.Origin = o.srv.URL + "/fill?key={key}"
	return validRule(t, r)
}

func TestOriginFill(t *testing.T) {
	t.Parallel()
	const key = "user:1/a&b"
	o := newTestOrigin(t, http.StatusOK, "from origin")
	f := newFake(t, key)
	g := New(Config{Fill: f})
	r, err := g.Get(t.Context(), f, []byte(key), o.rule(t, Rule{TTL: time.Minute}))
	if err != nil || !r.Found || string(r.Value) != "from origin" || r.Lease != (Lease{}) {
		t.Fatalf("cold get with an origin: %+v, %v; want the origin's value and no lease", r, err)
	}
	if got := <-o.keys; got != key {
		t.Errorf("origin asked for %q; want %q", got, key)
	}
	v, _, _, filled, _ := f.snapshot()
	if !filled || v != "from origin" {
		t.Errorf("backend holds %q (filled %v); want the origin's value", v, filled)
	}
	cmds := f.commands()
	if want := []string{"mg v f c N10", "ms C1 T60"}; !slices.Equal(cmds, want) {
		t.Errorf("backend commands %q; want %q (the fill guarded by the win's CAS)", cmds, want)
	}
	st := &g.Stats
	if st.Wins.Load() != 1 || st.OriginFetches.Load() != 1 || st.OriginFailures.Load() != 0 || st.LateFillsRejected.Load() != 0 {
		t.Errorf("wins %d, origin fetches %d, failures %d, fills rejected %d; want 1, 1, 0, 0",
			st.Wins.Load(), st.OriginFetches.Load(), st.OriginFailures.Load(), st.LateFillsRejected.Load())
	}
}

func TestOriginNotFound(t *testing.T) {
	t.Parallel()
	o := newTestOrigin(t, http.StatusNotFound, "")
	f := newFake(t, "k")
	g := New(Config{Fill: f})
	r, err := g.Get(t.Context(), f, []byte("k"), o.rule(t, Rule{}))
	if err != nil || r.Found {
		t.Fatalf("get of a key the origin lacks: %+v, %v; want a miss", r, err)
	}
	if _, exists, _, _, _ := f.snapshot(); exists {
		t.Errorf("the empty item is still there; want it deleted")
	}
	if want := []string{"mg v f c N10", "md C1"}; !slices.Equal(f.commands(), want) {
		t.Errorf("backend commands %q; want %q", f.commands(), want)
	}
	if got := g.Stats.OriginFailures.Load(); got != 0 {
		t.Errorf("origin failures for a 404: got %d; want 0", got)
	}
}

// TestOriginFailure: a failing origin is retried with backoff while the
// lease lasts, then the reader gets a miss. The clock steps 300ms a call,
// so the schedule is exact: fetch, 100ms, fetch, 200ms, fetch, give up.
func TestOriginFailure(t *testing.T) {
	t.Parallel()
	o := newTestOrigin(t, http.StatusInternalServerError, "boom")
	f := newFake(t, "k")
	var logs atomic.Int32
	g := New(Config{Fill: f, Logf: func(string, ...any) { logs.Add(1) }})
	var clock atomic.Int64
	t0 := time.Now()
	g.now = func() time.Time { return t0.Add(time.Duration(clock.Add(1)-1) * 300 * time.Millisecond) }
	r, err := g.Get(t.Context(), f, []byte("k"), o.rule(t, Rule{LeaseTTL: time.Second}))
	if err != nil || r.Found {
		t.Errorf("get with a failing origin: %+v, %v; want a miss", r, err)
	}
	st := &g.Stats
	if st.OriginFetches.Load() != 3 || st.OriginFailures.Load() != 3 || o.hits.Load() != 3 || logs.Load() != 3 {
		t.Errorf("origin fetches %d, failures %d, requests %d, logged %d; want 3 each",
			st.OriginFetches.Load(), st.OriginFailures.Load(), o.hits.Load(), logs.Load())
	}
	if f.count("ms")+f.count("md") != 0 {
		t.Errorf("backend commands %q; want no ms or md after a failed fill", f.commands())
	}
}

// TestOriginStaleWin: the reader that wins a stale key gets the stale
// value at once while shepherd refills in the background.
func TestOriginStaleWin(t *testing.T) {
	t.Parallel()
	o := newTestOrigin(t, http.StatusOK, "fresh")
	f := newFake(t, "k").set("old", 0)
	f.mu.Lock()
	f.stale, f.cas = true, f.bump() // invalidated elsewhere
	f.mu.Unlock()
	g := New(Config{Fill: f})
	r, err := g.Get(t.Context(), f, []byte("k"), o.rule(t, Rule{}))
	if err != nil || !r.Found || string(r.Value) != "old" {
		t.Fatalf("winner of a stale key: %+v, %v; want the stale value", r, err)
	}
	waitUntil(t, "background refill", func() bool { v, _, stale, _, _ := f.snapshot(); return v == "fresh" && !stale })
	if g.Stats.StaleServed.Load() != 1 || g.Stats.Wins.Load() != 1 {
		t.Errorf("stale served %d, wins %d; want 1, 1", g.Stats.StaleServed.Load(), g.Stats.Wins.Load())
	}
}

// TestFillOnInvalidate: a delete of a key with an origin marks it stale and
// refills it at once.
func TestFillOnInvalidate(t *testing.T) {
	t.Parallel()
	o := newTestOrigin(t, http.StatusOK, "v2")
	f := newFake(t, "k").set("v1", 0)
	g := New(Config{Fill: f})
	found, err := invalidate(g, t.Context(), f, []byte("k"), o.rule(t, Rule{}))
	if !found || err != nil {
		t.Fatalf("Invalidate: %v, %v; want true, nil", found, err)
	}
	waitUntil(t, "refill", func() bool { v, _, stale, _, _ := f.snapshot(); return v == "v2" && !stale })
	if got := g.Stats.Wins.Load(); got != 1 {
		t.Errorf("wins: got %d; want 1 (shepherd's own)", got)
	}
	if got := f.count("mg c N10"); got != 1 {
		t.Errorf("backend commands %q; want one mg c N10 taking the win", f.commands())
	}
}

// invalidate runs g.Invalidate and reports whether it answered DELETED.
func invalidate(g *Group, ctx context.Context, b Backend, key []byte, rule *Rule) (bool, error) {
	a, err := g.Invalidate(ctx, b, key, rule)
	return a.Outcome == Deleted, err
}

// TestCloseWaitsForFills: Close ends a background origin fill and returns
// only once its goroutine has.
func TestCloseWaitsForFills(t *testing.T) {
	t.Parallel()
	hit := make(chan struct{}, 1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit <- struct{}{}
		<-r.Context().Done() // the origin hangs until shepherd gives up
	}))
	t.Cleanup(origin.Close)
	f := newFake(t, "k").set("old", 0)
	f.mu.Lock()
	f.stale, f.cas = true, f.bump()
	f.mu.Unlock()
	logged, release := make(chan struct{}), make(chan struct{})
	g := New(Config{Fill: f, Logf: func(string, ...any) {
		close(logged) // the fill failed: Close cancelled it
		<-release
	}})
	rule := validRule(t, Rule{Origin: origin.URL + "/?k={key}", OriginTimeout: waitLimit, LeaseTTL: waitLimit})
	if r, err := g.Get(t.Context(), f, []byte("k"), rule); err != nil || string(r.Value) != "old" {
		t.Fatalf("stale win: %+v, %v; want the stale value and a background fill", r, err)
	}
	<-hit
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	<-logged
	select {
	case <-closed:
		t.Fatal("Close returned while a fill goroutine was still running")
	default:
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatalf("Close did not return within %v of its fill ending", waitLimit)
	}
}

// TestOriginConcurrencyDefault: OriginConcurrency bounds origin requests
// in flight, 16 when zero or negative (Config's comment), so that a Group
// from a zero Config still fetches: with no slot every fetch would wait
// for its context instead.
func TestOriginConcurrencyDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ set, want int }{{0, 16}, {-1, 16}, {1, 1}, {3, 3}} {
		if got := cap(New(Config{OriginConcurrency: tc.set}).origin.slots); got != tc.want {
			t.Errorf("OriginConcurrency %d: %d origin requests at once; want %d", tc.set, got, tc.want)
		}
	}
}
