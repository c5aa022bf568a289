package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/internal/shepherdtest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// fixture is a shepherd in front of real memcached nodes.
type fixture struct {
	addr    string
	nodes   []*mctest.Server
	srv     *proxy.Server
	servers []ring.Node
	stop    func() // stops the shepherd; safe to call more than once
}

// owner returns the index of the node that owns key with every node up.
func (f *fixture) owner(t testing.TB, key string) int {
	r, err := ring.New(f.servers, ring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Lookup([]byte(key))
}

func quietLogger() *slog.Logger { return shepherdtest.Logger() }

// startShepherd runs a shepherd over nodes on a free loopback port until
// the test ends (internal/shepherdtest, the one fixture); tweak may adjust
// the config.
func startShepherd(t testing.TB, nodes []*mctest.Server, tweak func(*proxy.Config)) *fixture {
	t.Helper()
	sh := shepherdtest.Start(t, nodes, tweak)
	return &fixture{addr: sh.Addr, nodes: nodes, srv: sh.Srv, servers: sh.Servers, stop: sh.Stop}
}

// conn is a raw text-protocol client for exact-bytes assertions.
type conn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &conn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *conn) send(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *conn) line() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (so far %q)", err, s)
	}
	return strings.TrimSuffix(s, "\r\n")
}

// expect reads len(want) lines and compares them.
func (c *conn) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.line(); got != w {
			c.t.Fatalf("got %q; want %q", got, w)
		}
	}
}

func TestBasicCommands(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	c := dial(t, f.addr)
	c.send("set a 5 0 3\r\nabc\r\n")
	c.expect("STORED")
	c.send("get a\r\n")
	c.expect("VALUE a 5 3", "abc", "END")
	c.send("get nothere\r\n")
	c.expect("END")
	c.send("add a 0 0 1\r\nx\r\n")
	c.expect("NOT_STORED")
	c.send("append a 0 0 2\r\nde\r\nprepend a 0 0 1\r\nz\r\nget a\r\n")
	c.expect("STORED", "STORED", "VALUE a 5 6", "zabcde", "END")
	c.send("set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 20\r\nincr missing 1\r\n")
	c.expect("STORED", "15", "0", "NOT_FOUND")
	c.send("touch n 100\r\ndelete n\r\ndelete n\r\n")
	c.expect("TOUCHED", "DELETED", "NOT_FOUND")
	c.send("version\r\nverbosity 1\r\nmn\r\n")
	c.expect("VERSION "+proxy.ProtocolVersion(), "OK", "MN")
	c.send("set q 0 0 1 noreply\r\nq\r\nget q\r\n")
	c.expect("VALUE q 0 1", "q", "END")
	c.send("bogus\r\n")
	c.expect("ERROR")
	c.send("flush_all\r\nget a\r\n")
	c.expect("OK", "END")
}

func TestMultiGetOrder(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	c := dial(t, f.addr)
	var keys []string
	for i := 0; i < 100; i++ {
		k := fmt.Sprintf("key:%d", i)
		keys = append(keys, k)
		c.send(fmt.Sprintf("set %s %d 0 %d noreply\r\n%s\r\n", k, i, len(k)+1, k+"!"))
	}
	c.send("get " + strings.Join(keys, " ") + " absent\r\n")
	for i, k := range keys {
		c.expect(fmt.Sprintf("VALUE %s %d %d", k, i, len(k)+1), k+"!")
	}
	c.expect("END")
	// every node got some of the keys
	for i, n := range f.nodes {
		if items := n.Stats(t)["curr_items"]; items == "0" {
			t.Errorf("node %d holds no keys; want a share of 100", i)
		}
	}
}
