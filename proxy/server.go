// Package proxy is shepherd's server: it accepts memcached clients, routes
// their commands over pools of backend nodes and returns replies in order.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/proxy/placement"
)

// DrainTimeout bounds how long Serve waits for in-flight requests at shutdown.
const DrainTimeout = 5 * time.Second

// Server is a running shepherd. Create it with New; it is safe for
// concurrent use. Its zero value is not usable.
type Server struct {
	log           *slog.Logger
	limits        protocol.Limits
	m             *metrics
	live          atomic.Pointer[state] // what Reload replaces
	versionReply  []byte
	loopRingOnce  sync.Once  // the log line on why the loops do not use io_uring
	spoolLock     *spoolLock // held from New to Close
	clientTLS     *clientTLS // nil: plain TCP listeners (listen.go)
	tlsRefusedLog logEvery   // failed client handshakes: a line a second at most
	started       time.Time
	quit          chan struct{}
	draining      atomic.Bool // set once Serve starts draining: idle deadlines stop
	startOnce     sync.Once
	stopOnce      sync.Once

	reloadMu sync.Mutex // serializes Reload, start and Close; guards running and closed
	running  bool       // started: a reload starts the nodes it adds
	closed   bool

	mu      sync.Mutex // guards clients
	clients map[*client]struct{}
	wg      sync.WaitGroup // client connections

	loops []*eloop // event loops for plain clients (loop.go); none with event_loops -1
}

// state is the part of a server that Reload replaces, all at once: the
// config, the pools by name, the routes to them and the herd group. It is
// immutable once stored; a pool outlives it when its name stays (a reload
// changes the pool's members in place, see pool.setMembers).
type state struct {
	cfg     *Config
	pools   map[string]*pool
	route   *router
	herd    *herd.Group          // nil without herd rules
	herdReg *prometheus.Registry // herd's metrics, nil without herd rules
}

// New fills cfg's defaults, validates it and builds a server; its only I/O is on the spool
// directory, which it locks (ErrSpoolInUse when another shepherd holds it)
// until Close. The server owns cfg from then on.
func New(cfg *Config) (*Server, error) {
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		log:           cfg.Logger,
		limits:        protocol.Limits{MaxValue: cfg.MaxItemSize},
		m:             newMetrics(),
		versionReply:  []byte("VERSION " + ProtocolVersion() + "\r\n"),
		started:       time.Now(),
		quit:          make(chan struct{}),
		clients:       map[*client]struct{}{},
		tlsRefusedLog: logEvery{period: time.Second},
	}
	ct, err := newClientTLS(cfg.ClientTLS, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s.clientTLS = ct
	lock, err := lockSpoolDir(cfg.SpoolDir)
	if err != nil {
		return nil, err
	}
	ch, err := s.plan(&state{cfg: &Config{}}, cfg)
	if err != nil {
		lock.close()
		return nil, err
	}
	s.spoolLock = lock
	s.apply(ch)
	return s, nil
}

// cfg returns the config in force.
func (s *Server) cfg() *Config { return s.live.Load().cfg }

// pools returns the pools in force, by name.
func (s *Server) pools() map[string]*pool { return s.live.Load().pools }

// herd returns the herd group in force, or nil.
func (s *Server) herd() *herd.Group { return s.live.Load().herd }

func newRouter(cfg *Config, pools map[string]*pool) *router {
	var routes []placement.Prefix[*pool]
	for _, rt := range cfg.Routes {
		routes = append(routes, placement.Prefix[*pool]{Prefix: rt.Prefix, To: pools[rt.Pool]})
	}
	return placement.NewRouter(pools[cfg.DefaultPool], routes)
}

func (s *Server) start() {
	s.startOnce.Do(func() {
		s.reloadMu.Lock()
		defer s.reloadMu.Unlock()
		st := s.live.Load()
		for _, p := range st.pools {
			p.start()
		}
		s.startLoops(st.cfg.EventLoops)
		s.running = true
		s.detectMeta(st.herd, st.pools)
	})
}

// Serve accepts clients on l, routing by the configured routes (as the
// latest Reload left them), until ctx is done; then it drains: stops
// accepting, lets in-flight requests finish (at most DrainTimeout) and
// returns. Serve may be called for several listeners at once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.serve(ctx, l, nil)
}

// ServePool is Serve with every key going to the named pool, as a
// twemproxy listener does.
func (s *Server) ServePool(ctx context.Context, l net.Listener, pool string) error {
	p := s.pools()[pool]
	if p == nil {
		return fmt.Errorf("proxy: no pool %q", pool)
	}
	return s.serve(ctx, l, placement.NewRouter(p, nil))
}

// serve accepts clients that route with route, or by the routes in force
// when it is nil.
func (s *Server) serve(ctx context.Context, l net.Listener, route *router) error {
	s.start()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.drain()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		s.accept(nc, route)
	}
}

// accept starts serving one client, or refuses it over max_connections.
func (s *Server) accept(nc net.Conn, route *router) {
	if s.m.currConns.Add(1) > int64(s.cfg().MaxConnections) {
		s.m.currConns.Add(-1)
		s.m.rejectedConns.Add(1)
		nc.SetDeadline(time.Now().Add(time.Second)) // a TLS client's handshake reads too
		nc.Write(replyTooMany)
		nc.Close()
		return
	}
	lane := uint32(s.m.totalConns.Add(1))
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	s.wg.Add(1)
	if len(s.loops) > 0 && s.clientTLS == nil {
		s.loops[int(lane)%len(s.loops)].adopt(nc, route, lane)
		return
	}
	c := s.newClient(nc, route)
	go func() {
		if s.handshake(nc) { // client TLS, listen.go
			s.serveClient(c)
			return
		}
		nc.Close()
		s.m.currConns.Add(-1)
		s.wg.Done()
	}()
}

// serveClient serves c on goroutines until it ends; c is counted in the
// connections and the wait group.
func (s *Server) serveClient(c *client) {
	defer s.wg.Done()
	defer s.m.currConns.Add(-1)
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	c.serve()
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// drain stops every client's reading, waits for in-flight replies and
// closes what is left after DrainTimeout.
func (s *Server) drain() {
	s.draining.Store(true)
	until := time.Now().Add(DrainTimeout)
	for _, el := range s.loops {
		el.post(func() { el.beginDrain(until) })
	}
	s.mu.Lock()
	for c := range s.clients {
		c.nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(DrainTimeout):
		s.mu.Lock()
		for c := range s.clients {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
}

// Close stops the backend connections. Call it after every Serve returned.
func (s *Server) Close() {
	s.stopOnce.Do(func() {
		s.reloadMu.Lock()
		defer s.reloadMu.Unlock()
		s.closed = true
		close(s.quit)
		for _, el := range s.loops {
			el.stop()
		}
		if g := s.herd(); g != nil {
			g.Close() // its fills end before the pools they write to
		}
		for _, p := range s.pools() {
			p.close()
		}
		s.spoolLock.close()
	})
}

// ListenAndServe listens on cfg.Listen, on every pool's own Listen and on
// the admin address, as the access rules say (listen.go), and serves until
// ctx is done. Each listener logs one line saying who may connect to it.
func (s *Server) ListenAndServe(ctx context.Context) error {
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ls, err := s.listenClients()
	if err != nil {
		return err
	}
	if s.cfg().Admin != "" {
		stop, err := s.serveAdmin()
		if err != nil {
			for _, x := range ls {
				x.l.Close()
			}
			return err
		}
		defer stop()
	}
	errc := make(chan error, len(ls))
	for _, x := range ls {
		go func() {
			if x.pool == "" {
				errc <- s.Serve(ctx, x.l)
			} else {
				errc <- s.ServePool(ctx, x.l, x.pool)
			}
		}()
	}
	var first error
	for range ls {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// clientListener is an open client listener and the pool it serves ("":
// routed by the config's routes).
type clientListener struct {
	l    net.Listener
	pool string
}

// listenClients opens the main listener and every pool's own, closing
// what it opened when one fails.
func (s *Server) listenClients() ([]clientListener, error) {
	cfg := s.cfg() // a reload cannot change the listeners
	var ls []clientListener
	add := func(key, addr, pool string) error {
		l, access, err := s.listen(key, addr)
		if err != nil {
			return err
		}
		s.logAccess("listening", key, l.Addr().String(), access, "pool", pool)
		ls = append(ls, clientListener{l: l, pool: pool})
		return nil
	}
	err := add("listen", cfg.Listen, "")
	for _, name := range sortedNames(cfg.Pools) {
		p := cfg.Pools[name]
		if err != nil || p.Listen == "" || p.Listen == cfg.Listen {
			continue
		}
		err = add(fmt.Sprintf("pool %q: listen", name), p.Listen, name)
	}
	if err != nil {
		for _, x := range ls {
			x.l.Close()
		}
		return nil, err
	}
	return ls, nil
}

// serveAdmin serves AdminHandler on the admin listener (HTTPS requiring
// a client certificate with client_tls) until the returned stop.
func (s *Server) serveAdmin() (stop func(), err error) {
	al, access, err := s.listen("admin", s.cfg().Admin)
	if err != nil {
		return nil, fmt.Errorf("proxy: admin listener: %w", err)
	}
	srv := &http.Server{
		Handler:           s.AdminHandler(),
		ReadHeaderTimeout: 5 * time.Second, // bounds a TLS handshake too
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelInfo),
	}
	go srv.Serve(al)
	s.logAccess("admin listening", "admin", al.Addr().String(), access, "paths", "/metrics /healthz /readyz")
	return func() { srv.Close() }, nil
}

// Listen opens "host:port" over TCP or "unix:/path" as a unix socket
// (removing a stale socket file first).
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(path)
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("proxy: listen %s: %w", addr, err)
		}
		return l, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen %s: %w", addr, err)
	}
	return l, nil
}

// AdminHandler serves /metrics (Prometheus), /healthz (liveness: the
// process answers; always 200) and /readyz (readiness: 200 when every pool
// can serve, 503 when a pool has no node to send to).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.GathererFunc(s.gather), promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", s.serveReady)
	return mux
}

// gather collects the server's metrics and those of the nodes and herd
// group in service at this scrape. Each node (and herd group) registers in
// a registry of its own, so that what a reload removes takes its metrics
// with it, and what it adds back registers afresh.
func (s *Server) gather() ([]*dto.MetricFamily, error) {
	st := s.live.Load()
	gs := prometheus.Gatherers{s.m.reg}
	if st.herdReg != nil {
		gs = append(gs, st.herdReg)
	}
	for _, p := range st.pools {
		for _, n := range p.members().nodes {
			gs = append(gs, n.reg)
		}
	}
	return gs.Gather()
}
