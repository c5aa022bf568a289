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
)

// staleCheck keeps, per key, the highest version acknowledged as STORED,
// and counts reads that returned less than what was acknowledged before
// they were sent.
type staleCheck struct {
	acked  []atomic.Int64
	reads  atomic.Int64
	misses atomic.Int64
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
	t.Logf("%s: %d reads, %d misses, %d stale, %d errors", what, sc.reads.Load(), sc.misses.Load(), sc.stale.Load(), sc.failed.Load())
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
	reload := func(what string, n int) {
		if err := f.srv.Reload(next(nodes[:n]...)); err != nil {
			t.Errorf("%s: Reload to %d nodes: %v", what, n, err)
		}
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
