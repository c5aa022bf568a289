// Secure transport to backend nodes: TLS (verified, with optional client
// certificates) and memcached's ASCII authentication, done on each new
// connection before it carries a request.
package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors of a connection that opened but could not be made secure.
var (
	ErrTLSHandshake = errors.New("proxy: backend TLS handshake failed")
	ErrAuthFailed   = errors.New("proxy: backend refused shepherd's credentials")
)

// TLS versions that TLSConfig.MinVersion names.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// DefaultTLSMinVersion is TLSConfig.MinVersion when it is empty.
const DefaultTLSMinVersion = "1.2"

// sessionCacheSize bounds the TLS sessions a pool keeps for resumption.
const sessionCacheSize = 256

// TLSConfig makes a pool's backend connections TLS. The node's
// certificate is always verified: against CA, or the system roots when CA
// is empty. Cert and Key (both or neither) are shepherd's client
// certificate, for nodes that ask for one (memcached ssl_verify_mode 2 or 3).
type TLSConfig struct {
	CA         string // PEM file of the CAs that sign the nodes' certificates
	Cert       string // PEM file: client certificate chain
	Key        string // PEM file: its private key
	ServerName string // name the node's certificate must carry; default: each node's host
	MinVersion string // "1.2" (default) or "1.3"
}

// AuthConfig is the user shepherd logs in as on each backend connection
// (memcached -Y). The password comes from a file or an environment
// variable, never from the config itself.
type AuthConfig struct {
	Username     string
	PasswordFile string // first line is the password
	PasswordEnv  string // name of the environment variable holding it
}

// checkSecure checks a pool's tls and auth settings without I/O.
func (p *PoolConfig) checkSecure() error {
	if t := p.TLS; t != nil {
		if (t.Cert == "") != (t.Key == "") {
			return fmt.Errorf("tls: cert and key go together; got cert %q, key %q", t.Cert, t.Key)
		}
		if _, ok := tlsVersions[t.MinVersion]; !ok {
			return fmt.Errorf("tls: min_version %q: want 1.2 or 1.3", t.MinVersion)
		}
	}
	if a := p.Auth; a != nil {
		if a.Username == "" || strings.ContainsAny(a.Username, " \t\r\n") {
			return fmt.Errorf("auth: username %q: want a name without spaces", a.Username)
		}
		if (a.PasswordFile == "") == (a.PasswordEnv == "") {
			return fmt.Errorf("auth: set exactly one of password_file and password_env")
		}
	}
	return nil
}

// secureMode names what a pool's connections do: plain, tls, auth or
// tls+auth. Only a restart changes it: a reload keeps open connections.
func secureMode(p *PoolConfig) string {
	switch {
	case p.TLS != nil && p.Auth != nil:
		return "tls+auth"
	case p.TLS != nil:
		return "tls"
	case p.Auth != nil:
		return "auth"
	}
	return "plain"
}

// fillSecureDefaults fills the zero tls settings.
func (p *PoolConfig) fillSecureDefaults() {
	if p.TLS != nil {
		setDefault(&p.TLS.MinVersion, DefaultTLSMinVersion)
	}
}

// transport makes a pool's new backend connections secure, as one
// version of its config says. It rereads changed certificate files when
// it next opens a connection; open connections keep the keys they
// were made with.
type transport struct {
	src   *TLSConfig // nil: plain
	login []byte     // the auth command with the password; nil: none. Never logged.
	user  string

	mu       sync.Mutex // guards stamp and reported; serializes reloads
	stamp    string     // the certificate files' sizes and times, as loaded
	reported string     // the reload error logged last
	tc       atomic.Pointer[tls.Config]
	noResume atomic.Bool // a node refused a resumed session: full handshakes only
}

// newTransport loads pc's certificates and password; its errors name the
// file or variable and never show a secret.
func newTransport(pc *PoolConfig) (*transport, error) {
	t := &transport{src: pc.TLS}
	if pc.Auth != nil {
		pw, err := readPassword(pc.Auth)
		if err != nil {
			return nil, err
		}
		t.user = pc.Auth.Username
		payload := pc.Auth.Username + " " + pw
		t.login = fmt.Appendf(nil, "set shepherd-auth 0 0 %d\r\n%s\r\n", len(payload), payload)
	}
	if t.src != nil {
		if _, err := t.refresh(true); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// readPassword reads the password a's settings point to.
func readPassword(a *AuthConfig) (string, error) {
	var pw string
	if a.PasswordFile != "" {
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("auth: password_file: %w", err)
		}
		pw, _, _ = strings.Cut(string(b), "\n")
		pw = strings.TrimSuffix(pw, "\r")
	} else {
		pw = os.Getenv(a.PasswordEnv)
	}
	switch {
	case pw == "":
		return "", fmt.Errorf("auth: the password (%s) is empty or missing", passwordSource(a))
	case strings.ContainsAny(pw, " \t\r\n"):
		return "", fmt.Errorf("auth: the password (%s) contains a space; memcached cannot read it", passwordSource(a))
	}
	return pw, nil
}

func passwordSource(a *AuthConfig) string {
	if a.PasswordFile != "" {
		return "password_file " + a.PasswordFile
	}
	return "$" + a.PasswordEnv
}

// on reports whether t does anything to a connection.
func (t *transport) on() bool { return t != nil && (t.src != nil || t.login != nil) }

// files are the certificate files of the transport's TLS settings.
func (t *transport) files() []string {
	var out []string
	for _, f := range []string{t.src.CA, t.src.Cert, t.src.Key} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// stampOf returns the files' sizes and modification times.
func stampOf(files []string) string {
	var b strings.Builder
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s:missing;", f)
		}
	}
	return b.String()
}

// refresh reloads the certificates when their files changed (or always
// with force). It reports whether it loaded new ones; on an error the
// ones loaded before stay in use.
func (t *transport) refresh(force bool) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	stamp := stampOf(t.files())
	if !force && stamp == t.stamp {
		return false, nil
	}
	tc, err := loadTLS(t.src)
	if err != nil {
		return false, err
	}
	t.stamp = stamp
	t.tc.Store(tc)
	return true, nil
}

// loadTLS builds a client tls.Config from src's files, with a session
// cache of its own: a session verified under older CAs is not resumed.
func loadTLS(src *TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tlsVersions[src.MinVersion],
		ServerName:         src.ServerName,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
	}
	if src.CA != "" {
		pem, err := os.ReadFile(src.CA)
		if err != nil {
			return nil, fmt.Errorf("tls: ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca %s: no PEM certificate in it", src.CA)
		}
	}
	if src.Cert != "" {
		cert, err := tls.LoadX509KeyPair(src.Cert, src.Key)
		if err != nil {
			return nil, fmt.Errorf("tls: cert %s, key %s: %w", src.Cert, src.Key, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// current returns the tls.Config for a new connection, reloading changed
// files first; a reload that fails is logged by the caller and the
// certificates loaded before stay in use.
func (t *transport) current() (*tls.Config, error) {
	_, err := t.refresh(false)
	return t.tc.Load(), err
}

// secure makes nc, just dialed to addr, ready for requests: the TLS
// handshake, then a version exchange and the login, all before deadline.
// The exchange confirms the handshake too: with TLS 1.3 a node refuses
// shepherd's certificate only after the client side has finished. On an
// error nc is closed. reloadErr is a failed certificate reload, if any
// (the connection then used the certificates loaded before).
func (t *transport) secure(nc net.Conn, addr string, deadline time.Time) (c net.Conn, reloadErr error, err error) {
	nc.SetDeadline(deadline)
	var tc *tls.Config
	if t.src != nil {
		tc, reloadErr = t.current()
		tc = t.forNode(tc, addr)
		c := tls.Client(nc, tc)
		if err := c.Handshake(); err != nil {
			nc.Close()
			return nil, reloadErr, t.handshakeErr(err, tc)
		}
		nc = c
	}
	if err := t.greet(nc); err != nil {
		nc.Close()
		if tc != nil && refusedAfterHandshake(err) {
			err = t.handshakeErr(err, tc)
		}
		return nil, reloadErr, err
	}
	nc.SetDeadline(time.Time{})
	return nc, reloadErr, nil
}

// forNode returns tc for a connection to addr: naming the node by its
// host unless the config names the server, with the pool's session cache
// seen through a sessionUse of this connection's own, or none once
// resumption is off.
func (t *transport) forNode(tc *tls.Config, addr string) *tls.Config {
	tc = tc.Clone()
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		tc.ServerName = host
	}
	if t.noResume.Load() {
		tc.ClientSessionCache = nil
	} else {
		tc.ClientSessionCache = &sessionUse{ClientSessionCache: tc.ClientSessionCache}
	}
	return tc
}

// sessionUse is the pool's session cache as one connection uses it: it
// notes whether the handshake offered a session to resume (crypto/tls
// drops the session from the cache when such a handshake fails).
type sessionUse struct {
	tls.ClientSessionCache
	offered atomic.Bool
}

func (u *sessionUse) Get(key string) (*tls.ClientSessionState, bool) {
	s, ok := u.ClientSessionCache.Get(key)
	if ok && s != nil {
		u.offered.Store(true)
	}
	return s, ok
}

// offered reports whether the connection tc configured offered a session.
func offered(tc *tls.Config) bool {
	u, ok := tc.ClientSessionCache.(*sessionUse)
	return ok && u.offered.Load()
}

// refusedAfterHandshake reports whether err, on the first exchange after
// a completed TLS handshake, is the node refusing the connection: its
// alert (TLS 1.3 checks the client certificate after the client is done),
// or the connection closed or reset because the node closed it with our
// request unread, which loses the alert.
func refusedAfterHandshake(err error) bool {
	return isAlert(err) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// handshakeErr wraps a failed handshake's err (a timeout stays a
// timeout: the node is slow, not refusing). A node that answers with an
// internal error to a connection that offered to resume a session is
// memcached verifying client certificates without ssl_session_cache
// (OpenSSL then has no session id context and fails every resumption):
// resumption is turned off for the pool, and the error says to dial again.
func (t *transport) handshakeErr(err error, tc *tls.Config) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if offered(tc) && isAlert(err) && strings.Contains(err.Error(), "internal error") {
		t.noResume.Store(true)
		return fmt.Errorf("%w: %w: %w", ErrTLSHandshake, errResumeRefused, err)
	}
	if !isAlert(err) && errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w: the node closed the connection (refusing our certificate?): %w", ErrTLSHandshake, err)
	}
	return fmt.Errorf("%w: %w", ErrTLSHandshake, err)
}

// errResumeRefused marks a handshake worth retrying at once: the node
// refused to resume a session, and resumption is now off.
var errResumeRefused = errors.New("the node refused a resumed session (memcached with ssl_verify_mode needs ssl_session_cache to resume); resumption is now off for this pool")

// isAlert reports whether err is a TLS alert the node sent.
func isAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// greet asks the node for its version, and logs in if it asks for that.
// A node that answers the version needs no login (it runs without -Y) and
// is not sent the password, which it would store as a plain value.
// memcached answers each command with one line and sends nothing unasked,
// so nothing is read past it.
func (t *transport) greet(nc net.Conn) error {
	r := bufio.NewReaderSize(nc, 64)
	line, err := ask(nc, r, []byte("version\r\n"))
	switch {
	case err != nil:
		return err
	case strings.HasPrefix(line, "VERSION "):
		return nil
	case line != "CLIENT_ERROR unauthenticated":
		return fmt.Errorf("proxy: version: unexpected %q", line)
	case t.login == nil:
		return fmt.Errorf("%w: the node asks for a login (memcached -Y); give the pool auth settings", ErrAuthFailed)
	}
	if line, err = ask(nc, r, t.login); err != nil {
		return err
	}
	if line != "STORED" {
		return fmt.Errorf("%w: user %q: %s", ErrAuthFailed, t.user, line)
	}
	return nil
}

// ask writes cmd and returns the one-line answer without its line end.
func ask(nc net.Conn, r *bufio.Reader, cmd []byte) (string, error) {
	if _, err := nc.Write(cmd); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// Values of a node's secure state, in `stats backends` as <node>:transport.
const (
	transportPlain     = "plain"
	transportOK        = "ok"
	transportTLSFailed = "tls_handshake_failed"
	transportAuthFail  = "auth_failed"
)

// secure makes nc, just dialed, ready as m's transport says, and keeps
// the node's counters, state and log up to date.
func (n *node) secure(m *members, nc net.Conn) (net.Conn, error) {
	if !m.sec.on() {
		return nc, nil
	}
	c, reloadErr, err := m.sec.secure(nc, n.addr, time.Now().Add(m.cfg.ConnectTimeout+m.cfg.Timeout))
	if reloadErr != nil && m.sec.firstReport(reloadErr) {
		n.pool.log.Error("backend TLS certificates changed on disk but do not load; new connections use the ones loaded before",
			"pool", n.pool.name, "err", reloadErr)
	}
	n.noteSecure(err)
	return c, err
}

// noteSecure counts a failed handshake or login and logs when the node's
// secure state changes (not every failure: a down node fails each probe).
func (n *node) noteSecure(err error) {
	state := transportOK
	switch {
	case errors.Is(err, errResumeRefused): // not the node's fault nor ours: connect dials again
		n.pool.log.Warn("TLS session resumption off for the pool", "pool", n.pool.name, "node", n.addr, "err", err)
		return
	case errors.Is(err, ErrTLSHandshake):
		n.tlsFailures.Add(1)
		state = transportTLSFailed
	case errors.Is(err, ErrAuthFailed):
		n.authFailures.Add(1)
		state = transportAuthFail
	case err != nil: // the network, not the credentials: the state stays
		return
	}
	was := n.secureState.Swap(&state)
	switch {
	case was != nil && *was == state:
	case err != nil:
		n.pool.log.Error("backend connection refused as insecure; the node counts as failed", "pool", n.pool.name, "node", n.addr, "err", err)
	case was != nil:
		n.pool.log.Info("backend connection secure again", "pool", n.pool.name, "node", n.addr)
	}
}

// secureStateString is the node's transport state for `stats backends`.
func (n *node) secureStateString() string {
	m := n.pool.members()
	if !m.sec.on() {
		return transportPlain
	}
	if s := n.secureState.Load(); s != nil {
		return *s
	}
	return "untried"
}

// checkSecure opens one connection as the node starts, so that a wrong
// password or certificate shows in the log at once, and ejects the node
// if the connection is refused as insecure: it then stays out, probed,
// until its credentials are right.
func (n *node) checkSecure() {
	m := n.pool.members()
	if !m.sec.on() {
		return
	}
	nc, err := n.io.Connect()
	if err == nil {
		nc.Close()
		return
	}
	if errors.Is(err, ErrTLSHandshake) || errors.Is(err, ErrAuthFailed) {
		n.h.Eject(0)
	}
}

// firstReport reports whether err differs from the reload error reported
// last, so that each broken file is logged once.
func (t *transport) firstReport(err error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reported == err.Error() {
		return false
	}
	t.reported = err.Error()
	return true
}
