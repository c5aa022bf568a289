package proxy_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// TestDrainFinishesInFlight: when Serve's context ends, shepherd stops
// accepting but a request already in flight (to a node answering in
// 300 ms) still gets its reply before the connection closes.
func TestDrainFinishesInFlight(t *testing.T) {
	t.Parallel()
	fake := startFake(t, func(w *bufio.Writer, line string) bool {
		if strings.HasPrefix(line, "get ") {
			time.Sleep(300 * time.Millisecond)
			w.WriteString("VALUE k 0 4\r\nslow\r\nEND\r\n")
		}
		return true
	})
	srv, err := proxy.New(&proxy.Config{
		Pools:    map[string]*proxy.PoolConfig{"main": {Timeout: 2 * time.Second, Servers: []ring.Node{{Addr: fake.Addr, Weight: 1}}}},
		Logger:   quietLogger(),
		SpoolDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	c := dial(t, l.Addr().String())
	c.send("get k\r\n")
	time.Sleep(50 * time.Millisecond) // the get is with the node now
	cancel()
	c.expect("VALUE k 0 4", "slow", "END")
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Errorf("dial after drain: connected; want refused")
	}
}
