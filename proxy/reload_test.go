package proxy_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// poolOf is the pool these tests reload: startShepherd's generous limits,
// and nodes named by port, so that a node's ketama points do not depend on
// its place in the list.
func poolOf(nodes ...*mctest.Server) *proxy.PoolConfig {
	pc := &proxy.PoolConfig{Timeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, FailureLimit: 1000}
	for _, n := range nodes {
		pc.Servers = append(pc.Servers, ring.Node{Addr: n.Addr, Weight: 1, Name: fmt.Sprintf("node-%d", n.Port)})
	}
	return pc
}

// startReloadable starts a shepherd whose pool "main" is nodes; next
// returns a config like its own over other nodes, to reload.
func startReloadable(t *testing.T, nodes []*mctest.Server) (f *fixture, next func(nodes ...*mctest.Server) *proxy.Config) {
	t.Helper()
	var spoolDir string
	f = startShepherd(t, nodes, func(cfg *proxy.Config) {
		cfg.Pools["main"] = poolOf(nodes...)
		spoolDir = cfg.SpoolDir
	})
	return f, func(nodes ...*mctest.Server) *proxy.Config {
		return &proxy.Config{
			Pools:    map[string]*proxy.PoolConfig{"main": poolOf(nodes...)},
			Logger:   quietLogger(),
			SpoolDir: spoolDir,
		}
	}
}

func keyList(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%d", i)
	}
	return keys
}

// setKeys stores v under every key through c and waits until all are done.
func setKeys(c *conn, keys []string, v string) {
	c.t.Helper()
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "set %s 0 0 %d noreply\r\n%s\r\n", k, len(v), v)
	}
	b.WriteString("mn\r\n")
	c.send(b.String())
	c.expect("MN")
}

// found returns the keys c finds, asking 100 at a time (a line is at most
// 2048 bytes).
func found(c *conn, keys []string) map[string]bool {
	c.t.Helper()
	got := map[string]bool{}
	for len(keys) > 0 {
		batch := keys[:min(100, len(keys))]
		keys = keys[len(batch):]
		c.send("get " + strings.Join(batch, " ") + "\r\n")
		for line := c.line(); line != "END"; line = c.line() {
			got[strings.Fields(line)[1]] = true
			c.line() // the value
		}
	}
	return got
}

// foundOn returns the keys node holds, asking it directly.
func foundOn(t *testing.T, node *mctest.Server, keys []string) map[string]bool {
	t.Helper()
	c := dial(t, node.Addr)
	defer c.nc.Close()
	return found(c, keys)
}

func currConns(t *testing.T, node *mctest.Server) int { return statInt(t, node, "curr_connections") }

func totalConns(t *testing.T, node *mctest.Server) int { return statInt(t, node, "total_connections") }

func statInt(t *testing.T, node *mctest.Server, name string) int {
	t.Helper()
	n, err := strconv.Atoi(node.Stats(t)[name])
	if err != nil {
		t.Fatalf("stat %s of %s: %v", name, node.Addr, err)
	}
	return n
}

// herdEnabled asks c for "stats herd" and returns its "enabled" line.
func herdEnabled(c *conn) string {
	c.t.Helper()
	c.send("stats herd\r\n")
	first := c.line()
	for c.line() != "END" {
	}
	return first
}

func backendAddrs(srv *proxy.Server) []string {
	var addrs []string
	for _, st := range srv.Backends() {
		addrs = append(addrs, st.Pool+"/"+st.Addr)
	}
	return addrs
}

func TestReloadAddNode(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	f, next := startReloadable(t, nodes[:3])
	c := dial(t, f.addr)
	keys := keyList(1000)
	setKeys(c, keys, "old")

	if err := f.srv.Reload(next(nodes...)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	// The connection opened before the reload keeps working. A key still
	// found was routed to the node that had it; a key now missing moved.
	hit := found(c, keys)
	var moved []string
	for _, k := range keys {
		if !hit[k] {
			moved = append(moved, k)
		}
	}
	t.Logf("adding a 4th node moved %d of %d keys", len(moved), len(keys))
	if share := float64(len(moved)) / float64(len(keys)); share < 0.15 || share > 0.35 {
		t.Errorf("keys moved by adding a 4th node: got %d of %d; want about 1/4", len(moved), len(keys))
	}
	// Every moved key went to the new node, none to another old one.
	setKeys(c, keys, "new")
	onNew := foundOn(t, nodes[3], keys)
	for _, k := range moved {
		if !onNew[k] {
			t.Fatalf("moved key %s is not on the new node", k)
		}
	}
	if len(onNew) != len(moved) {
		t.Errorf("keys on the new node: got %d; want the %d that moved", len(onNew), len(moved))
	}
	if got, want := len(f.srv.Backends()), 4; got != want {
		t.Errorf("backends after adding one to 3: got %d; want %d", got, want)
	}
}

func TestReloadRemoveNode(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	f, next := startReloadable(t, nodes)
	c := dial(t, f.addr)
	keys := keyList(1000)
	setKeys(c, keys, "old")
	onGone := foundOn(t, nodes[3], keys)
	if len(onGone) == 0 {
		t.Fatal("the node to remove holds none of 1000 keys")
	}
	conns := currConns(t, nodes[3])

	if err := f.srv.Reload(next(nodes[:3]...)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	// The removed node's keys now miss; every other key stays where it was.
	hit := found(c, keys)
	for _, k := range keys {
		if hit[k] == onGone[k] {
			t.Fatalf("key %s: found %v after removing the node that had it: %v", k, hit[k], onGone[k])
		}
	}
	setKeys(c, keys, "new")
	if got := foundOn(t, nodes[3], keys); len(got) != len(onGone) {
		t.Errorf("keys on the removed node: got %d; want the %d it had (no new ones)", len(got), len(onGone))
	}
	if addrs := strings.Join(backendAddrs(f.srv), " "); strings.Contains(addrs, nodes[3].Addr) {
		t.Errorf("backends after removing %s: got %s", nodes[3].Addr, addrs)
	}
	// Its backend connections close once the grace for requests in flight is over.
	for deadline := time.Now().Add(10 * time.Second); currConns(t, nodes[3]) >= conns; {
		if time.Now().After(deadline) {
			t.Fatalf("removed node's connections: got %d open; want fewer than %d", currConns(t, nodes[3]), conns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReloadMetrics: a removed node's metrics go, and come back when it
// is added again (no duplicate registration).
func TestReloadMetrics(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 2)
	f, next := startReloadable(t, nodes)
	setKeys(dial(t, f.addr), keyList(50), "v")
	admin := httptest.NewServer(f.srv.AdminHandler())
	defer admin.Close()
	series := `shepherd_backend_requests_total{node="` + nodes[1].Addr + `",pool="main"}`
	for i, want := range []bool{true, false, true} {
		if i > 0 {
			cfg := next(nodes[:1]...)
			if want {
				cfg = next(nodes...)
			}
			if err := f.srv.Reload(cfg); err != nil {
				t.Fatalf("Reload %d: %v", i, err)
			}
		}
		resp, err := http.Get(admin.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/metrics after reload %d: got %d: %s", i, resp.StatusCode, body)
		}
		if got := strings.Contains(string(body), series); got != want {
			t.Errorf("/metrics after reload %d has %s: got %v; want %v", i, series, got, want)
		}
	}
}

func TestReloadRejected(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 3)
	f, next := startReloadable(t, nodes[:2])
	c := dial(t, f.addr)
	keys := keyList(200)
	setKeys(c, keys, "old")
	before := backendAddrs(f.srv)

	tests := []struct {
		name    string
		change  func(*proxy.Config)
		want    string
		restart bool
	}{
		{"route to unknown pool", func(cfg *proxy.Config) {
			cfg.Routes = []proxy.Route{{Prefix: "user:", Pool: "users"}}
		}, `unknown pool "users"`, false},
		{"no servers", func(cfg *proxy.Config) { cfg.Pools["main"].Servers = nil }, "no servers", false},
		{"listen", func(cfg *proxy.Config) { cfg.Listen = "127.0.0.1:1" }, "listen", true},
		{"admin", func(cfg *proxy.Config) { cfg.Admin = "127.0.0.1:1" }, "admin", true},
		{"spool_dir", func(cfg *proxy.Config) { cfg.SpoolDir = t.TempDir() }, "spool_dir", true},
		{"max_item_size", func(cfg *proxy.Config) { cfg.MaxItemSize = 10 }, "max_item_size", true},
		{"connections", func(cfg *proxy.Config) { cfg.Pools["main"].Connections = 7 }, `pool "main": connections 2 → 7`, true},
		{"pool listener", func(cfg *proxy.Config) { cfg.Pools["main"].Listen = "127.0.0.1:1" }, "listen", true},
	}
	for _, tt := range tests {
		cfg := next(nodes...) // valid but for tt.change, which must sink it all
		tt.change(cfg)
		err := f.srv.Reload(cfg)
		switch {
		case err == nil:
			t.Errorf("%s: Reload: got no error; want one", tt.name)
		case !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: Reload: got %q; want it to say %q", tt.name, err, tt.want)
		case errors.Is(err, proxy.ErrNeedsRestart) != tt.restart:
			t.Errorf("%s: Reload: got %q; want errors.Is(err, ErrNeedsRestart) %v", tt.name, err, tt.restart)
		}
	}
	// The old config keeps serving, on the same connection.
	if got := strings.Join(backendAddrs(f.srv), " "); got != strings.Join(before, " ") {
		t.Errorf("backends after rejected reloads: got %s; want %s", got, strings.Join(before, " "))
	}
	if hit := found(c, keys); len(hit) != len(keys) {
		t.Errorf("keys found after rejected reloads: got %d; want all %d", len(hit), len(keys))
	}
}

func TestReloadKeepsConnections(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 3)
	f, next := startReloadable(t, nodes[:2])
	c := dial(t, f.addr)
	keys := keyList(200)
	setKeys(c, keys, "old")
	before := map[string]proxy.NodeStatus{}
	for _, st := range f.srv.Backends() {
		if st.Dials == 0 {
			t.Fatalf("node %s: no connection dialed after 200 sets", st.Addr)
		}
		before[st.Addr] = st
	}
	accepted := []int{totalConns(t, nodes[0]), totalConns(t, nodes[1])}

	if err := f.srv.Reload(next(nodes...)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	setKeys(c, keys, "new")
	for _, st := range f.srv.Backends() {
		old, kept := before[st.Addr]
		switch {
		case !kept && st.Dials == 0:
			t.Errorf("new node %s: got no dial; want its own connection", st.Addr)
		case kept && st.Dials != old.Dials:
			t.Errorf("kept node %s: dials: got %d; want still %d", st.Addr, st.Dials, old.Dials)
		case kept && st.Requests <= old.Requests:
			t.Errorf("kept node %s: requests: got %d after %d before; want the same counters going on", st.Addr, st.Requests, old.Requests)
		}
	}
	// memcached's side: the only connection a kept node accepted since is
	// the one asking it (total_connections counts it).
	for i, was := range accepted {
		if got := totalConns(t, nodes[i]); got != was+1 {
			t.Errorf("kept node %s: connections accepted across the reload: got %d; want 0", nodes[i].Addr, got-was-1)
		}
	}
}

func TestReloadMaxConnections(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 1)
	f, next := startReloadable(t, nodes)
	c := dial(t, f.addr)
	c.send("version\r\n")
	c.expect("VERSION " + proxy.ProtocolVersion())
	cfg := next(nodes...)
	cfg.MaxConnections = 1
	if err := f.srv.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	dial(t, f.addr).expect("SERVER_ERROR too many open connections")
	c.send("version\r\n")
	c.expect("VERSION " + proxy.ProtocolVersion())
}

// TestReloadPoolsRoutesHerd adds a pool with a route and herd rules, then
// takes them away again.
func TestReloadPoolsRoutesHerd(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 2)
	f, next := startReloadable(t, nodes[:1])
	c := dial(t, f.addr)
	if got := herdEnabled(c); got != "STAT enabled 0" {
		t.Fatalf("stats herd before: got %q; want STAT enabled 0", got)
	}

	cfg := next(nodes[0])
	cfg.Pools["users"] = poolOf(nodes[1])
	cfg.Routes = []proxy.Route{{Prefix: "user:", Pool: "users"}}
	cfg.DefaultPool = "main"
	cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "hot:"}}}
	if err := f.srv.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	setKeys(c, []string{"user:1", "post:1"}, "v")
	if on := foundOn(t, nodes[1], []string{"user:1", "post:1"}); !on["user:1"] || on["post:1"] {
		t.Errorf("keys on the new pool's node: got %v; want user:1 only", on)
	}
	if got := herdEnabled(c); got != "STAT enabled 1" {
		t.Errorf("stats herd with rules: got %q; want STAT enabled 1", got)
	}

	if err := f.srv.Reload(next(nodes[0])); err != nil {
		t.Fatalf("Reload back: %v", err)
	}
	setKeys(c, []string{"user:2"}, "v")
	if on := foundOn(t, nodes[0], []string{"user:2"}); !on["user:2"] {
		t.Error("user:2 after the route was removed: not on the default pool's node")
	}
	if got := strings.Join(backendAddrs(f.srv), " "); got != "main/"+nodes[0].Addr {
		t.Errorf("backends after removing the pool: got %s; want main/%s", got, nodes[0].Addr)
	}
	if got := herdEnabled(c); got != "STAT enabled 0" {
		t.Errorf("stats herd after: got %q; want STAT enabled 0", got)
	}
}

// TestReloadUnderLoad reloads back and forth while clients keep working:
// no request fails and the race detector sees nothing.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	f, next := startReloadable(t, nodes[:3])
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := 0; w < 4; w++ {
		c := dial(t, f.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("load:%d:%d", w, i%50)
				fmt.Fprintf(c.nc, "set %s 0 0 1\r\nx\r\nget %s\r\n", k, k)
				c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				line, err := c.br.ReadString('\n')
				if err != nil || line != "STORED\r\n" {
					errs <- fmt.Sprintf("set %s: got %q, %v; want STORED", k, line, err)
					return
				}
				for line != "END\r\n" {
					if line, err = c.br.ReadString('\n'); err != nil || strings.HasPrefix(line, "SERVER_ERROR") {
						errs <- fmt.Sprintf("get %s: got %q, %v", k, line, err)
						return
					}
				}
			}
		}()
	}
	for i := 0; i < 6; i++ {
		time.Sleep(30 * time.Millisecond)
		cfg := next(nodes...)
		if i%2 == 1 {
			cfg = next(nodes[:3]...)
		}
		if err := f.srv.Reload(cfg); err != nil {
			t.Errorf("Reload %d: %v", i, err)
		}
	}
	time.Sleep(30 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
