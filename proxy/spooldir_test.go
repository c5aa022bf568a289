package proxy_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// TestSpoolDirLocked: a second server on a spool directory in use refuses
// to start, saying so; once the first closes, a new one starts.
func TestSpoolDirLocked(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 1)
	dir := t.TempDir()
	cfg := func() *proxy.Config {
		return &proxy.Config{SpoolDir: dir, Logger: quietLogger(), Pools: map[string]*proxy.PoolConfig{
			"main": {Servers: []ring.Node{{Addr: nodes[0].Addr, Weight: 1}}},
		}}
	}
	first, err := proxy.New(cfg())
	if err != nil {
		t.Fatalf("first New: %v", err)
	}
	_, err = proxy.New(cfg())
	if !errors.Is(err, proxy.ErrSpoolInUse) || !strings.Contains(err.Error(), dir) {
		first.Close()
		t.Fatalf("second New on the same spool_dir: got %v; want ErrSpoolInUse naming %s", err, dir)
	}
	t.Logf("second shepherd: %v", err)
	first.Close()
	again, err := proxy.New(cfg())
	if err != nil {
		t.Fatalf("New after the first closed: got %v; want it to start", err)
	}
	again.Close()
}

// TestDefaultSpoolDir: per instance (named after the listen address) and
// under $STATE_DIRECTORY when systemd sets it.
func TestDefaultSpoolDir(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/var/lib/shepherd:/var/lib/other")
	for listen, want := range map[string]string{
		"127.0.0.1:11211":                  "/var/lib/shepherd/spool-127.0.0.1_11211",
		"127.0.0.1:11212":                  "/var/lib/shepherd/spool-127.0.0.1_11212",
		"unix:/run/shepherd/shepherd.sock": "/var/lib/shepherd/spool-unix__run_shepherd_shepherd.sock",
	} {
		if got := proxy.DefaultSpoolDir(listen); got != want {
			t.Errorf("DefaultSpoolDir(%q): got %q; want %q", listen, got, want)
		}
	}
	t.Setenv("STATE_DIRECTORY", "")
	if got := proxy.DefaultSpoolDir("127.0.0.1:11211"); strings.HasPrefix(got, "/tmp") || filepath.Base(got) != "spool-127.0.0.1_11211" {
		t.Errorf("DefaultSpoolDir without STATE_DIRECTORY: got %q; want spool-127.0.0.1_11211 outside /tmp", got)
	}
}
