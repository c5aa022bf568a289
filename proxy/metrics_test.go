package proxy_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestMetricNamesDistinct: no two families share a name once OpenMetrics
// strips a counter's _total (a gauge "x" beside a counter "x_total"
// collides), and no series of one family is another family's name.
func TestMetricNamesDistinct(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), func(cfg *proxy.Config) {
		cfg.Herd = &proxy.HerdConfig{Default: &herd.Rule{}}
	})
	admin := httptest.NewServer(f.srv.AdminHandler())
	t.Cleanup(admin.Close)
	owner := map[string]string{} // family or series name → the family that uses it
	claim := func(name, family string) {
		if prev, dup := owner[name]; dup && prev != family {
			t.Errorf("name %s: got families %s and %s; want one", name, prev, family)
		}
		owner[name] = family
	}
	for _, line := range strings.Split(httpGet(t, admin.URL+"/metrics"), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 4 || fields[1] != "TYPE" {
			continue
		}
		name, typ := fields[2], fields[3]
		if name == "go_memstats_alloc_bytes_total" {
			// client_golang's Go collector pairs this counter with the gauge
			// go_memstats_alloc_bytes; shepherd serves the text format (not
			// OpenMetrics), where they do not clash. Kept for the dashboards
			// that chart the standard go_memstats_* set.
			continue
		}
		switch typ {
		case "counter":
			claim(strings.TrimSuffix(name, "_total"), name)
			claim(name, name)
		case "histogram", "summary":
			claim(name, name)
			for _, suf := range []string{"_bucket", "_sum", "_count", "_created"} {
				claim(name+suf, name)
			}
		default:
			claim(name, name)
		}
	}
	if len(owner) < 20 {
		t.Fatalf("got %d names from /metrics; want the whole set", len(owner))
	}
}

// TestClientLatencyAndReloadMetrics: every command answered is observed in
// shepherd_request_duration_seconds by command; CountReload moves the
// reload counters, the last-reload gauge and its timestamp.
func TestClientLatencyAndReloadMetrics(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	c := dial(t, f.addr)
	c.send("set a 0 0 1\r\nx\r\nget a\r\nget a\r\n")
	c.expect("STORED", "VALUE a 0 1", "x", "END", "VALUE a 0 1", "x", "END")
	admin := httptest.NewServer(f.srv.AdminHandler())
	t.Cleanup(admin.Close)
	body := httpGet(t, admin.URL+"/metrics")
	for _, want := range []string{
		`shepherd_request_duration_seconds_count{command="get"} 2`,
		`shepherd_request_duration_seconds_count{command="set"} 1`,
		`shepherd_request_duration_seconds_bucket{command="get",le="+Inf"} 2`,
		`shepherd_config_reloads_total{result="success"} 0`,
		`shepherd_config_last_reload_successful 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	f.srv.CountReload(errors.New("bad file"))
	body = httpGet(t, admin.URL+"/metrics")
	for _, want := range []string{`shepherd_config_reloads_total{result="failure"} 1`, `shepherd_config_last_reload_successful 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("after a failed reload, /metrics lacks %q", want)
		}
	}
	before := float64(time.Now().UnixNano()) / 1e9
	f.srv.CountReload(nil)
	body = httpGet(t, admin.URL+"/metrics")
	for _, want := range []string{`shepherd_config_reloads_total{result="success"} 1`, `shepherd_config_last_reload_successful 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("after a successful reload, /metrics lacks %q", want)
		}
	}
	if after := metricValue(t, body, "shepherd_config_last_reload_success_timestamp_seconds"); after < before {
		t.Errorf("last success timestamp: got %v; want at least %v, when the reload was counted", after, before)
	}
}

// metricValue returns the value of the unlabelled series name in body.
func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}
