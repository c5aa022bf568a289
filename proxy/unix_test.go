package proxy_test

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// TestUnixSocketListener: clients can reach shepherd on "unix:/path".
func TestUnixSocketListener(t *testing.T) {
	t.Parallel()
	node := mctest.Start(t)
	path := filepath.Join(t.TempDir(), "shepherd.sock")
	srv, err := proxy.New(&proxy.Config{
		Listen:   "unix:" + path,
		Pools:    map[string]*proxy.PoolConfig{"main": {Servers: []ring.Node{{Addr: node.Addr, Weight: 1}}}},
		Logger:   quietLogger(),
		SpoolDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := proxy.Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	nc, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &conn{t: t, nc: nc, br: bufio.NewReader(nc)}
	c.send("set u 0 0 1\r\nx\r\nget u\r\n")
	c.expect("STORED", "VALUE u 0 1", "x", "END")
}
