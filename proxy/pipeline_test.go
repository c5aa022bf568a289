package proxy_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// TestPipelinedThousand sends 1,000 mixed commands without reading a
// reply, then checks 1,000 replies arrive in order.
func TestPipelinedThousand(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	c := dial(t, f.addr)
	var req bytes.Buffer
	var want []string
	for i := 0; i < 250; i++ {
		k := fmt.Sprintf("p:%d", i)
		v := fmt.Sprintf("v%d", i*7)
		fmt.Fprintf(&req, "set %s 0 0 %d\r\n%s\r\n", k, len(v), v)
		want = append(want, "STORED")
		fmt.Fprintf(&req, "get %s p:missing:%d\r\n", k, i)
		want = append(want, fmt.Sprintf("VALUE %s 0 %d", k, len(v)), v, "END")
		fmt.Fprintf(&req, "incr %s 1\r\n", k)
		want = append(want, "CLIENT_ERROR cannot increment or decrement non-numeric value")
		fmt.Fprintf(&req, "delete %s\r\n", k)
		want = append(want, "DELETED")
	}
	go c.send(req.String()) // write while the replies are read
	c.expect(want...)
}

// TestRandomizedConcurrentClients: 50 clients set and get random keys
// with values derived from the key; no client ever sees another key's value.
func TestRandomizedConcurrentClients(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	const clients, opsEach = 50, 300
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			mc := memcache.New(f.addr)
			mc.Timeout = 5 * time.Second
			mc.MaxIdleConns = 4
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := 0; i < opsEach; i++ {
				if err := randomOp(mc, rng); err != nil {
					errs <- fmt.Errorf("client %d op %d: %w", w, i, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func valueFor(key string, n int) []byte {
	return []byte(strings.Repeat(key+"|", n%5+1))
}

// randomOp does one random set, get or multi-get and checks that every
// value returned belongs to its key.
func randomOp(mc *memcache.Client, rng *rand.Rand) error {
	key := func() string { return fmt.Sprintf("rk:%d", rng.IntN(500)) }
	switch rng.IntN(3) {
	case 0:
		k := key()
		return mc.Set(&memcache.Item{Key: k, Value: valueFor(k, rng.IntN(100))})
	case 1:
		k := key()
		it, err := mc.Get(k)
		if err == memcache.ErrCacheMiss {
			return nil
		}
		if err != nil {
			return err
		}
		return checkItem(k, it)
	default:
		keys := make([]string, 1+rng.IntN(20))
		for i := range keys {
			keys[i] = key()
		}
		items, err := mc.GetMulti(keys)
		if err != nil {
			return err
		}
		for k, it := range items {
			if err := checkItem(k, it); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkItem(k string, it *memcache.Item) error {
	if it.Key != k || !bytes.HasPrefix(it.Value, []byte(k+"|")) || len(it.Value)%(len(k)+1) != 0 {
		return fmt.Errorf("asked for %q; got key %q value %q", k, it.Key, it.Value)
	}
	return nil
}

// TestDeadNode: under on_eject: fail, gets of a dead node's keys are
// misses, never an error line; writes to it are SERVER_ERROR within the
// timeout (and at once after ejection).
func TestDeadNode(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 3)
	f := startShepherd(t, nodes, func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.OnEject, p.FailureLimit, p.Timeout = proxy.EjectFail, 2, 500*time.Millisecond
	})
	c := dial(t, f.addr)
	var keys []string
	for i := 0; i < 60; i++ {
		keys = append(keys, fmt.Sprintf("d:%d", i))
		c.send(fmt.Sprintf("set d:%d 0 0 1\r\nx\r\n", i))
		c.expect("STORED")
	}
	nodes[1].Stop()
	c.send("get " + strings.Join(keys, " ") + "\r\n")
	hits := 0
	for {
		l := c.line()
		if l == "END" {
			break
		}
		if !strings.HasPrefix(l, "VALUE ") {
			t.Fatalf("got %q in a get reply; want VALUE or END", l)
		}
		c.expect("x")
		hits++
	}
	if hits == 0 || hits == len(keys) {
		t.Errorf("got %d hits of %d with one of three nodes dead; want some but not all", hits, len(keys))
	}
	missed := 0
	for _, k := range keys {
		start := time.Now()
		c.send("set " + k + " 0 0 1\r\ny\r\n")
		l := c.line()
		if took := time.Since(start); took > time.Second {
			t.Errorf("set %s took %v; want under the 500ms timeout plus slack", k, took)
		}
		switch {
		case l == "STORED":
		case strings.HasPrefix(l, "SERVER_ERROR "):
			missed++
		default:
			t.Fatalf("set %s: got %q; want STORED or SERVER_ERROR", k, l)
		}
	}
	if missed != len(keys)-hits {
		t.Errorf("got %d SERVER_ERRORs; want %d (the dead node's keys)", missed, len(keys)-hits)
	}
}

// TestHungNodeTimesOut: a SIGSTOPped node costs a client at most the
// timeout, and the connection recovers when the node resumes.
func TestHungNodeTimesOut(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 1)
	f := startShepherd(t, nodes, func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.RetryTimeout, p.FailureLimit, p.Timeout = 100*time.Millisecond, 2, 500*time.Millisecond
	})
	c := dial(t, f.addr)
	c.send("set h 0 0 1\r\nx\r\n")
	c.expect("STORED")
	nodes[0].Pause()
	start := time.Now()
	c.send("get h\r\nset h 0 0 1\r\ny\r\n")
	c.expect("END")
	if l := c.line(); !strings.HasPrefix(l, "SERVER_ERROR") || !strings.Contains(l, "timeout") {
		t.Errorf("got %q; want SERVER_ERROR ... timeout", l)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("hung node held the client %v; want about the 500ms timeout", took)
	}
	nodes[0].Resume()
	// The timed-out set may or may not have been applied (memcached reads
	// it from its socket buffer on resume): SERVER_ERROR means "unknown".
	// What must hold is that the stream is aligned again.
	// What must hold is that the stream is aligned again once the node is
	// readmitted (its only node was ejected: writes fail until then).
	for deadline := time.Now().Add(5 * time.Second); ; {
		c.send("set h 0 0 1\r\nz\r\n")
		l := c.line()
		if l == "STORED" {
			break
		}
		if !strings.HasPrefix(l, "SERVER_ERROR") || time.Now().After(deadline) {
			t.Fatalf("got %q; want STORED once the node is back", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.send("get h\r\n")
	c.expect("VALUE h 0 1", "z", "END")
}

// TestLimits: bad input gets a clear error and the connection survives.
func TestLimits(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	c := dial(t, f.addr)
	long := strings.Repeat("k", 251)
	c.send("get " + long + "\r\n")
	c.expect("CLIENT_ERROR bad command line format")
	c.send("set " + long + " 0 0 1\r\nx\r\n") // memcached reads the block as a command
	c.expect("CLIENT_ERROR bad command line format", "ERROR")
	big := 1<<20 + 1
	c.send(fmt.Sprintf("set big 0 0 %d\r\n%s\r\n", big, strings.Repeat("v", big)))
	c.expect("SERVER_ERROR object too large for cache")
	c.send("set ok 0 0 2\r\nok\r\nget ok\r\n")
	c.expect("STORED", "VALUE ok 0 2", "ok", "END")
	c.send("set bad 0 0 2\r\nabcd\r\n")
	c.expect("CLIENT_ERROR bad data chunk", "ERROR")
	c.send("get \x01ctl\r\n") // memcached takes any byte but space, NUL and newline
	c.expect("END")
	c.send("set " + strings.Repeat("x ", 1100) + "\r\n")
	c.expect("CLIENT_ERROR line too long")
}

// TestMaxConnections: over the limit a client is told why and closed.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), func(cfg *proxy.Config) { cfg.MaxConnections = 2 })
	a, b := dial(t, f.addr), dial(t, f.addr)
	a.send("version\r\n")
	b.send("version\r\n")
	a.line()
	b.line()
	c := dial(t, f.addr)
	c.expect("SERVER_ERROR too many open connections")
}
