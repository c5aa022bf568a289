//go:build !linux

// Event loops need epoll: elsewhere every client is served on goroutines
// (as with event_loops: -1), with a log line saying so.
package proxy

import (
	"net"
	"time"
)

type eloop struct{}

func (s *Server) startLoops(n int) {
	if n > 0 {
		s.log.Warn("event loops need Linux (epoll); clients are served on goroutines", "event_loops", n)
	}
}

func (s *Server) loopsForget(*node) {}

func (el *eloop) post(func()) bool                { return false }
func (el *eloop) beginDrain(time.Time)            {}
func (el *eloop) stop()                           {}
func (el *eloop) adopt(net.Conn, *router, uint32) {}
