// Ready: whether every pool can serve, for /readyz.
package proxy

import (
	"fmt"
	"io"
	"net/http"
	"sort"
)

// healthyNodes counts the pool's nodes that take requests now.
func (p *pool) healthyNodes() int {
	n := 0
	for _, nd := range p.members().nodes {
		if nd.h.Healthy() {
			n++
		}
	}
	return n
}

// canServe reports whether some request to the pool can reach a node: one
// of its own is healthy, or, with on_eject: gutter, one of the gutter's.
func (p *pool) canServe() bool {
	if p.healthyNodes() > 0 {
		return true
	}
	g := p.members().gutter
	return g != nil && g.healthyNodes() > 0
}

// Ready reports whether every pool can serve; a pool whose nodes are all
// out (and whose gutter, if any, is out too) makes the server not ready.
func (s *Server) Ready() bool {
	for _, p := range s.pools() {
		if !p.canServe() {
			return false
		}
	}
	return true
}

// serveReady answers /readyz: 200 when Ready, 503 otherwise, with one
// line per pool, "<pool> <healthy>/<nodes> nodes healthy", in name order.
func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	s.writePoolHealth(w)
}

func (s *Server) writePoolHealth(w io.Writer) {
	pools := s.pools()
	names := make([]string, 0, len(pools))
	for name := range pools {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := pools[name]
		verdict := "serving"
		if !p.canServe() {
			verdict = "cannot serve"
		}
		fmt.Fprintf(w, "%s %d/%d nodes healthy: %s\n", name, p.healthyNodes(), len(p.members().nodes), verdict)
	}
}
