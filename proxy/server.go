// Package proxy is shepherd's server: it accepts memcached clients, routes
// their commands over pools of backend nodes and returns replies in order.
package proxy

import (
	"context"
	"errors"
	"net"
)

// Server is a running shepherd. Create it with New; it is safe for concurrent use.
type Server struct {
	cfg *Config
}

// New validates cfg and builds a server; it does no I/O.
func New(cfg *Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg}, nil
}

// Serve accepts clients on l until ctx is done, then drains: it stops
// accepting, lets in-flight requests finish (bounded) and returns.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return errors.New("proxy: unimplemented")
}

// ListenAndServe listens on cfg.Listen (and every pool's own Listen, and the
// admin address) and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	return errors.New("proxy: unimplemented")
}
