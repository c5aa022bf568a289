package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// listening is a shepherd run by ListenAndServe, as the daemon runs it.
type listening struct {
	srv   *proxy.Server
	log   *syncLog
	addrs map[string]string // by config key ("listen", "admin"): the bound address
}

// listenAndServe runs a shepherd over nodes with ListenAndServe until the
// test ends; cfg's Listen and Admin should name port 0. It waits until
// every listener logged its line and returns the addresses bound.
func listenAndServe(t *testing.T, nodes []*mctest.Server, edit func(*proxy.Config)) *listening {
	t.Helper()
	pc := &proxy.PoolConfig{Timeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, FailureLimit: 1000}
	for _, n := range nodes {
		pc.Servers = append(pc.Servers, ring.Node{Addr: n.Addr, Weight: 1})
	}
	log := &syncLog{}
	cfg := &proxy.Config{
		Listen:   "127.0.0.1:0",
		Admin:    "127.0.0.1:0",
		Pools:    map[string]*proxy.PoolConfig{"main": pc},
		Logger:   slog.New(slog.NewTextHandler(log, nil)),
		SpoolDir: t.TempDir(),
	}
	edit(cfg)
	srv, err := proxy.New(cfg)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	want := 1
	if cfg.Admin != "" {
		want = 2
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		addrs := loggedAddrs(log.String())
		if len(addrs) == want {
			return &listening{srv: srv, log: log, addrs: addrs}
		}
		select {
		case err := <-done:
			t.Fatalf("ListenAndServe returned early: %v\n%s", err, log.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("listeners not up after 10s; log:\n%s", log.String())
		}
	}
}

var listenLine = regexp.MustCompile(`msg="?(?:admin )?listening"? key=(\S+) addr=(\S+)`)

// loggedAddrs reads the listeners' lines from the log: key → address.
func loggedAddrs(log string) map[string]string {
	out := map[string]string{}
	for _, m := range listenLine.FindAllStringSubmatch(log, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// accessLine returns the access the log names for the listener of key.
func (l *listening) accessLine(t *testing.T, key string) string {
	t.Helper()
	for _, line := range strings.Split(l.log.String(), "\n") {
		if strings.Contains(line, "key="+key+" ") {
			return line
		}
	}
	t.Fatalf("no listener line for %s in the log:\n%s", key, l.log.String())
	return ""
}

// clientPKI is a client_tls setup: shepherd's certificate from CA "a",
// client certificates from "a" (trusted) and from "b" (not).
type clientPKI struct {
	*pki
	cfg                  *proxy.ClientTLSConfig
	goodCert, otherCert  tls.Certificate
	roots                *x509.CertPool // verifies shepherd's certificate
	otherClient, otherKy string
}

func newClientPKI(t *testing.T) *clientPKI {
	t.Helper()
	p := &clientPKI{pki: newPKI(t)}
	p.cfg = &proxy.ClientTLSConfig{Cert: p.server, Key: p.serverKey, ClientCA: p.a.CA}
	p.otherClient, p.otherKy = p.b.issue("client-b", true)
	var err error
	if p.goodCert, err = tls.LoadX509KeyPair(p.client, p.clientKey); err != nil {
		t.Fatal(err)
	}
	if p.otherCert, err = tls.LoadX509KeyPair(p.otherClient, p.otherKy); err != nil {
		t.Fatal(err)
	}
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.a.cert)
	return p
}

// tlsClient is tls config for a client presenting certs (none: no certificate).
func (p *clientPKI) tlsClient(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", Certificates: certs}
}

// tlsExchange connects to addr over TLS, sends a set and a get and
// returns the replies' lines, or the first error.
func tlsExchange(addr string, tc *tls.Config) ([]string, error) {
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, tc)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, "set ctls 0 0 5\r\nhello\r\nget ctls\r\n"); err != nil {
		return nil, err
	}
	br := bufio.NewReader(nc)
	var lines []string
	for len(lines) < 4 {
		line, err := br.ReadString('\n')
		if err != nil {
			return lines, err
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
	}
	return lines, nil
}

// TestClientTLS: with client_tls, a text-protocol client with a
// certificate from client_ca gets through to memcached (set, then get);
// one without a certificate, with another CA's, or without TLS at all
// is refused and counted. The admin listener asks the same of its clients.
func TestClientTLS(t *testing.T) {
	t.Parallel()
	p := newClientPKI(t)
	node := mctest.Start(t)
	l := listenAndServe(t, []*mctest.Server{node}, func(cfg *proxy.Config) { cfg.ClientTLS = p.cfg })
	addr := l.addrs["listen"]

	lines, err := tlsExchange(addr, p.tlsClient(p.goodCert))
	want := []string{"STORED", "VALUE ctls 0 5", "hello", "END"}
	if err != nil || strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("client with a certificate from client_ca: got %q, %v; want %q", lines, err, want)
	}
	for name, tc := range map[string]*tls.Config{
		"no certificate":           p.tlsClient(),
		"another CA's certificate": p.tlsClient(p.otherCert),
	} {
		if lines, err := tlsExchange(addr, tc); err == nil || len(lines) > 0 {
			t.Errorf("client with %s: got %q, %v; want the connection refused before any reply", name, lines, err)
		}
	}
	plain := dial(t, addr) // not TLS: its command is no TLS record
	plain.nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(plain.nc, "get ctls\r\n")
	if line, err := plain.br.ReadString('\n'); err == nil || strings.HasPrefix(line, "VALUE") {
		t.Errorf("plain client: got %q, %v; want the connection closed without a value", line, err)
	}
	// A refused client may see its alert a moment before the server
	// goroutine counts it: wait (bounded) for the count to settle.
	var stats map[string]string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		stats, err = tlsStats(addr, p.tlsClient(p.goodCert))
		if err != nil || stats["client_tls_refused"] == "3" || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || stats["client_tls_refused"] != "3" {
		t.Errorf("stats client_tls_refused: got %q (%v); want 3", stats["client_tls_refused"], err)
	}
	if line := l.accessLine(t, "listen"); !strings.Contains(line, "client TLS") {
		t.Errorf("log: got %q; want the listener described as client TLS", line)
	}

	admin := "https://" + l.addrs["admin"] + "/healthz"
	with := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: p.tlsClient(p.goodCert)}}
	resp, err := with.Get(admin)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("admin with a client certificate: %v %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	without := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: p.tlsClient()}}
	if resp, err := without.Get(admin); err == nil {
		resp.Body.Close()
		t.Errorf("admin without a client certificate: status %d; want the connection refused", resp.StatusCode)
	}
}

// tlsStats reads `stats` over TLS.
func tlsStats(addr string, tc *tls.Config) (map[string]string, error) {
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, tc)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "stats\r\n")
	br := bufio.NewReader(nc)
	out := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return out, err
		}
		f := strings.Fields(line)
		if len(f) == 1 && f[0] == "END" {
			return out, nil
		}
		if len(f) == 3 {
			out[f[1]] = f[2]
		}
	}
}

// TestClientTLSRotation: client_tls files replaced on disk are used from
// the next handshake: a client certificate from a CA added to client_ca
// gets through, without a restart.
func TestClientTLSRotation(t *testing.T) {
	t.Parallel()
	p := newClientPKI(t)
	node := mctest.Start(t)
	caFile := filepath.Join(t.TempDir(), "client-ca.pem")
	bundle(t, caFile, p.a)
	cfg := *p.cfg
	cfg.ClientCA = caFile
	l := listenAndServe(t, []*mctest.Server{node}, func(c *proxy.Config) { c.ClientTLS = &cfg; c.Admin = "" })
	addr := l.addrs["listen"]
	if _, err := tlsExchange(addr, p.tlsClient(p.otherCert)); err == nil {
		t.Fatalf("a client of CA b before b is trusted: got through; want refused")
	}
	tmp := caFile + ".new"
	bundle(t, tmp, p.a, p.b)
	later := time.Now().Add(2 * time.Second) // a new mtime even on a coarse clock
	os.Chtimes(tmp, later, later)
	if err := os.Rename(tmp, caFile); err != nil {
		t.Fatal(err)
	}
	if lines, err := tlsExchange(addr, p.tlsClient(p.otherCert)); err != nil || len(lines) != 4 {
		t.Errorf("a client of CA b once client_ca holds b: got %q, %v; want set and get to work", lines, err)
	}
}

// TestListenerAccessRules: which listen addresses the config accepts,
// with and without client_tls and allow_unauthenticated_remote. Nothing
// here listens.
func TestListenerAccessRules(t *testing.T) {
	t.Parallel()
	tlsCfg := &proxy.ClientTLSConfig{Cert: "c.pem", Key: "k.pem", ClientCA: "ca.pem"}
	for _, tc := range []struct {
		name string
		edit func(*proxy.Config)
		want string // "" for valid
	}{
		{"default listener", func(c *proxy.Config) { c.Listen = "" }, ""},
		{"127.0.0.1", func(c *proxy.Config) { c.Listen = "127.0.0.1:11211" }, ""},
		{"127.0.0.0/8", func(c *proxy.Config) { c.Listen = "127.1.2.3:11211" }, ""},
		{"::1", func(c *proxy.Config) { c.Listen = "[::1]:11211" }, ""},
		{"localhost", func(c *proxy.Config) { c.Listen = "localhost:11211" }, ""},
		{"unix socket", func(c *proxy.Config) { c.Listen = "unix:/run/shepherd.sock" }, ""},
		{"0.0.0.0", func(c *proxy.Config) { c.Listen = "0.0.0.0:11211" }, "listen 0.0.0.0:11211 listens on every interface"},
		{"empty host", func(c *proxy.Config) { c.Listen = ":11211" }, "listen :11211 listens on every interface"},
		{"::", func(c *proxy.Config) { c.Listen = "[::]:11211" }, "listens on every interface"},
		{"private address", func(c *proxy.Config) { c.Listen = "10.0.0.5:11211" }, "10.0.0.5:11211 is not a loopback address"},
		{"host name", func(c *proxy.Config) { c.Listen = "cache.example:11211" }, `names host "cache.example", which is not known to be loopback`},
		{"no port", func(c *proxy.Config) { c.Listen = "127.0.0.1" }, "want host:port or unix:/path"},
		{"empty socket path", func(c *proxy.Config) { c.Listen = "unix:" }, "the socket path is empty"},
		{"remote allowed", func(c *proxy.Config) { c.Listen = "0.0.0.0:11211"; c.AllowUnauthenticatedRemote = true }, ""},
		{"remote with client TLS", func(c *proxy.Config) { c.Listen = "0.0.0.0:11211"; c.ClientTLS = tlsCfg }, ""},
		{"admin remote", func(c *proxy.Config) { c.Admin = "0.0.0.0:9150" }, "admin 0.0.0.0:9150 listens on every interface"},
		{"admin remote allowed", func(c *proxy.Config) { c.Admin = "0.0.0.0:9150"; c.AllowUnauthenticatedRemote = true }, ""},
		{"pool listener remote", func(c *proxy.Config) { c.Pools["main"].Listen = "0.0.0.0:22122" }, `pool "main": listen 0.0.0.0:22122`},
		{"client TLS and allow", func(c *proxy.Config) { c.ClientTLS = tlsCfg; c.AllowUnauthenticatedRemote = true }, "allow_unauthenticated_remote has no effect with client_tls"},
		{"client TLS without client_ca", func(c *proxy.Config) { c.ClientTLS = &proxy.ClientTLSConfig{Cert: "c", Key: "k"} }, "client_tls: client_ca is required"},
		{"client TLS without cert", func(c *proxy.Config) { c.ClientTLS = &proxy.ClientTLSConfig{Key: "k", ClientCA: "ca"} }, "client_tls: cert is required"},
		{"client TLS min version", func(c *proxy.Config) {
			c.ClientTLS = &proxy.ClientTLSConfig{Cert: "c", Key: "k", ClientCA: "ca", MinVersion: "1.1"}
		}, `min_version "1.1"`},
		{"socket mode without a socket", func(c *proxy.Config) { c.Socket.Mode = 0o660 }, "no listener is one"},
		{"socket mode too wide", func(c *proxy.Config) { c.Listen = "unix:/s"; c.Socket.Mode = 0o4777 }, "want permission bits only"},
		{"socket group unknown", func(c *proxy.Config) { c.Listen = "unix:/s"; c.Socket.Group = "no-such-group-shepherd" }, `socket_group "no-such-group-shepherd": group: unknown group`},
		{"socket owner unknown", func(c *proxy.Config) { c.Listen = "unix:/s"; c.Socket.Owner = "no-such-user-shepherd" }, `socket_owner "no-such-user-shepherd": user: unknown user`},
		{"socket group by id", func(c *proxy.Config) { c.Listen = "unix:/s"; c.Socket.Group = "12345" }, ""},
		{"socket owner negative", func(c *proxy.Config) { c.Listen = "unix:/s"; c.Socket.Owner = "-1" }, `socket_owner "-1": want a name or an id ≥ 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := &proxy.Config{
				Pools:    map[string]*proxy.PoolConfig{"main": {Servers: []ring.Node{{Addr: "127.0.0.1:11211", Weight: 1}}}},
				SpoolDir: "/nonexistent",
				Admin:    "127.0.0.1:9150",
			}
			tc.edit(cfg)
			cfg.FillDefaults()
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v; want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestRemoteListenerAllowed: with allow_unauthenticated_remote, shepherd
// listens on every interface (the test connects over loopback only) and
// says at start, as a warning, that anyone may connect.
func TestRemoteListenerAllowed(t *testing.T) {
	t.Parallel()
	node := mctest.Start(t)
	l := listenAndServe(t, []*mctest.Server{node}, func(c *proxy.Config) {
		c.Listen, c.Admin, c.AllowUnauthenticatedRemote = "0.0.0.0:0", "", true
	})
	_, port, _ := net.SplitHostPort(l.addrs["listen"])
	c := dial(t, "127.0.0.1:"+port)
	c.send("set r 0 0 1\r\nx\r\nget r\r\n")
	c.expect("STORED", "VALUE r 0 1", "x", "END")
	line := l.accessLine(t, "listen")
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "UNAUTHENTICATED") {
		t.Errorf("log: got %q; want a warning that the listener is remote and unauthenticated", line)
	}
}

// TestLoopbackListenerLogged: the default kind of listener says it is
// loopback only.
func TestLoopbackListenerLogged(t *testing.T) {
	t.Parallel()
	node := mctest.Start(t)
	l := listenAndServe(t, []*mctest.Server{node}, func(*proxy.Config) {})
	for _, key := range []string{"listen", "admin"} {
		if line := l.accessLine(t, key); !strings.Contains(line, `access="loopback only"`) {
			t.Errorf("log: got %q; want %s described as loopback only", line, key)
		}
	}
}

// TestUnixSocketMode: a unix socket listener gets socket_mode and
// socket_group (a group other than shepherd's own when the test may
// choose one), and clients reach memcached through it.
func TestUnixSocketMode(t *testing.T) {
	t.Parallel()
	node := mctest.Start(t)
	path := filepath.Join(t.TempDir(), "shepherd.sock")
	group := otherGroup(t)
	l := listenAndServe(t, []*mctest.Server{node}, func(c *proxy.Config) {
		c.Listen, c.Admin = "unix:"+path, ""
		c.Socket = proxy.SocketConfig{Mode: 0o660, Group: group.Name}
	})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o660 {
		t.Errorf("socket mode: got %#o; want 0660", got)
	}
	if got := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Gid)); got != group.Gid {
		t.Errorf("socket group: got gid %s; want %s (%s)", got, group.Gid, group.Name)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("socket directory: got %d entries; want the socket alone (the private directory it was bound in removed)", len(entries))
	}
	if got := l.addrs["listen"]; got != path {
		t.Errorf("logged address: got %s; want %s", got, path)
	}
	want := fmt.Sprintf("unix socket, mode 0660, owner %s, group %s", currentUser(t), group.Name)
	if line := l.accessLine(t, "listen"); !strings.Contains(line, want) {
		t.Errorf("log: got %q; want %q", line, want)
	}
	nc, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &conn{t: t, nc: nc, br: bufio.NewReader(nc)}
	c.send("set u 0 0 1\r\nx\r\nget u\r\n")
	c.expect("STORED", "VALUE u 0 1", "x", "END")
}

// otherGroup returns a group shepherd may give its socket: as root any
// group ("daemon"), else one of the process's supplementary groups, else
// its own.
func otherGroup(t *testing.T) *user.Group {
	t.Helper()
	if os.Geteuid() == 0 {
		if g, err := user.LookupGroup("daemon"); err == nil {
			return g
		}
	}
	gids, _ := os.Getgroups()
	for _, gid := range gids {
		if gid != os.Getegid() {
			if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
				return g
			}
		}
	}
	g, err := user.LookupGroupId(strconv.Itoa(os.Getegid()))
	if err != nil {
		t.Skipf("no group name for gid %d: %v", os.Getegid(), err)
	}
	return g
}

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Skipf("no user name: %v", err)
	}
	return u.Username
}

// TestSocketOwnerRefused: a socket owner shepherd may not give away (it
// is not root) fails the start with an error naming the setting.
func TestSocketOwnerRefused(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root may give a socket to anyone")
	}
	node := mctest.Start(t)
	cfg := &proxy.Config{
		Listen:   "unix:" + filepath.Join(t.TempDir(), "s.sock"),
		Pools:    map[string]*proxy.PoolConfig{"main": {Servers: []ring.Node{{Addr: node.Addr, Weight: 1}}}},
		Logger:   quietLogger(),
		SpoolDir: t.TempDir(),
		Socket:   proxy.SocketConfig{Owner: "0"},
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = srv.ListenAndServe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "socket_owner") || !errors.Is(err, os.ErrPermission) {
		t.Errorf("ListenAndServe: %v; want a permission error naming socket_owner", err)
	}
}

// TestUnixSocketPathNotSocket: a socket_mode listener never replaces a
// file that is not a socket.
func TestUnixSocketPathNotSocket(t *testing.T) {
	t.Parallel()
	node := mctest.Start(t)
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(&proxy.Config{
		Listen:   "unix:" + path,
		Pools:    map[string]*proxy.PoolConfig{"main": {Servers: []ring.Node{{Addr: node.Addr, Weight: 1}}}},
		Logger:   quietLogger(),
		SpoolDir: t.TempDir(),
		Socket:   proxy.SocketConfig{Mode: 0o660},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.ListenAndServe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("ListenAndServe: %v; want an error saying the path is not a socket", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Errorf("the file: got %q; want it untouched", b)
	}
}
