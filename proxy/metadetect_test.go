// Meta protocol detection at start: memcached 1.6.18 is found to speak it
// without a warning or a backend error; a pre-1.6 server (ERROR to meta
// commands) turns herd protection into local coalescing, said once.
package proxy_test

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func herdWithLog(logs *logBuffer) func(*proxy.Config) {
	return func(cfg *proxy.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
		cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "h:", StaleTTL: 30 * time.Second}}}
	}
}

func TestMetaDetectionMemcached(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	f := startShepherd(t, mctest.StartN(t, 1), herdWithLog(&logs))
	c := dial(t, f.addr)
	c.send("set h:1 0 0 1\r\nx\r\ndelete h:1\r\nget h:1\r\n")
	// With meta, a delete of a protected key marks it stale: the next
	// reader wins the refill and misses.
	c.expect("STORED", "DELETED", "END")
	for _, bad := range []string{"could not ask", "lack the meta protocol", "malformed"} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("log: got %q; want no %q", logs.String(), bad)
		}
	}
	admin := httptest.NewServer(f.srv.AdminHandler())
	t.Cleanup(admin.Close)
	want := `shepherd_backend_errors_total{node="` + f.nodes[0].Addr + `",pool="main"} 0`
	if body := httpGet(t, admin.URL+"/metrics"); !strings.Contains(body, want) {
		t.Errorf("/metrics: want %q in\n%s", want, grepLines(body, "backend_errors"))
	}
}

func TestMetaDetectionPre16(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	old := startFake(t, func(w *bufio.Writer, line string) bool {
		mu.Lock()
		seen = append(seen, line)
		mu.Unlock()
		switch {
		case strings.HasPrefix(line, "m"):
			w.WriteString("ERROR\r\n") // memcached 1.5 and older
		case strings.HasPrefix(line, "version"):
			w.WriteString("VERSION 1.4.39\r\n")
		case strings.HasPrefix(line, "set "):
			w.WriteString("STORED\r\n")
		case strings.HasPrefix(line, "delete "):
			w.WriteString("DELETED\r\n")
		default:
			w.WriteString("END\r\n")
		}
		w.Flush()
		return true
	})
	var logs logBuffer
	f := startShepherd(t, nil, func(cfg *proxy.Config) {
		herdWithLog(&logs)(cfg)
		cfg.Pools["main"].Servers = []ring.Node{{Addr: old.Addr, Weight: 1}}
	})
	c := dial(t, f.addr)
	c.send("set h:1 0 0 1\r\nx\r\ndelete h:1\r\n")
	c.expect("STORED", "DELETED")
	if got := logs.String(); !strings.Contains(got, "lack the meta protocol") || strings.Contains(got, "could not ask") {
		t.Errorf("log: got %q; want the one warning that herd is local only", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range seen[1:] { // seen[0] is the detection's mn
		if strings.HasPrefix(l, "m") {
			t.Errorf("backend got %q; want no meta command after detection", l)
		}
	}
	if len(seen) == 0 || seen[0] != "mn" {
		t.Errorf("backend got %q first; want mn", seen)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
