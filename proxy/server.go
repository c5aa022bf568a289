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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
)

// Version is shepherd's version, answered to the version command.
var Version = "0.1.0"

// DrainTimeout bounds how long Serve waits for in-flight requests at shutdown.
const DrainTimeout = 5 * time.Second

// Server is a running shepherd. Create it with New; it is safe for
// concurrent use. Its zero value is not usable.
type Server struct {
	cfg          *Config
	log          *slog.Logger
	limits       protocol.Limits
	m            *metrics
	pools        map[string]*pool
	route        *router
	herd         *herd.Group // nil without herd rules
	versionReply []byte
	started      time.Time
	quit         chan struct{}
	startOnce    sync.Once
	stopOnce     sync.Once

	mu      sync.Mutex // guards clients
	clients map[*client]struct{}
	wg      sync.WaitGroup // client connections
}

// New validates cfg and builds a server; it does no I/O.
func New(cfg *Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		limits:       protocol.Limits{MaxValue: cfg.MaxItemSize},
		m:            newMetrics(),
		pools:        map[string]*pool{},
		versionReply: []byte("VERSION shepherd-" + Version + "\r\n"),
		started:      time.Now(),
		quit:         make(chan struct{}),
		clients:      map[*client]struct{}{},
	}
	for name, pc := range cfg.Pools {
		p, err := newPool(pc, s)
		if err != nil {
			return nil, err
		}
		s.pools[name] = p
		for _, n := range p.nodes {
			s.m.registerNode(n)
			s.m.registerHealth(n)
		}
	}
	for name, pc := range cfg.Pools {
		if pc.Gutter != "" {
			s.pools[name].gutter = s.pools[pc.Gutter]
		}
	}
	s.route = s.newRouter(cfg.Routes, s.pools[cfg.DefaultPool])
	s.herd = s.newHerd()
	if s.herd != nil {
		s.m.registerHerd(s.herd)
	}
	return s, nil
}

func (s *Server) newRouter(routes []Route, def *pool) *router {
	r := &router{def: def}
	for _, rt := range routes {
		r.routes = append(r.routes, routeEntry{prefix: rt.Prefix, pool: s.pools[rt.Pool]})
	}
	sort.SliceStable(r.routes, func(i, j int) bool { return len(r.routes[i].prefix) > len(r.routes[j].prefix) })
	return r
}

func (s *Server) start() {
	s.startOnce.Do(func() {
		for _, p := range s.pools {
			p.start()
		}
		s.detectMeta()
	})
}

// Serve accepts clients on l, routing by the configured routes, until ctx
// is done; then it drains: stops accepting, lets in-flight requests finish
// (at most DrainTimeout) and returns. Serve may be called for several
// listeners at once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.serve(ctx, l, s.route)
}

// ServePool is Serve with every key going to the named pool, as a
// twemproxy listener does.
func (s *Server) ServePool(ctx context.Context, l net.Listener, pool string) error {
	p := s.pools[pool]
	if p == nil {
		return fmt.Errorf("proxy: no pool %q", pool)
	}
	return s.serve(ctx, l, &router{def: p})
}

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
	if s.m.currConns.Add(1) > int64(s.cfg.MaxConnections) {
		s.m.currConns.Add(-1)
		s.m.rejectedConns.Add(1)
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write(replyTooMany)
		nc.Close()
		return
	}
	s.m.totalConns.Add(1)
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := s.newClient(nc, route)
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.m.currConns.Add(-1)
		c.serve()
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()
}

// drain stops every client's reading, waits for in-flight replies and
// closes what is left after DrainTimeout.
func (s *Server) drain() {
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
		close(s.quit)
		for _, p := range s.pools {
			p.close()
		}
	})
}

// ListenAndServe listens on cfg.Listen, on every pool's own Listen and on
// the admin address, and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type listener struct {
		l    net.Listener
		pool string
	}
	var ls []listener
	l, err := Listen(s.cfg.Listen)
	if err != nil {
		return err
	}
	ls = append(ls, listener{l: l})
	for name, p := range s.cfg.Pools {
		if p.Listen == "" || p.Listen == s.cfg.Listen {
			continue
		}
		pl, err := Listen(p.Listen)
		if err != nil {
			for _, x := range ls {
				x.l.Close()
			}
			return err
		}
		ls = append(ls, listener{l: pl, pool: name})
	}
	if s.cfg.Admin != "" {
		al, err := net.Listen("tcp", s.cfg.Admin)
		if err != nil {
			return fmt.Errorf("proxy: admin listener: %w", err)
		}
		srv := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(al)
		defer srv.Close()
		s.log.Info("admin listening", "addr", al.Addr().String(), "paths", "/metrics /healthz")
	}
	errc := make(chan error, len(ls))
	for _, x := range ls {
		s.log.Info("listening", "addr", x.l.Addr().String(), "pool", x.pool)
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

// AdminHandler serves /metrics (Prometheus) and /healthz.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	return mux
}
