package proxy_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// authority is a test CA that writes PEM files into dir.
type authority struct {
	t    testing.TB
	dir  string
	name string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	CA   string // its certificate's PEM file
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 1}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

// newAuthority makes a self-signed CA called name.
func newAuthority(t testing.TB, dir, name string) *authority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	a := &authority{t: t, dir: dir, name: name, cert: cert, key: key, CA: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, a.CA, "CERTIFICATE", der)
	return a
}

// issue signs a leaf certificate for 127.0.0.1 (server) or a client and
// writes it and its key as <name>.pem and <name>-key.pem.
func (a *authority) issue(name string, client bool) (certFile, keyFile string) {
	a.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		a.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		a.t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		a.t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(a.dir, name+".pem"), filepath.Join(a.dir, name+"-key.pem")
	writePEM(a.t, certFile, "CERTIFICATE", der)
	writePEM(a.t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// bundle writes the CA certificates of as into one file.
func bundle(t testing.TB, file string, as ...*authority) string {
	t.Helper()
	var b bytes.Buffer
	for _, a := range as {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw})
	}
	if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// tlsNode is a memcached started with -Z: its server certificate is
// certFile; with clientCA it requires a client certificate signed by it
// (ssl_verify_mode 2). extra are more memcached flags (-Y).
func startTLSNode(t testing.TB, certFile, keyFile, clientCA string, extra ...string) *mctest.Server {
	t.Helper()
	opts := "ssl_chain_cert=" + certFile + ",ssl_key=" + keyFile
	if clientCA != "" {
		opts += ",ssl_ca_cert=" + clientCA + ",ssl_verify_mode=2"
	}
	return mctest.StartReady(t, tlsReady, append([]string{"-Z", "-o", opts}, extra...)...)
}

// tlsReady reports whether a TLS listener accepts connections: a
// handshake that does not verify (the test checks the node, not its
// certificate), closed at once. A node asking for a client certificate
// refuses the empty one only after the handshake; its answer does not
// matter here.
func tlsReady(addr string) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	return c.Close()
}

// pki is one test's certificates: CA "a" with a server certificate for
// 127.0.0.1 and a client certificate, and CA "b", which shepherd does not
// trust, with a server certificate of its own.
type pki struct {
	a, b                        *authority
	server, serverKey           string
	client, clientKey           string
	otherServer, otherServerKey string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{a: newAuthority(t, dir, "ca-a"), b: newAuthority(t, dir, "ca-b")}
	p.server, p.serverKey = p.a.issue("server-a", false)
	p.client, p.clientKey = p.a.issue("client-a", true)
	p.otherServer, p.otherServerKey = p.b.issue("server-b", false)
	return p
}

// withTLS sets the main pool's tls settings.
func withTLS(tc *proxy.TLSConfig) func(*proxy.Config) {
	return func(cfg *proxy.Config) { cfg.Pools["main"].TLS = tc }
}

// roundTrip sets and gets n keys through addr and returns the first
// failure, or "".
func roundTrip(t *testing.T, addr string, n int) string {
	t.Helper()
	c := dial(t, addr)
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("tls:%d", i)
		c.send(fmt.Sprintf("set %s 0 0 2\r\nv%d\r\n", key, i%10))
		if got := c.line(); got != "STORED" {
			return fmt.Sprintf("set %s: %q", key, got)
		}
		c.send("get " + key + "\r\n")
		if got := c.line(); got != fmt.Sprintf("VALUE %s 0 2", key) {
			return fmt.Sprintf("get %s: %q", key, got)
		}
		c.line()
		c.line()
	}
	return ""
}

// backend returns the status of the node at addr.
func backend(t *testing.T, srv *proxy.Server, addr string) proxy.NodeStatus {
	t.Helper()
	for _, st := range srv.Backends() {
		if st.Addr == addr {
			return st
		}
	}
	t.Fatalf("no backend %s", addr)
	return proxy.NodeStatus{}
}

// backendStat returns one line of `stats backends` for the node at addr.
func backendStat(t *testing.T, f *fixture, addr, name string) string {
	t.Helper()
	c := dial(t, f.addr)
	c.send("stats backends\r\n")
	want := "STAT main:" + addr + ":" + name + " "
	got := ""
	for line := c.line(); line != "END"; line = c.line() {
		if strings.HasPrefix(line, want) {
			got = strings.TrimPrefix(line, want)
		}
	}
	return got
}

// TestTLSBackend: shepherd talks TLS to a memcached started with -Z,
// verifying its certificate against the configured CA.
func TestTLSBackend(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	node := startTLSNode(t, p.server, p.serverKey, "")
	f := startShepherd(t, []*mctest.Server{node}, withTLS(&proxy.TLSConfig{CA: p.a.CA}))
	if msg := roundTrip(t, f.addr, 50); msg != "" {
		t.Fatalf("through shepherd over TLS: %s; want every set and get to work", msg)
	}
	if got := backendStat(t, f, node.Addr, "transport"); got != "ok" {
		t.Errorf("stats backends transport: got %q; want ok", got)
	}
	if got := backendStat(t, f, node.Addr, "tls_handshake_failures"); got != "0" {
		t.Errorf("stats backends tls_handshake_failures: got %q; want 0", got)
	}
}

// TestTLSMutual: a node that requires a client certificate
// (ssl_verify_mode 2) serves shepherd with the configured one, and
// refuses a shepherd without one, which counts it as a node failure.
func TestTLSMutual(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	node := startTLSNode(t, p.server, p.serverKey, p.a.CA)
	with := startShepherd(t, []*mctest.Server{node}, withTLS(&proxy.TLSConfig{CA: p.a.CA, Cert: p.client, Key: p.clientKey}))
	if msg := roundTrip(t, with.addr, 20); msg != "" {
		t.Fatalf("with a client certificate: %s; want every set and get to work", msg)
	}
	without := startShepherd(t, []*mctest.Server{node}, func(cfg *proxy.Config) {
		withTLS(&proxy.TLSConfig{CA: p.a.CA})(cfg)
		cfg.Pools["main"].FailureLimit = 1
	})
	c := dial(t, without.addr)
	c.send("set k 0 0 1\r\nv\r\n")
	if got := c.line(); !strings.HasPrefix(got, "SERVER_ERROR") {
		t.Errorf("without a client certificate: got %q; want SERVER_ERROR", got)
	}
	waitState(t, without.srv, node.Addr, "ejected")
	st := backend(t, without.srv, node.Addr)
	if st.Transport != "tls_handshake_failed" {
		t.Errorf("without a client certificate: transport %q; want tls_handshake_failed", st.Transport)
	}
}

// TestTLSOtherCA: a node whose certificate another CA signed is refused:
// no request reaches it, the handshake failure is counted, logged and
// shown in stats backends, and the node is ejected.
func TestTLSOtherCA(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	node := startTLSNode(t, p.otherServer, p.otherServerKey, "")
	var log syncLog
	f := startShepherd(t, []*mctest.Server{node}, func(cfg *proxy.Config) {
		withTLS(&proxy.TLSConfig{CA: p.a.CA})(cfg)
		cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	waitState(t, f.srv, node.Addr, "ejected") // the check as it starts
	c := dial(t, f.addr)
	c.send("get k\r\n")
	if got := c.line(); got != "END" && !strings.HasPrefix(got, "SERVER_ERROR") {
		t.Errorf("get through shepherd: got %q; want a miss or SERVER_ERROR", got)
	}
	if got := backendStat(t, f, node.Addr, "transport"); got != "tls_handshake_failed" {
		t.Errorf("stats backends transport: got %q; want tls_handshake_failed", got)
	}
	if got := backendStat(t, f, node.Addr, "tls_handshake_failures"); got == "0" || got == "" {
		t.Errorf("stats backends tls_handshake_failures: got %q; want at least 1", got)
	}
	rec := httptest.NewRecorder()
	f.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metric := `shepherd_backend_tls_handshake_failures_total{node="` + node.Addr + `",pool="main"} `
	if i := strings.Index(rec.Body.String(), metric); i < 0 || strings.HasPrefix(rec.Body.String()[i+len(metric):], "0\n") {
		t.Errorf("/metrics: want %s at least 1", metric)
	}
	if !strings.Contains(log.String(), "certificate signed by unknown authority") {
		t.Errorf("log: got %q; want a line naming the unknown authority", log.String())
	}
}

// syncLog is a log sink tests read while the server writes.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// authNode is a memcached started with -Y, whose one user is
// shepherd:<password>; extra are more flags (-Z ...). Its readiness is any
// answer to a version, which it refuses before a login.
func startAuthNode(t testing.TB, password string, extra ...string) *mctest.Server {
	t.Helper()
	file := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(file, []byte("shepherd:"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-Y", file}, extra...)
	return mctest.StartReady(t, func(addr string) error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}, args...)
}

// passwordFile writes password into a file only the test reads.
func passwordFile(t testing.TB, password string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestBackendAuth: shepherd logs in to a memcached started with -Y with
// the password from a file, and requests work.
func TestBackendAuth(t *testing.T) {
	t.Parallel()
	node := startAuthNode(t, "s3cret-pw")
	f := startShepherd(t, []*mctest.Server{node}, func(cfg *proxy.Config) {
		cfg.Pools["main"].Auth = &proxy.AuthConfig{Username: "shepherd", PasswordFile: passwordFile(t, "s3cret-pw")}
	})
	if msg := roundTrip(t, f.addr, 20); msg != "" {
		t.Fatalf("through shepherd with a login: %s; want every set and get to work", msg)
	}
	if got := backendStat(t, f, node.Addr, "transport"); got != "ok" {
		t.Errorf("stats backends transport: got %q; want ok", got)
	}
}

// TestBackendAuthWrongPassword: a refused login is an error in the log
// as the node starts (never showing the password), the node's state in
// stats backends, a counted failure, and the node is ejected.
func TestBackendAuthWrongPassword(t *testing.T) {
	t.Parallel()
	node := startAuthNode(t, "right-pw")
	var log syncLog
	f := startShepherd(t, []*mctest.Server{node}, func(cfg *proxy.Config) {
		cfg.Pools["main"].Auth = &proxy.AuthConfig{Username: "shepherd", PasswordFile: passwordFile(t, "wrong-pw")}
		cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	waitState(t, f.srv, node.Addr, "ejected")
	st := backend(t, f.srv, node.Addr)
	if st.Transport != "auth_failed" {
		t.Errorf("transport: got %q; want auth_failed", st.Transport)
	}
	if got := backendStat(t, f, node.Addr, "auth_failures"); got == "0" || got == "" {
		t.Errorf("stats backends auth_failures: got %q; want at least 1", got)
	}
	text := log.String()
	if !strings.Contains(text, "CLIENT_ERROR authentication failure") || !strings.Contains(text, `user \"shepherd\"`) {
		t.Errorf("log: got %q; want the node's refusal and the user", text)
	}
	if strings.Contains(text, "wrong-pw") {
		t.Errorf("log shows the password: %q", text)
	}
}

// TestBackendAuthMissing: a node that asks for a login a TLS pool has no
// credentials for is refused with a message saying so. (A plain pool
// without auth does not greet its nodes: there the node's refusal reaches
// the client as a CLIENT_ERROR.)
func TestBackendAuthMissing(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	node := startAuthNode(t, "pw", "-Z", "-o", "ssl_chain_cert="+p.server+",ssl_key="+p.serverKey)
	var log syncLog
	f := startShepherd(t, []*mctest.Server{node}, func(cfg *proxy.Config) {
		withTLS(&proxy.TLSConfig{CA: p.a.CA})(cfg)
		cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	waitState(t, f.srv, node.Addr, "ejected")
	if st := backend(t, f.srv, node.Addr); st.Transport != "auth_failed" {
		t.Errorf("transport: got %q; want auth_failed", st.Transport)
	}
	if !strings.Contains(log.String(), "the node asks for a login") {
		t.Errorf("log: got %q; want it to say the node asks for a login", log.String())
	}
}

// TestBackendAuthEnv: the password can come from the environment.
func TestBackendAuthEnv(t *testing.T) {
	t.Setenv("SHEPHERD_TEST_BACKEND_PASSWORD", "env-pw")
	node := startAuthNode(t, "env-pw")
	f := startShepherd(t, []*mctest.Server{node}, func(cfg *proxy.Config) {
		cfg.Pools["main"].Auth = &proxy.AuthConfig{Username: "shepherd", PasswordEnv: "SHEPHERD_TEST_BACKEND_PASSWORD"}
	})
	if msg := roundTrip(t, f.addr, 5); msg != "" {
		t.Fatalf("password from the environment: %s; want every set and get to work", msg)
	}
}

// TestMemccapableTLS: the conformance bar holds through shepherd over
// three nodes that take only TLS with a client certificate and a login.
func TestMemccapableTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	var nodes []*mctest.Server
	for range 3 {
		nodes = append(nodes, startAuthNode(t, "pw", "-Z", "-o", "ssl_chain_cert="+p.server+",ssl_key="+p.serverKey+",ssl_ca_cert="+p.a.CA+",ssl_verify_mode=2,ssl_session_cache"))
	}
	f := startShepherd(t, nodes, func(cfg *proxy.Config) {
		withTLS(&proxy.TLSConfig{CA: p.a.CA, Cert: p.client, Key: p.clientKey})(cfg)
		cfg.Pools["main"].Auth = &proxy.AuthConfig{Username: "shepherd", PasswordFile: passwordFile(t, "pw")}
	})
	passed, failed := memccapable(t, f.addr)
	t.Logf("memccapable -a through shepherd over TLS and login: %d passed, %d failed %v", len(passed), len(failed), failed)
	if len(failed) != 0 || len(passed) != 27 {
		t.Errorf("got %d passed, failed %v; want 27 passed, none failed", len(passed), failed)
	}
}

// TestFailoverTLSKilledNode: the killed-node failover scenario holds over
// TLS nodes (not parallel: it measures timing; without -race, as make
// test's scenarios run it).
func TestFailoverTLSKilledNode(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s failover scenario; skipped with -short")
	}
	if raceEnabled {
		t.Skip("timing scenario against a 100ms timeout: make test runs it in a second pass without -race")
	}
	p := newPKI(t)
	var nodes []*mctest.Server
	for range 3 {
		nodes = append(nodes, startTLSNode(t, p.server, p.serverKey, ""))
	}
	f := startShepherd(t, nodes, func(cfg *proxy.Config) {
		failoverConfig(cfg)
		withTLS(&proxy.TLSConfig{CA: p.a.CA})(cfg)
		// A probe's handshake gets connect_timeout + timeout; 200 ms is
		// missed now and then on the loaded 2-core CI machine (load 15 seen),
		// and a missed probe costs a whole probe interval. Requests still
		// have the 100 ms timeout.
		cfg.Pools["main"].ConnectTimeout = 500 * time.Millisecond
	})
	victim := nodes[0]
	done := make(chan struct{})
	tl := watchNode(f.srv, victim.Addr, done)
	var resumedAt time.Time
	go func() {
		time.Sleep(time.Second)
		victim.Stop()
		time.Sleep(5 * time.Second)
		victim.Restart(t)
		resumedAt = time.Now()
	}()
	res := runLoop(f.addr, 4, 300, 10*time.Second, foBound)
	waitState(t, f.srv, victim.Addr, "healthy")
	time.Sleep(20 * time.Millisecond)
	close(done)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	t.Logf("killed TLS node through shepherd: %v", res)
	run := &foRun{name: "killed TLS node"}
	for _, st := range f.srv.Backends() { // as failoverOnce judges load
		switch {
		case st.Addr != victim.Addr && st.Errors > 0:
			run.loaded = fmt.Sprintf("healthy node %s failed %d requests", st.Addr, st.Errors)
		case st.Addr == victim.Addr && st.Ejections > 1:
			run.loaded = fmt.Sprintf("the returned node was ejected again (%d ejections)", st.Ejections)
		}
	}
	checkFailover(run, res, tl, resumedAt)
	run.judge(t, true)
}

// TestHerdColdStormTLS: herd protection holds over TLS nodes: 100 readers
// of a missing key through one shepherd, exactly one miss, the rest get
// the filled value.
func TestHerdColdStormTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	var nodes []*mctest.Server
	for range 2 {
		nodes = append(nodes, startTLSNode(t, p.server, p.serverKey, ""))
	}
	f := startShepherd(t, nodes, func(cfg *proxy.Config) {
		withTLS(&proxy.TLSConfig{CA: p.a.CA})(cfg)
		cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "cold:", Hold: herdHold, LeaseTTL: 10 * time.Second}}}
	})
	const readers = 100
	var misses, values atomic.Int64
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for range readers {
		c := dial(t, f.addr)
		c.send("version\r\n")
		c.line()
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			c.send("get cold:tls\r\n")
			switch v := readValue(t, c); v {
			case "":
				misses.Add(1)
				time.Sleep(100 * time.Millisecond) // the database
				c.send("set cold:tls 0 0 6\r\nfilled\r\n")
				c.expect("STORED")
			case "filled":
				values.Add(1)
			}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	t.Logf("cold storm over TLS nodes, %d readers: %d miss(es), %d got the filled value", readers, misses.Load(), values.Load())
	if misses.Load() != 1 || values.Load() != readers-1 {
		t.Errorf("got %d misses and %d values; want 1 miss and %d values", misses.Load(), values.Load(), readers-1)
	}
}

// replaceFile writes data to file as a deploy tool does: a new file
// renamed over the old, so that no reader sees it half written.
func replaceFile(t *testing.T, file, from string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := file + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// TestTLSRotation rotates shepherd's CA bundle and client certificate
// under load: from CA a's to CA b's client certificate, trusting both.
// Node A (trusts client certificates of a and b) serves the load
// throughout; node B (its own certificate from b, trusts only b's client
// certificates) is refused until the files change, then taken in by a
// probe that reads the new files (no SIGHUP); then a reload (what SIGHUP
// does) rereads them again. The load sees 0 errors, and node A's
// connections stay open: no healthy connection is dropped.
func TestTLSRotation(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	dir := t.TempDir()
	nodeA := startTLSNode(t, p.server, p.serverKey, bundle(t, filepath.Join(dir, "a+b.pem"), p.a, p.b), "-o", "ssl_session_cache")
	clientB, clientBKey := p.b.issue("client-b", true)
	nodeB := startTLSNode(t, p.otherServer, p.otherServerKey, p.b.CA)
	// shepherd's files, as a secret mount would hold them.
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	replaceFile(t, ca, p.a.CA)
	replaceFile(t, cert, p.client)
	replaceFile(t, key, p.clientKey)
	var spoolDir string
	config := func() *proxy.Config {
		tc := &proxy.TLSConfig{CA: ca, Cert: cert, Key: key}
		main := poolOf(nodeA)
		main.TLS, main.Timeout = tc, 2*time.Second
		b := poolOf(nodeB)
		b.TLS, b.FailureLimit, b.RetryTimeout, b.RetryMax = tc, 1, 100*time.Millisecond, 200*time.Millisecond
		return &proxy.Config{
			Pools:       map[string]*proxy.PoolConfig{"main": main, "b": b},
			Routes:      []proxy.Route{{Prefix: "b:", Pool: "b"}},
			DefaultPool: "main", Logger: quietLogger(), SpoolDir: spoolDir,
		}
	}
	f := startShepherd(t, []*mctest.Server{nodeA}, func(cfg *proxy.Config) {
		spoolDir = cfg.SpoolDir
		*cfg = *config()
	})
	waitState(t, f.srv, nodeB.Addr, "ejected")
	loaded := make(chan loopResult)
	go func() { loaded <- runLoop(f.addr, 4, 200, 4*time.Second, time.Hour) }()
	time.Sleep(500 * time.Millisecond)
	dialsBefore := backend(t, f.srv, nodeA.Addr).Dials
	replaceFile(t, ca, bundle(t, filepath.Join(dir, "new-ca.pem"), p.a, p.b))
	replaceFile(t, key, clientBKey) // key first: a reader may see the pair mismatched, and keeps the old one
	replaceFile(t, cert, clientB)
	waitState(t, f.srv, nodeB.Addr, "healthy")
	if err := f.srv.Reload(config()); err != nil {
		t.Fatalf("Reload (SIGHUP): %v", err)
	}
	res := <-loaded
	dialsAfter := backend(t, f.srv, nodeA.Addr).Dials
	t.Logf("rotation under load: %v; node A dials %d before the rotation, %d after", res, dialsBefore, dialsAfter)
	if res.getErrors+res.setErrors+res.connErrors != 0 || res.requests == 0 {
		t.Errorf("load during rotation: %v; want requests and 0 errors", res)
	}
	if dialsAfter != dialsBefore {
		t.Errorf("node A: %d dials before the rotation, %d after; want its connections kept", dialsBefore, dialsAfter)
	}
	c := dial(t, f.addr)
	c.send("set b:1 0 0 1\r\nx\r\n")
	if got := c.line(); got != "STORED" {
		t.Errorf("set to node B after rotation: got %q; want STORED", got)
	}
}

// TestSecureConfigErrors: certificates and passwords that cannot be read
// stop shepherd at start with an error naming the file or variable, never
// showing a secret.
func TestSecureConfigErrors(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	tests := []struct {
		name string
		set  func(*proxy.PoolConfig)
		want string
	}{
		{"missing ca", func(pc *proxy.PoolConfig) { pc.TLS = &proxy.TLSConfig{CA: "/nonexistent/ca.pem"} }, "tls: ca: open /nonexistent/ca.pem"},
		{"ca not PEM", func(pc *proxy.PoolConfig) { pc.TLS = &proxy.TLSConfig{CA: garbage} }, "no PEM certificate"},
		{"key of another cert", func(pc *proxy.PoolConfig) {
			pc.TLS = &proxy.TLSConfig{CA: p.a.CA, Cert: p.client, Key: p.serverKey}
		}, "private key does not match public key"},
		{"empty password env", func(pc *proxy.PoolConfig) {
			pc.Auth = &proxy.AuthConfig{Username: "u", PasswordEnv: "SHEPHERD_TEST_UNSET_PASSWORD"}
		}, "$SHEPHERD_TEST_UNSET_PASSWORD) is empty or missing"},
		{"password with a space", func(pc *proxy.PoolConfig) {
			pc.Auth = &proxy.AuthConfig{Username: "u", PasswordFile: passwordFile(t, "two words")}
		}, "contains a space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pc := poolOf()
			pc.Servers = []ring.Node{{Addr: "127.0.0.1:1", Weight: 1}}
			tt.set(pc)
			_, err := proxy.New(&proxy.Config{Pools: map[string]*proxy.PoolConfig{"main": pc}, Logger: quietLogger(), SpoolDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "two words") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestTLSResumptionRefused: memcached requiring client certificates
// without ssl_session_cache fails every resumed session with an internal
// error; shepherd turns resumption off and dials again, so each new
// connection (here: one per `stats`, which asks the node on a fresh one)
// still works, and nothing counts as a handshake failure.
func TestTLSResumptionRefused(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	node := startTLSNode(t, p.server, p.serverKey, p.a.CA)
	var log syncLog
	f := startShepherd(t, []*mctest.Server{node}, func(cfg *proxy.Config) {
		withTLS(&proxy.TLSConfig{CA: p.a.CA, Cert: p.client, Key: p.clientKey})(cfg)
		cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	c := dial(t, f.addr)
	for i := range 5 {
		c.send("stats\r\n")
		found := false
		for line := c.line(); line != "END"; line = c.line() {
			found = found || strings.HasPrefix(line, "STAT limit_maxbytes 67108864")
		}
		if !found {
			t.Fatalf("stats %d: no limit_maxbytes of the node; want its stats through a fresh TLS connection", i)
		}
	}
	if st := backend(t, f.srv, node.Addr); st.Transport != "ok" || st.State != "healthy" {
		t.Errorf("node: transport %q, state %q; want ok, healthy", st.Transport, st.State)
	}
	if got := backendStat(t, f, node.Addr, "tls_handshake_failures"); got != "0" {
		t.Errorf("tls_handshake_failures: got %s; want 0 (a refused resumption is retried, not a failure)", got)
	}
	if !strings.Contains(log.String(), "TLS session resumption off for the pool") {
		t.Errorf("log: got %q; want the warning that resumption is off", log.String())
	}
}

// TestReloadSecureModeNeedsRestart: turning tls or auth on or off for a
// kept pool needs a restart (its open connections would stay as they
// are); changing the files it names reloads.
func TestReloadSecureModeNeedsRestart(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	node := startTLSNode(t, p.server, p.serverKey, "")
	var spoolDir string
	cfg := func(tc *proxy.TLSConfig) *proxy.Config {
		pc := poolOf(node)
		pc.TLS = tc
		return &proxy.Config{Pools: map[string]*proxy.PoolConfig{"main": pc}, Logger: quietLogger(), SpoolDir: spoolDir}
	}
	f := startShepherd(t, []*mctest.Server{node}, func(c *proxy.Config) {
		spoolDir = c.SpoolDir
		*c = *cfg(&proxy.TLSConfig{CA: p.a.CA})
	})
	if err := f.srv.Reload(cfg(nil)); !errors.Is(err, proxy.ErrNeedsRestart) || !strings.Contains(err.Error(), "tls/auth") {
		t.Errorf("reload turning tls off: got %v; want ErrNeedsRestart naming tls/auth", err)
	}
	other := bundle(t, filepath.Join(t.TempDir(), "ca.pem"), p.a, p.b)
	if err := f.srv.Reload(cfg(&proxy.TLSConfig{CA: other})); err != nil {
		t.Errorf("reload with another CA file: %v; want it applied", err)
	}
	if msg := roundTrip(t, f.addr, 3); msg != "" {
		t.Errorf("after the reloads: %s", msg)
	}
}
