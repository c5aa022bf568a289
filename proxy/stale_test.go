package proxy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// staleConfig: fast ejection and probing, so the scenarios take seconds.
func staleConfig(dir string) func(*proxy.Config) {
	return func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Timeout, p.FailureLimit = time.Second, 2 // 300 ms timed out healthy nodes under -race at load 15
		p.RetryTimeout, p.RetryMax = 200*time.Millisecond, 400*time.Millisecond
		if dir != "" {
			cfg.SpoolDir = dir
		}
	}
}

// keyOn returns a key that node i owns.
func keyOn(t *testing.T, f *fixture, i int, prefix string) string {
	for n := 0; n < 10000; n++ {
		k := fmt.Sprintf("%s%d", prefix, n)
		if f.owner(t, k) == i {
			return k
		}
	}
	t.Fatalf("no key found for node %d", i)
	return ""
}

// waitState polls until node addr is in state (or fails after 10 s).
//
// "ejected" means out of the ring: ejected or probing. An ejected node
// spends most of its time probing when its probes hang for the whole probe
// timeout (a paused node accepts connections and never answers), and the
// short spells of "ejected" between probes can all be missed by a poller
// on a loaded machine (CI saw 4 probes go by unseen).
func waitState(t *testing.T, srv *proxy.Server, addr, state string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, st := range srv.Backends() {
			if st.Addr == addr && (st.State == state || state == "ejected" && st.State == "probing") {
				return
			}
		}
	}
	t.Fatalf("node %s never became %s: %+v", addr, state, srv.Backends())
}

// ejectByTraffic pauses node i and sends gets of its keys until shepherd
// ejects it.
func ejectByTraffic(t *testing.T, f *fixture, c *conn, i int, key string) {
	t.Helper()
	f.nodes[i].Pause()
	for n := 0; n < 5; n++ {
		c.send("get " + key + "\r\n")
		c.expect("END") // a hung node's key is a miss
	}
	waitState(t, f.srv, f.nodes[i].Addr, "ejected")
}

// TestNoStaleReadAfterReturn: k=v1 lives on A; A hangs and is ejected; k
// is set to v2 (or deleted) through shepherd; A returns; every later get
// of k returns v2 (or misses), never v1.
func TestNoStaleReadAfterReturn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, change, want string
		restart            bool
	}{
		{"set", "set %s 0 0 2\r\nv2\r\n", "v2", false},
		{"delete", "delete %s\r\n", "", false},
		{"set across restart", "set %s 0 0 2\r\nv2\r\n", "v2", true},
		{"delete across restart", "delete %s\r\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			noStaleRead(t, tc.change, tc.want, tc.restart)
		})
	}
}

func noStaleRead(t *testing.T, change, want string, restart bool) {
	nodes := mctest.StartN(t, 3)
	dir := t.TempDir()
	f := startShepherd(t, nodes, staleConfig(dir))
	c := dial(t, f.addr)
	k := keyOn(t, f, 0, "stale:")
	c.send("set " + k + " 0 0 2\r\nv1\r\n")
	c.expect("STORED")
	ejectByTraffic(t, f, c, 0, k)
	c.send(fmt.Sprintf(change, k))
	if l := c.line(); l != "STORED" && l != "DELETED" && l != "NOT_FOUND" {
		t.Fatalf("change while A is out: got %q", l)
	}
	if restart {
		f.stop()
		f = startShepherd(t, nodes, staleConfig(dir))
		c = dial(t, f.addr)
		waitState(t, f.srv, nodes[0].Addr, "ejected") // the spool left by the first run keeps A out
	}
	nodes[0].Resume()
	waitState(t, f.srv, nodes[0].Addr, "healthy")
	for i := 0; i < 50; i++ {
		c.send("get " + k + "\r\n")
		got := readValue(t, c)
		if got != want {
			t.Fatalf("get %d after A returned: got %q; want %q (v1 would be stale)", i, got, want)
		}
	}
	// And A itself holds no stale copy.
	direct := dial(t, nodes[0].Addr)
	direct.send("get " + k + "\r\n")
	if got := readValue(t, direct); got == "v1" {
		t.Errorf("node A still holds v1 for %s", k)
	}
	st := f.srv.Backends()[0]
	t.Logf("A: %d keys replayed, %d spooled in all", st.Replayed, st.SpooledTotal)
}

// readValue reads a single-key get reply: the value, or "" for a miss.
func readValue(t *testing.T, c *conn) string {
	t.Helper()
	l := c.line()
	if l == "END" {
		return ""
	}
	if !strings.HasPrefix(l, "VALUE ") {
		t.Fatalf("got %q; want VALUE or END", l)
	}
	v := c.line()
	c.expect("END")
	return v
}
