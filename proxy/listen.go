// Listeners: who may connect to shepherd. A TCP listener stays on loopback
// unless clients must present a certificate (client_tls) or the config
// says explicitly that anyone who can reach it may use it; a unix socket
// gets the file mode and owner the config gives it. The admin listener
// follows the same rules.
package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRemoteListener refuses a listener reachable from other hosts that
// neither requires client certificates nor is allowed explicitly.
var ErrRemoteListener = errors.New("proxy: listener reachable from other hosts without authentication")

// clientHandshakeTimeout bounds a client's TLS handshake; a client that
// has not finished by then is closed.
const clientHandshakeTimeout = 10 * time.Second

// ClientTLSConfig makes every TCP listener of shepherd (client and admin)
// TLS: shepherd presents Cert and requires of each client a certificate
// signed by a CA in ClientCA. Unix sockets are not wrapped; their file
// mode guards them.
type ClientTLSConfig struct {
	Cert       string // PEM file: shepherd's certificate chain
	Key        string // PEM file: its private key
	ClientCA   string // PEM file of the CAs that sign client certificates
	MinVersion string // "1.2" (default) or "1.3"
}

// SocketConfig is what a unix socket listener's file gets after listen:
// its mode and owner. Zero fields leave what listen gave it (mode 0777
// less the umask; shepherd's user and group).
type SocketConfig struct {
	Mode  os.FileMode // permission bits, e.g. 0660; 0 leaves them
	Owner string      // user name or numeric id; "" leaves it
	Group string      // group name or numeric id; "" leaves it
}

// zero reports whether sc changes nothing.
func (sc SocketConfig) zero() bool { return sc == SocketConfig{} }

// fillListenDefaults fills the zero client TLS settings.
func (c *Config) fillListenDefaults() {
	if c.ClientTLS != nil {
		setDefault(&c.ClientTLS.MinVersion, DefaultTLSMinVersion)
	}
}

// listenAddrs returns every address shepherd listens on, by config key.
func (c *Config) listenAddrs() [][2]string {
	out := [][2]string{{"listen", c.Listen}}
	for _, name := range sortedNames(c.Pools) {
		if l := c.Pools[name].Listen; l != "" {
			out = append(out, [2]string{fmt.Sprintf("pool %q: listen", name), l})
		}
	}
	if c.Admin != "" {
		out = append(out, [2]string{"admin", c.Admin})
	}
	return out
}

// checkListeners checks the listeners' addresses against the access
// rules, and the socket and client TLS settings. Its only reads are of
// the user and group databases, for socket_owner and socket_group.
func (c *Config) checkListeners() error {
	if err := c.checkClientTLS(); err != nil {
		return err
	}
	unix := false
	for _, kv := range c.listenAddrs() {
		isUnix, err := c.checkAccess(kv[0], kv[1])
		if err != nil {
			return err
		}
		unix = unix || isUnix
	}
	if !unix && !c.Socket.zero() {
		return fmt.Errorf("proxy: socket_mode, socket_owner and socket_group apply to unix socket listeners, and no listener is one (listen: unix:/path)")
	}
	if c.Socket.Mode&^os.ModePerm != 0 {
		return fmt.Errorf("proxy: socket_mode %#o: want permission bits only, at most 0777", uint32(c.Socket.Mode))
	}
	_, _, err := c.Socket.ids()
	return err
}

// checkAccess checks one listener's address and reports whether it is a
// unix socket.
func (c *Config) checkAccess(key, addr string) (bool, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" {
			return true, fmt.Errorf("proxy: %s %q: the socket path is empty", key, addr)
		}
		return true, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("proxy: %s %q: want host:port or unix:/path", key, addr)
	}
	if c.ClientTLS != nil || c.AllowUnauthenticatedRemote || loopbackHost(host) {
		return false, nil
	}
	return false, fmt.Errorf("%w: %s %s %s; set client_tls so that clients need a certificate, or allow_unauthenticated_remote: true to let in anyone who can reach it, or listen on 127.0.0.1",
		ErrRemoteListener, key, addr, whyRemote(host))
}

// loopbackHost reports whether host names only loopback addresses:
// 127.0.0.0/8, ::1 or "localhost". Any other name may resolve anywhere.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func whyRemote(host string) string {
	switch ip := net.ParseIP(host); {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		return "listens on every interface"
	case ip == nil:
		return fmt.Sprintf("names host %q, which is not known to be loopback", host)
	}
	return "is not a loopback address"
}

// checkClientTLS checks client_tls without reading its files.
func (c *Config) checkClientTLS() error {
	t := c.ClientTLS
	if t == nil {
		return nil
	}
	if c.AllowUnauthenticatedRemote {
		return fmt.Errorf("proxy: allow_unauthenticated_remote has no effect with client_tls, which makes every TCP listener require a client certificate; remove one of them")
	}
	for _, f := range []struct{ key, v string }{{"cert", t.Cert}, {"key", t.Key}, {"client_ca", t.ClientCA}} {
		if f.v == "" {
			return fmt.Errorf("proxy: client_tls: %s is required (client_tls needs cert, key and client_ca)", f.key)
		}
	}
	if _, ok := tlsVersions[t.MinVersion]; !ok {
		return fmt.Errorf("proxy: client_tls: min_version %q: want 1.2 or 1.3", t.MinVersion)
	}
	return nil
}

// ids resolves the socket's owner and group to numeric ids, -1 for
// "leave it".
func (sc SocketConfig) ids() (uid, gid int, err error) {
	uid, err = lookupID("socket_owner", sc.Owner, func(s string) (string, error) {
		u, err := user.Lookup(s)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
	if err != nil {
		return 0, 0, err
	}
	gid, err = lookupID("socket_group", sc.Group, func(s string) (string, error) {
		g, err := user.LookupGroup(s)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
	return uid, gid, err
}

// lookupID resolves the setting key's value: -1 for "", a number as it
// is, a name by lookup.
func lookupID(key, name string, lookup func(string) (string, error)) (int, error) {
	if name == "" {
		return -1, nil
	}
	if id, err := strconv.Atoi(name); err == nil {
		if id < 0 {
			return 0, fmt.Errorf("proxy: %s %q: want a name or an id ≥ 0", key, name)
		}
		return id, nil
	}
	s, err := lookup(name)
	if err != nil { // user.UnknownUserError and UnknownGroupError say "unknown ..."
		return 0, fmt.Errorf("proxy: %s %q: %w", key, name, err)
	}
	return strconv.Atoi(s)
}

// listenSummary is every listener setting that only a restart changes.
func listenSummary(c *Config) string {
	s := fmt.Sprintf("socket %v %q %q; allow_unauthenticated_remote %v", c.Socket.Mode, c.Socket.Owner, c.Socket.Group, c.AllowUnauthenticatedRemote)
	if t := c.ClientTLS; t != nil {
		s += fmt.Sprintf("; client_tls %s %s %s %s", t.Cert, t.Key, t.ClientCA, t.MinVersion)
	}
	return s
}

// listen opens addr, the listener of key, as the config's access rules
// say: a unix socket gets its mode and owner, a TCP listener is wrapped in
// client TLS when that is on. It returns the listener and a description
// of who may connect, for the log.
func (s *Server) listen(key, addr string) (net.Listener, string, error) {
	cfg := s.cfg()
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		l, err := listenUnix(path, cfg.Socket)
		if err != nil {
			return nil, "", err
		}
		return l, describeSocket(path), nil
	}
	l, err := Listen(addr)
	if err != nil {
		return nil, "", err
	}
	loopback := boundLoopback(l.Addr())
	if !loopback && s.clientTLS == nil && !cfg.AllowUnauthenticatedRemote { // a name that resolved elsewhere
		l.Close()
		return nil, "", fmt.Errorf("%w: %s %s is bound to %s, which is not loopback", ErrRemoteListener, key, addr, l.Addr())
	}
	switch {
	case s.clientTLS != nil:
		return tls.NewListener(l, s.clientTLS.config()), "client TLS: a certificate signed by client_ca " + cfg.ClientTLS.ClientCA + " is required", nil
	case loopback:
		return l, "loopback only", nil
	}
	return l, "REMOTE and UNAUTHENTICATED, allowed by allow_unauthenticated_remote: anyone who can reach it may read and write the cache", nil
}

// boundLoopback reports whether a listener's bound address is loopback.
func boundLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// listenUnix opens a unix socket at path with sc's mode and owner. With
// any set, the socket is bound in a new private directory beside path,
// given them there, and only then renamed into place: no client can
// connect to it before it has them (whatever the umask), and none can
// wait in its backlog from that moment.
func listenUnix(path string, sc SocketConfig) (net.Listener, error) {
	if sc.zero() {
		return Listen("unix:" + path)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("proxy: listen unix:%s: the path exists and is not a socket", path)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".sock")
	if err != nil {
		return nil, fmt.Errorf("proxy: listen unix:%s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("proxy: listen unix:%s: %w", path, err)
	}
	ul.SetUnlinkOnClose(false) // it will not be at tmp
	if err := applySocket(tmp, path, sc); err != nil {
		ul.Close()
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil { // replaces a stale socket
		ul.Close()
		return nil, fmt.Errorf("proxy: listen unix:%s: %w", path, err)
	}
	return &unixListener{UnixListener: ul, addr: &net.UnixAddr{Name: path, Net: "unix"}}, nil
}

// unixListener is a socket renamed after it was bound: it names and
// removes the path it now has.
type unixListener struct {
	*net.UnixListener
	addr *net.UnixAddr
}

func (l *unixListener) Addr() net.Addr { return l.addr }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	os.Remove(l.addr.Name)
	return err
}

// applySocket gives the socket file at file (to be renamed to path) its
// mode and owner.
func applySocket(file, path string, sc SocketConfig) error {
	uid, gid, err := sc.ids()
	if err != nil {
		return err
	}
	if uid != -1 || gid != -1 {
		if err := os.Chown(file, uid, gid); err != nil {
			return fmt.Errorf("proxy: socket_owner/socket_group on %s: %w", path, err)
		}
	}
	if sc.Mode != 0 {
		if err := os.Chmod(file, sc.Mode); err != nil {
			return fmt.Errorf("proxy: socket_mode on %s: %w", path, err)
		}
	}
	return nil
}

// describeSocket says what the socket file at path allows, as it is.
func describeSocket(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "unix socket"
	}
	owner, group := "?", "?"
	if uid, gid, ok := fileOwner(fi); ok {
		owner, group = strconv.Itoa(uid), strconv.Itoa(gid)
		if u, err := user.LookupId(owner); err == nil {
			owner = u.Username
		}
		if g, err := user.LookupGroupId(group); err == nil {
			group = g.Name
		}
	}
	return fmt.Sprintf("unix socket, mode %#o, owner %s, group %s", uint32(fi.Mode().Perm()), owner, group)
}

// logAccess writes the one line that says who may use a listener; a
// remote listener without authentication is a warning.
func (s *Server) logAccess(msg, key, addr, access string, attrs ...any) {
	level := slog.LevelInfo
	if strings.HasPrefix(access, "REMOTE") {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, msg, append([]any{"key", key, "addr", addr, "access", access}, attrs...)...)
}

// clientTLS is the server side of client TLS: the certificate shepherd
// presents and the CAs it checks clients against, reloaded from their
// files when they change (checked at each handshake). Safe for concurrent use.
type clientTLS struct {
	src *ClientTLSConfig
	log *slog.Logger

	mu       sync.Mutex // guards stamp and reported; serializes reloads
	stamp    string     // the files' sizes and times, as loaded
	reported string     // the reload error logged last
	tc       atomic.Pointer[tls.Config]
}

// newClientTLS loads src's files.
func newClientTLS(src *ClientTLSConfig, log *slog.Logger) (*clientTLS, error) {
	if src == nil {
		return nil, nil
	}
	ct := &clientTLS{src: src, log: log}
	if err := ct.refresh(true); err != nil {
		return nil, err
	}
	return ct, nil
}

func (ct *clientTLS) files() []string { return []string{ct.src.Cert, ct.src.Key, ct.src.ClientCA} }

// refresh reloads the files when they changed (or always with force); on
// an error the ones loaded before stay in use.
func (ct *clientTLS) refresh(force bool) error {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	stamp := stampOf(ct.files())
	if !force && stamp == ct.stamp {
		return nil
	}
	tc, err := loadClientTLS(ct.src)
	if err != nil {
		if ct.reported != err.Error() {
			ct.reported = err.Error()
			ct.log.Error("client_tls files changed on disk but do not load; the ones loaded before stay in use", "err", err)
		}
		return err
	}
	ct.stamp, ct.reported = stamp, ""
	ct.tc.Store(tc)
	return nil
}

// loadClientTLS builds the server tls.Config of src's files. Session
// tickets are off: a resumed session would skip checking the client's
// certificate against a client_ca rotated since, and clients keep their
// connections open anyway.
func loadClientTLS(src *ClientTLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(src.Cert, src.Key)
	if err != nil {
		return nil, fmt.Errorf("proxy: client_tls: cert %s, key %s: %w", src.Cert, src.Key, err)
	}
	pem, err := os.ReadFile(src.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("proxy: client_tls: client_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("proxy: client_tls: client_ca %s: no PEM certificate in it", src.ClientCA)
	}
	return &tls.Config{
		Certificates:           []tls.Certificate{cert},
		ClientCAs:              pool,
		ClientAuth:             tls.RequireAndVerifyClientCert,
		MinVersion:             tlsVersions[src.MinVersion],
		SessionTicketsDisabled: true,
	}, nil
}

// config is the tls.Config a listener wraps with: each handshake takes
// the files as they are then.
func (ct *clientTLS) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			ct.refresh(false) // an error is logged; the certificates loaded before serve
			return ct.tc.Load(), nil
		},
	}
}

// handshake finishes a client's TLS handshake, if nc is TLS, within
// clientHandshakeTimeout; a client that fails it is counted, logged and
// refused.
func (s *Server) handshake(nc net.Conn) bool {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return true
	}
	tc.SetDeadline(time.Now().Add(clientHandshakeTimeout))
	err := tc.Handshake()
	tc.SetDeadline(time.Time{})
	if err != nil {
		s.m.clientTLSRefused.Add(1)
		if ok, held := s.tlsRefusedLog.allow(time.Now()); ok {
			s.log.Info("client refused: TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err,
				"refused_unlogged", held) // at most one line a second
		}
		return false
	}
	return true
}
