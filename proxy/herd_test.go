package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

const (
	fleetSize   = 4
	stormReader = 400
	herdHold    = 2 * time.Second
)

// fleet starts fleetSize shepherd processes (the real binary, as a fleet
// of sidecars would run it) in front of the same nodes, and returns their
// addresses.
func fleet(t *testing.T, nodes []*mctest.Server, rules []herd.Rule) []string {
	addrs := make([]string, fleetSize)
	for i := range addrs {
		addrs[i] = startShepherdProcess(t, nodes, rules)
	}
	return addrs
}

// storm is what the readers of one scenario saw.
type storm struct {
	mu        sync.Mutex
	misses    int
	latencies []time.Duration
	regressed int // reads of the old value after the new one was seen
}

func (s *storm) record(d time.Duration, miss bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencies = append(s.latencies, d)
	if miss {
		s.misses++
	}
}

func (s *storm) p99() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.latencies) == 0 {
		return 0
	}
	slices.Sort(s.latencies)
	return s.latencies[len(s.latencies)*99/100]
}

func (s *storm) max() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Max(s.latencies)
}

// staleStorm: stormReader readers over the fleet read key (value v1)
// until, after one delete, they have seen v2; a reader that misses
// refills v2 after a 50 ms "database" read.
func staleStorm(t *testing.T, addrs []string, key string) *storm {
	st := &storm{}
	var warm, done sync.WaitGroup
	deleted := make(chan struct{})
	seed := dial(t, addrs[0])
	seed.send(fmt.Sprintf("set %s 0 0 2\r\nv1\r\n", key))
	seed.expect("STORED")
	for i := 0; i < stormReader; i++ {
		c := dial(t, addrs[i%len(addrs)])
		warm.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			staleReader(t, c, key, st, &warm, deleted)
		}()
	}
	warm.Wait()
	seed.send("delete " + key + "\r\n")
	seed.expect("DELETED")
	close(deleted)
	done.Wait()
	return st
}

func staleReader(t *testing.T, c *conn, key string, st *storm, warm *sync.WaitGroup, deleted chan struct{}) {
	c.send("get " + key + "\r\n")
	if v := readValue(t, c); v != "v1" {
		t.Errorf("warm read: got %q; want v1", v)
	}
	warm.Done()
	<-deleted
	seenNew := false
	for i, stop := 0, time.Now().Add(15*time.Second); i < 2000 && time.Now().Before(stop); i++ {
		start := time.Now()
		c.send("get " + key + "\r\n")
		v := readValue(t, c)
		st.record(time.Since(start), v == "")
		switch {
		case v == "":
			time.Sleep(50 * time.Millisecond) // the database
			c.send(fmt.Sprintf("set %s 0 0 2\r\nv2\r\n", key))
			c.line() // STORED, or NOT_STORED when another refill won
		case v == "v2":
			seenNew = true
		case v == "v1" && seenNew:
			st.mu.Lock()
			st.regressed++
			st.mu.Unlock()
		}
		if seenNew && i > 3 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Errorf("reader never saw v2")
}

// TestHerdStaleStorm: a hot key deleted under 400 readers over 4
// shepherds: exactly one reader in the fleet gets a miss and refills,
// the rest get the old value at once and then the new one. The same
// fleet without herd rules shows how many misses there would be.
func TestHerdStaleStorm(t *testing.T) {
	nodes := mctest.StartN(t, 3)
	rule := herd.Rule{Prefix: "hot:", StaleTTL: 30 * time.Second, Hold: herdHold, LeaseTTL: 10 * time.Second}
	with := staleStorm(t, fleet(t, nodes, []herd.Rule{rule}), "hot:stale")
	without := staleStorm(t, fleet(t, nodes, nil), "hot:plain")
	t.Logf("stale storm, %d readers over %d shepherd processes: with herd rules %d miss(es), reader p99 %v, max %v; without: %d misses, p99 %v",
		stormReader, fleetSize, with.misses, with.p99(), with.max(), without.misses, without.p99())
	if with.misses != 1 {
		t.Errorf("with herd rules: got %d misses; want exactly 1 (the refill winner)", with.misses)
	}
	if with.regressed != 0 {
		t.Errorf("with herd rules: %d reads went back to v1 after v2 was seen; want 0", with.regressed)
	}
	if with.max() > herdHold {
		t.Errorf("with herd rules: slowest read %v; want stale reads served at once (well under hold %v)", with.max(), herdHold)
	}
}

// TestHerdColdStorm: 400 readers over 4 shepherds ask for a key that does
// not exist, all at once: exactly one gets a miss and fills it; the others
// are held and get the value, none longer than hold.
func TestHerdColdStorm(t *testing.T) {
	nodes := mctest.StartN(t, 3)
	rule := herd.Rule{Prefix: "cold:", Hold: herdHold, LeaseTTL: 10 * time.Second}
	addrs := fleet(t, nodes, []herd.Rule{rule})
	st := &storm{}
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var got sync.Map
	for i := 0; i < stormReader; i++ {
		c := dial(t, addrs[i%len(addrs)])
		c.send("version\r\n")
		c.line() // connected
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			t0 := time.Now()
			c.send("get cold:1\r\n")
			v := readValue(t, c)
			st.record(time.Since(t0), v == "")
			got.Store(c, v)
			if v == "" {
				time.Sleep(100 * time.Millisecond) // the database
				c.send("set cold:1 0 0 6\r\nfilled\r\n")
				c.expect("STORED")
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	values := 0
	got.Range(func(_, v any) bool {
		if v == "filled" {
			values++
		}
		return true
	})
	t.Logf("cold storm, %d readers over %d shepherd processes: %d miss(es), %d got the filled value, p99 %v, max %v (hold %v)",
		stormReader, fleetSize, st.misses, values, st.p99(), st.max(), herdHold)
	if st.misses != 1 || values != stormReader-1 {
		t.Errorf("got %d misses and %d values; want 1 miss and %d values", st.misses, values, stormReader-1)
	}
	if st.max() > herdHold+500*time.Millisecond {
		t.Errorf("slowest reader waited %v; want at most hold (%v)", st.max(), herdHold)
	}
}

// TestHerdOrigin: with an origin rule, deleting a hot key under 400
// readers over 4 shepherds costs exactly one origin request and no reader
// ever sees a miss.
func TestHerdOrigin(t *testing.T) {
	var fetches atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := fetches.Add(1)
		time.Sleep(50 * time.Millisecond)
		fmt.Fprintf(w, "o%d", n)
	}))
	t.Cleanup(origin.Close)
	nodes := mctest.StartN(t, 3)
	rule := herd.Rule{Prefix: "org:", Hold: herdHold, LeaseTTL: 10 * time.Second, Origin: origin.URL + "/fill?key={key}"}
	addrs := fleet(t, nodes, []herd.Rule{rule})
	st := &storm{}
	seed := dial(t, addrs[0])
	seed.send("set org:1 0 0 2\r\nv1\r\n")
	seed.expect("STORED")
	var warm, done sync.WaitGroup
	deleted := make(chan struct{})
	for i := 0; i < stormReader; i++ {
		c := dial(t, addrs[i%len(addrs)])
		warm.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			originReader(t, c, st, &warm, deleted)
		}()
	}
	warm.Wait()
	// The next command on the same connection reuses its read buffer while
	// the refill runs in the background (a race the detector would catch).
	seed.send("delete org:1\r\n")
	seed.expect("DELETED")
	seed.send("get zz:other-key-of-the-same-length\r\n")
	seed.expect("END")
	close(deleted)
	done.Wait()
	t.Logf("origin storm, %d readers over %d shepherd processes: %d origin request(s), %d client misses, reader p99 %v",
		stormReader, fleetSize, fetches.Load(), st.misses, st.p99())
	if fetches.Load() != 1 || st.misses != 0 {
		t.Errorf("got %d origin requests and %d misses; want 1 and 0", fetches.Load(), st.misses)
	}
}

func originReader(t *testing.T, c *conn, st *storm, warm *sync.WaitGroup, deleted chan struct{}) {
	c.send("get org:1\r\n")
	readValue(t, c)
	warm.Done()
	<-deleted
	for i, stop := 0, time.Now().Add(15*time.Second); i < 2000 && time.Now().Before(stop); i++ {
		t0 := time.Now()
		c.send("get org:1\r\n")
		v := readValue(t, c)
		st.record(time.Since(t0), v == "")
		if v == "o1" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("reader never saw the origin's value")
}

// TestHerdSlowFiller: a refill that began before a second invalidation
// must not overwrite the value written after it, whether the fillers share
// a shepherd or not.
func TestHerdSlowFiller(t *testing.T) {
	nodes := mctest.StartN(t, 3)
	rule := herd.Rule{Prefix: "race:", Hold: herdHold, LeaseTTL: 10 * time.Second}
	addrs := fleet(t, nodes, []herd.Rule{rule})
	for name, bAddr := range map[string]string{"same shepherd": addrs[0], "other shepherd": addrs[1]} {
		t.Run(name, func(t *testing.T) {
			key := "race:" + name[:4]
			slow, fast, admin := dial(t, addrs[0]), dial(t, bAddr), dial(t, addrs[2])
			admin.send("set " + key + " 0 0 2\r\nv1\r\ndelete " + key + "\r\n")
			admin.expect("STORED", "DELETED")
			slow.send("get " + key + "\r\n")
			if v := readValue(t, slow); v != "" {
				t.Fatalf("slow filler: got %q; want the winner's miss", v)
			}
			admin.send("delete " + key + "\r\n") // a second invalidation while it fills
			admin.line()
			fast.send("get " + key + "\r\n")
			if v := readValue(t, fast); v != "" {
				t.Fatalf("fast filler: got %q; want a miss (the new win)", v)
			}
			fast.send("set " + key + " 0 0 2\r\nv3\r\n")
			fast.expect("STORED")
			slow.send("set " + key + " 0 0 2\r\nv2\r\n") // the late fill
			slow.expect("NOT_STORED")
			admin.send("get " + key + "\r\n")
			if v := readValue(t, admin); v != "v3" {
				t.Errorf("after the late fill: got %q; want v3", v)
			}
		})
	}
}

// TestHerdPipelinedOrder: a pipelining client's commands keep their
// order around protected reads, which run in the background: a set sent
// after a get does not overtake it, and an unprotected get sent after a
// held read is answered after it.
func TestHerdPipelinedOrder(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), func(cfg *proxy.Config) {
		cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "po:", Hold: 200 * time.Millisecond}}}
	})
	a, b := dial(t, f.addr), dial(t, f.addr)
	a.send("set plain 0 0 1\r\np\r\n")
	a.expect("STORED")
	// The refill winner pipelines its read, refill and re-read.
	a.send("get po:1\r\nset po:1 0 0 1\r\nx\r\nget po:1 plain\r\n")
	a.expect("END", "STORED", "VALUE po:1 0 1", "x", "VALUE plain 0 1", "p", "END")
	// B is held on A's placeholder; its next commands wait their turn.
	a.send("get po:2\r\n")
	a.expect("END")
	b.send("get po:2\r\nget plain\r\nadd po:2 0 0 1\r\ny\r\nget po:2\r\n")
	b.expect("END", "VALUE plain 0 1", "p", "END", "STORED", "VALUE po:2 0 1", "y", "END")
}
