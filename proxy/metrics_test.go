package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// TestMetricsAndStats: after some traffic, /metrics carries requests by
// command, hits and misses, the per-node latency histogram and health
// gauges; /healthz answers; stats, stats backends and stats herd answer
// in memcached's format.
func TestMetricsAndStats(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 2), func(cfg *proxy.Config) {
		cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "h:"}}}
	})
	c := dial(t, f.addr)
	c.send("set a 0 0 1\r\nx\r\nget a b\r\nget h:1\r\n")
	c.expect("STORED", "VALUE a 0 1", "x", "END", "END")
	admin := httptest.NewServer(f.srv.AdminHandler())
	t.Cleanup(admin.Close)
	body := httpGet(t, admin.URL+"/metrics")
	for _, want := range []string{
		`shepherd_requests_total{command="get"} 2`,
		`shepherd_requests_total{command="set"} 1`,
		`shepherd_get_hits_total 1`,
		`shepherd_get_misses_total 2`,
		`shepherd_backend_request_duration_seconds_bucket{node="` + f.nodes[0].Addr,
		`shepherd_backend_state{node="` + f.nodes[1].Addr + `",pool="main"} 0`,
		`shepherd_herd_wins_total 1`,
		`shepherd_herd_fleet_mode 1`,
		`shepherd_build_info{go_version="` + runtime.Version() + `",revision="` + proxy.Revision() + `",version="` + proxy.Version + `"} 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
		`process_open_fds `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if got := httpGet(t, admin.URL+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz: got %q; want ok", got)
	}
	for cmd, want := range map[string]string{
		"stats":          "STAT get_hits 1",
		"stats backends": "STAT main:" + f.nodes[0].Addr + ":state healthy",
		"stats herd":     "STAT mode fleet",
	} {
		c.send(cmd + "\r\n")
		found := false
		for l := c.line(); l != "END"; l = c.line() {
			if !strings.HasPrefix(l, "STAT ") {
				t.Fatalf("%s: got %q; want STAT lines", cmd, l)
			}
			found = found || l == want
		}
		if !found {
			t.Errorf("%s: no %q line", cmd, want)
		}
	}
	c.send("stats nonsense\r\n")
	c.expect("ERROR")
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
