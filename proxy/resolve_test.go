package proxy_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUnresolvableServerName: a server whose name does not resolve (.invalid
// never does) is accepted, logged as a warning at start and shown in its
// node's status; the other node keeps serving.
func TestUnresolvableServerName(t *testing.T) {
	t.Parallel()
	const bad = "shepherd-test.invalid:11211"
	logs := &syncBuffer{}
	f := startShepherd(t, mctest.StartN(t, 1), func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Servers = append(p.Servers, ring.Node{Addr: bad, Weight: 1})
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	dial(t, f.addr) // serving started the nodes
	var st proxy.NodeStatus
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, s := range f.srv.Backends() {
			if s.Addr == bad {
				st = s
			}
		}
		if strings.HasPrefix(st.Resolve, "unresolved") {
			break
		}
	}
	if !strings.HasPrefix(st.Resolve, "unresolved") {
		t.Fatalf("status of %s: got Resolve %q; want unresolved", bad, st.Resolve)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "server name does not resolve") || !strings.Contains(l, bad) {
		t.Errorf("log: got %q; want a warning naming %s", l, bad)
	}
	for _, s := range f.srv.Backends() {
		if s.Addr == f.nodes[0].Addr && s.Resolve != "ok" {
			t.Errorf("status of %s (an IP): got Resolve %q; want ok", s.Addr, s.Resolve)
		}
	}
}
