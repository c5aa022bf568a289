// Package shepherdtest runs a shepherd in-process, in front of real
// memcached nodes (internal/mctest), on a free loopback port until the test
// ends: the one "start a shepherd" fixture for tests outside package proxy.
package shepherdtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// Shepherd is a running in-process shepherd.
type Shepherd struct {
	Addr    string // 127.0.0.1:PORT
	Srv     *proxy.Server
	Servers []ring.Node // the pool "main", one per node, named node-0, node-1, ...
	stop    func()
}

// Stop stops the shepherd; it is safe to call more than once (the test's
// cleanup calls it too).
func (s *Shepherd) Stop() { s.stop() }

// Start runs a shepherd with one pool, "main", over nodes; tweak (if not
// nil) edits the config first. Limits are generous (2 s timeout and
// connect_timeout, also for pools tweak builds itself; failure limit
// 1000): tests check behaviour, and a loaded machine under the race
// detector must not make healthy nodes look dead. Each shepherd gets its
// own spool directory. Logs are discarded unless SHEPHERD_TEST_LOG is set.
func Start(t testing.TB, nodes []*mctest.Server, tweak func(*proxy.Config)) *Shepherd {
	t.Helper()
	pc := &proxy.PoolConfig{Timeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, FailureLimit: 1000}
	for i, n := range nodes {
		pc.Servers = append(pc.Servers, ring.Node{Addr: n.Addr, Weight: 1, Name: fmt.Sprintf("node-%d", i)})
	}
	cfg := &proxy.Config{Pools: map[string]*proxy.PoolConfig{"main": pc}, Logger: Logger(), SpoolDir: t.TempDir()}
	if tweak != nil {
		tweak(cfg)
	}
	for _, p := range cfg.Pools {
		if p.ConnectTimeout == 0 { // a pool a test built itself: as generous
			p.ConnectTimeout = 2 * time.Second
		}
		if p.Timeout == 0 {
			p.Timeout = 2 * time.Second
		}
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("shepherd Serve: %v", err)
			}
			srv.Close()
		})
	}
	t.Cleanup(stop)
	return &Shepherd{Addr: l.Addr().String(), Srv: srv, Servers: pc.Servers, stop: stop}
}

// Logger discards logs, or writes them to stderr when SHEPHERD_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("SHEPHERD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
