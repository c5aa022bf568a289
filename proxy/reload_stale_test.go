// Reloads that move keys between nodes and back must never let a read
// return a value older than a write the client was told was STORED.
package proxy_test

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// staleCheck keeps, per key, the highest version acknowledged as STORED,
// and counts reads that returned less than what was acknowledged before
// they were sent.
type staleCheck struct {
	acked  []atomic.Int64
	reads  atomic.Int64
	misses atomic.Int64 // of which lost: a STORED version was acknowledged
	lost   atomic.Int64
	stale  atomic.Int64
	failed atomic.Int64 // writes or reads answered with an error

	mu       sync.Mutex // guards examples
	examples []string
}

func newStaleCheck(nkeys int) *staleCheck {
	return &staleCheck{acked: make([]atomic.Int64, nkeys)}
}

func staleKey(i int) string { return fmt.Sprintf("flap:%d", i) }

// writer stores ever higher versions of the keys i ≡ w (mod ways) until
// stop, recording each STORED.
func (sc *staleCheck) writer(c *conn, w, ways int, stop <-chan struct{}) {
	version := map[int]int64{}
	for i := w; ; i += ways {
		select {
		case <-stop:
			return
		default:
		}
		k := i % len(sc.acked)
		version[k]++
		v := strconv.FormatInt(version[k], 10)
		fmt.Fprintf(c.nc, "set %s 0 0 %d\r\n%s\r\n", staleKey(k), len(v), v)
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := c.br.ReadString('\n')
		if err != nil {
			sc.note("set %s: %v", staleKey(k), err)
			return
		}
		if line != "STORED\r\n" {
			sc.failed.Add(1)
			sc.note("set %s: got %q; want STORED", staleKey(k), line)
			continue
		}
		sc.acked[k].Store(version[k])
	}
}

// reader gets random keys until stop (or, with stop nil, every key once)
// and checks each value against the version acknowledged before the get.
func (sc *staleCheck) reader(c *conn, seed int64, stop <-chan struct{}) {
	rng := rand.New(rand.NewSource(seed))
	for i := 0; ; i++ {
		k := i
		if stop != nil {
			select {
			case <-stop:
				return
			default:
			}
			k = rng.Intn(len(sc.acked))
		} else if k >= len(sc.acked) {
			return
		}
		if err := sc.check(c, k); err != nil {
			sc.note("get %s: %v", staleKey(k), err)
			return
		}
	}
}

func (sc *staleCheck) check(c *conn, k int) error {
	before := sc.acked[k].Load()
	fmt.Fprintf(c.nc, "get %s\r\n", staleKey(k))
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.br.ReadString('\n')
	if err != nil {
		return err
	}
	sc.reads.Add(1)
	if line == "END\r\n" {
		sc.misses.Add(1)
		if before > 0 {
			sc.lost.Add(1)
		}
		return nil
	}
	if !strings.HasPrefix(line, "VALUE ") {
		sc.failed.Add(1)
		sc.note("get %s: got %q", staleKey(k), line)
		return nil
	}
	val, err := c.br.ReadString('\n')
	if err != nil {
		return err
	}
	if end, err := c.br.ReadString('\n'); err != nil || end != "END\r\n" {
		return fmt.Errorf("got %q, %v after the value; want END", end, err)
	}
	got, _ := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
	if got < before {
		sc.stale.Add(1)
		sc.note("get %s: got version %d; %d was acknowledged before the get", staleKey(k), got, before)
	}
	return nil
}

func (sc *staleCheck) note(format string, args ...any) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.examples) < 10 {
		sc.examples = append(sc.examples, fmt.Sprintf(format, args...))
	}
}

func (sc *staleCheck) report(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: %d reads, %d misses (%d of acknowledged keys), %d stale, %d errors",
		what, sc.reads.Load(), sc.misses.Load(), sc.lost.Load(), sc.stale.Load(), sc.failed.Load())
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, e := range sc.examples {
		t.Log(e)
	}
}

// TestReloadNoStaleRead: clients write and read at full speed while the
// pool flaps 50 times between 3 and 4 nodes, then a node is added and
// rolled back. No read, during or after, returns a version older than the
// last one acknowledged before the read was sent; a miss is allowed (a
// cache may lose a key), an older value is not.
func TestReloadNoStaleRead(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	f, next := startReloadable(t, nodes[:3])
	const nkeys, ways = 500, 4
	sc := newStaleCheck(nkeys)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < ways; w++ {
		wc, rc := dial(t, f.addr), dial(t, f.addr)
		wg.Add(2)
		go func() { defer wg.Done(); sc.writer(wc, w, ways, stop) }()
		go func() { defer wg.Done(); sc.reader(rc, int64(w), stop) }()
	}
	var took, longest time.Duration
	reload := func(what string, n int) {
		start := time.Now()
		if err := f.srv.Reload(next(nodes[:n]...)); err != nil {
			t.Errorf("%s: Reload to %d nodes: %v", what, n, err)
		}
		took += time.Since(start)
		longest = max(longest, time.Since(start))
	}
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 50; i++ {
		reload(fmt.Sprintf("flap %d", i), 4-i%2)
		time.Sleep(40 * time.Millisecond)
	}
	reload("add", 4)
	time.Sleep(300 * time.Millisecond)
	reload("rollback", 3)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	sc.report(t, "under load")
	var copied, deleted uint64
	for _, st := range f.srv.Backends() {
		copied, deleted = copied+st.Copied, deleted+st.Deleted
	}
	t.Logf("52 reloads: %v in all, the longest %v; the 3 nodes left had %d values copied to them and %d keys deleted",
		took.Round(time.Millisecond), longest.Round(time.Millisecond), copied, deleted)
	during := sc.stale.Load()

	sweep := newStaleCheck(nkeys)
	for k := range sweep.acked {
		sweep.acked[k].Store(sc.acked[k].Load())
	}
	sweep.reader(dial(t, f.addr), 0, nil)
	sweep.report(t, "after the rollback, every key")
	if during != 0 || sweep.stale.Load() != 0 {
		t.Errorf("stale reads: got %d under load and %d after; want 0 and 0", during, sweep.stale.Load())
	}
	if sc.failed.Load() != 0 {
		t.Errorf("failed requests: got %d; want 0", sc.failed.Load())
	}
}

// TestReloadWhileEjected: the servers change while a node is ejected under
// rehash, so its keys' stand-in changes too. A's key is written on
// stand-in S1 (ring B C), then, after a reload adds D, on stand-in S2
// (ring B C D); A returns; a reload removes D and A is ejected again, so
// S1 stands in once more. S1's copy is older than the last write: a read
// must miss or see the last write, never S1's copy.
func TestReloadWhileEjected(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	fast := func(pc *proxy.PoolConfig) *proxy.PoolConfig {
		pc.Timeout, pc.FailureLimit = 300*time.Millisecond, 2
		pc.RetryTimeout, pc.RetryMax = 200*time.Millisecond, 400*time.Millisecond
		return pc
	}
	var dir string
	f := startShepherd(t, nodes[:3], func(cfg *proxy.Config) {
		cfg.Pools["main"] = fast(poolOf(nodes[:3]...))
		dir = cfg.SpoolDir
	})
	reload := func(n int) {
		t.Helper()
		cfg := &proxy.Config{Pools: map[string]*proxy.PoolConfig{"main": fast(poolOf(nodes[:n]...))}, Logger: quietLogger(), SpoolDir: dir}
		if err := f.srv.Reload(cfg); err != nil {
			t.Fatalf("Reload to %d nodes: %v", n, err)
		}
	}
	k, s1 := standInsDiffer(t, nodes)
	c := dial(t, f.addr)
	set := func(v string) {
		t.Helper()
		c.send("set " + k + " 0 0 2\r\n" + v + "\r\n")
		c.expect("STORED")
	}
	eject := func() {
		t.Helper()
		nodes[0].Pause()
		for i := 0; i < 3; i++ {
			c.send("get " + k + "\r\n")
			readValue(t, c)
		}
		waitState(t, f.srv, nodes[0].Addr, "ejected")
	}
	set("v1")
	eject()
	set("v2") // on S1
	reload(4)
	set("v3") // on S2
	nodes[0].Resume()
	waitState(t, f.srv, nodes[0].Addr, "healthy")
	c.send("get " + k + "\r\n")
	if got := readValue(t, c); got != "v3" && got != "" {
		t.Fatalf("get after A returned: got %q; want v3 or a miss", got)
	}
	reload(3)
	eject()
	defer nodes[0].Resume()
	for i := 0; i < 20; i++ {
		c.send("get " + k + "\r\n")
		if got := readValue(t, c); got != "v3" && got != "" {
			t.Fatalf("get %d with S1 (%s) standing in again: got %q; want v3 or a miss (v2 is S1's old copy)", i, s1, got)
		}
	}
}

// standInsDiffer finds a key that nodes[0] owns in rings A B C and A B C
// D, whose stand-in without A differs between the two; it returns the key
// and the address of its stand-in in ring B C.
func standInsDiffer(t *testing.T, nodes []*mctest.Server) (string, string) {
	t.Helper()
	rings := map[string]*ring.Ring{}
	for name, ns := range map[string][]*mctest.Server{"abc": nodes[:3], "abcd": nodes, "bc": nodes[1:3], "bcd": nodes[1:]} {
		r, err := ring.New(poolOf(ns...).Servers, ring.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rings[name] = r
	}
	for i := 0; i < 100000; i++ {
		k := []byte(fmt.Sprintf("moved:%d", i))
		s1, s2 := nodes[1+rings["bc"].Lookup(k)], nodes[1+rings["bcd"].Lookup(k)]
		if rings["abc"].Lookup(k) == 0 && rings["abcd"].Lookup(k) == 0 && s1 != s2 {
			return string(k), s1.Addr
		}
	}
	t.Fatal("no key found")
	return "", ""
}

// TestReloadFlushWhileDeparted: flush_all while a node is out of the pool
// reaches it when it is added back: its old values do not return.
func TestReloadFlushWhileDeparted(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	f, next := startReloadable(t, nodes)
	c := dial(t, f.addr)
	keys := keyList(400)
	setKeys(c, keys, "old")
	if err := f.srv.Reload(next(nodes[:3]...)); err != nil {
		t.Fatal(err)
	}
	c.send("flush_all\r\n")
	c.expect("OK")
	if err := f.srv.Reload(next(nodes...)); err != nil {
		t.Fatal(err)
	}
	if got := len(found(c, keys)); got != 0 {
		t.Errorf("keys found after flush_all and D's return: got %d; want 0", got)
	}
}

// TestReloadDepartedAcrossRestart: a node removed before a restart is
// added back after it; the restarted shepherd did not track the writes
// made while the node was away, so the node is flushed before it serves.
func TestReloadDepartedAcrossRestart(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	f, next := startReloadable(t, nodes)
	keys := keyList(400)
	setKeys(dial(t, f.addr), keys, "v1")
	if err := f.srv.Reload(next(nodes[:3]...)); err != nil {
		t.Fatal(err)
	}
	f.stop()
	cfg := next(nodes[:3]...)
	f = startShepherd(t, nodes[:3], func(c *proxy.Config) { *c = *cfg })
	c := dial(t, f.addr)
	setKeys(c, keys, "v2")
	if err := f.srv.Reload(next(nodes...)); err != nil {
		t.Fatal(err)
	}
	stale := 0
	for _, k := range keys {
		c.send("get " + k + "\r\n")
		if readValue(t, c) == "v1" {
			stale++
		}
	}
	if stale != 0 {
		t.Errorf("keys read as v1 after v2 was stored: got %d; want 0", stale)
	}
}

// TestReloadHistoryAcrossRestart: keys that moved to D are written there
// only after a restart; a reload then removes D. The restarted shepherd
// still knew the ring without D (the pool's rings are saved in spool_dir),
// so A, B and C do not serve the values they had before D.
func TestReloadHistoryAcrossRestart(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	f, next := startReloadable(t, nodes[:3])
	keys := keyList(400)
	setKeys(dial(t, f.addr), keys, "v1")
	if err := f.srv.Reload(next(nodes...)); err != nil {
		t.Fatal(err)
	}
	f.stop()
	cfg := next(nodes...)
	f = startShepherd(t, nodes, func(c *proxy.Config) { *c = *cfg })
	c := dial(t, f.addr)
	setKeys(c, keys, "v2")
	if err := f.srv.Reload(next(nodes[:3]...)); err != nil {
		t.Fatal(err)
	}
	stale := 0
	for _, k := range keys {
		c.send("get " + k + "\r\n")
		if readValue(t, c) == "v1" {
			stale++
		}
	}
	if stale != 0 {
		t.Errorf("keys read as v1 after v2 was stored: got %d; want 0", stale)
	}
}

// TestEjectNoStaleRead: the same check across ejections: clients write
// and read at full speed while node A hangs, is ejected, returns and is
// readmitted, three times.
func TestEjectNoStaleRead(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 3)
	f := startShepherd(t, nodes, staleConfig(""))
	const nkeys, ways = 300, 4
	sc := newStaleCheck(nkeys)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < ways; w++ {
		wc, rc := dial(t, f.addr), dial(t, f.addr)
		wg.Add(2)
		go func() { defer wg.Done(); sc.writer(wc, w, ways, stop) }()
		go func() { defer wg.Done(); sc.reader(rc, int64(w), stop) }()
	}
	for i := 0; i < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		nodes[0].Pause()
		waitState(t, f.srv, nodes[0].Addr, "ejected")
		time.Sleep(200 * time.Millisecond)
		nodes[0].Resume()
		waitState(t, f.srv, nodes[0].Addr, "healthy")
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	sc.report(t, "under load")
	if sc.stale.Load() != 0 {
		t.Errorf("stale reads: got %d; want 0", sc.stale.Load())
	}
}
