package proxy_test

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// memccapable runs libmemcached's conformance tool in ascii mode against
// addr and returns the names of the tests that passed and failed.
func memccapable(t *testing.T, addr string) (passed, failed []string) {
	t.Helper()
	bin, err := exec.LookPath("memccapable")
	if err != nil {
		t.Skip("memccapable not installed: apt-get install libmemcached-tools (CI installs it)")
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-a", "-t", "5").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.TrimSpace(strings.Split(line, "[")[0])
		switch {
		case strings.HasSuffix(line, "[pass]"):
			passed = append(passed, name)
		case strings.Contains(line, "[fail]") || strings.Contains(line, "[FAIL]"):
			failed = append(failed, name)
		}
	}
	if len(passed)+len(failed) == 0 {
		t.Fatalf("memccapable printed no results:\n%s", out)
	}
	return passed, failed
}

// TestMemccapable is the conformance bar: every ascii test of memccapable
// passes through shepherd in front of three real memcached nodes.
func TestMemccapable(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	passed, failed := memccapable(t, f.addr)
	t.Logf("memccapable -a through shepherd: %d passed, %d failed %v", len(passed), len(failed), failed)
	if len(failed) != 0 || len(passed) != 27 {
		t.Errorf("got %d passed, failed %v; want 27 passed, none failed", len(passed), failed)
	}
	// For comparison, in the same run: twemproxy over the same kind of pool.
	nodes := mctest.StartN(t, 3)
	np, nf := memccapable(t, mctest.Nutcracker(t, mctest.NutcrackerPool(nodes, "ketama", "md5")))
	t.Logf("memccapable -a through nutcracker: %d passed, %d failed", len(np), len(nf))
}

// TestMemccapableWithHerd: conformance holds with a default herd rule,
// which sends every get through the meta protocol and every delete
// through a stale mark.
func TestMemccapableWithHerd(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), func(cfg *proxy.Config) {
		cfg.Herd = &proxy.HerdConfig{Default: &herd.Rule{}}
	})
	passed, failed := memccapable(t, f.addr)
	t.Logf("memccapable -a through shepherd with a default herd rule: %d passed, %d failed %v", len(passed), len(failed), failed)
	if len(failed) != 0 || len(passed) != 27 {
		t.Errorf("got %d passed, failed %v; want 27 passed, none failed", len(passed), failed)
	}
}
