package proxy_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// TestClientIdleTimeout: with client_idle_timeout set, a client that sends
// nothing is closed; a client whose request is still in flight past the
// timeout (its node hangs) is not, and gets its reply. Off by default.
func TestClientIdleTimeout(t *testing.T) {
	t.Parallel()
	def := &proxy.Config{}
	def.FillDefaults()
	if def.ClientIdleTimeout != 0 {
		t.Fatalf("default client_idle_timeout: got %v; want 0 (off)", def.ClientIdleTimeout)
	}
	const idle = 200 * time.Millisecond
	nodes := mctest.StartN(t, 1)
	f := startShepherd(t, nodes, func(cfg *proxy.Config) { cfg.ClientIdleTimeout = idle })

	quiet := dial(t, f.addr)
	quiet.send("version\r\n")
	quiet.expect("VERSION " + proxy.ProtocolVersion())
	waitClosed(t, quiet, 10*time.Second)

	busy := dial(t, f.addr)
	nodes[0].Pause() // the gets below stay in flight for the pool's 2s timeout, 10× idle
	// Pipelined, so that the reader queues them and waits in a read (a lone
	// request is answered by the reader itself, which reads nothing meanwhile).
	busy.send("get k\r\nget k\r\n")
	busy.expect("END", "END") // a hung node's key is a miss
	nodes[0].Resume()
	busy.send("version\r\n")
	busy.expect("VERSION " + proxy.ProtocolVersion())

	admin := httptest.NewServer(f.srv.AdminHandler())
	t.Cleanup(admin.Close)
	if body := httpGet(t, admin.URL+"/metrics"); !strings.Contains(body, "shepherd_idle_connections_closed_total 1") {
		t.Errorf("/metrics: want shepherd_idle_connections_closed_total 1 (the quiet client only)")
	}
}

// waitClosed reads until the server closes c, failing after limit.
func waitClosed(t *testing.T, c *conn, limit time.Duration) {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(limit))
	b, err := c.br.ReadByte()
	if !errors.Is(err, io.EOF) {
		t.Fatalf("idle client: got %q, %v; want the connection closed (EOF) within %v", b, err, limit)
	}
}
