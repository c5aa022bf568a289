// Backends: a snapshot of every backend node's health and counters, for
// `stats backends`, metrics and tests.
package proxy

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// NodeStatus is one backend node's state and counters at a moment.
type NodeStatus struct {
	Pool, Addr    string
	State         string // healthy, ejected or probing
	Resolve       string // "ok", or "unresolved: <error>" when its host name did not resolve at start
	Transport     string // plain, untried, ok, tls_handshake_failed or auth_failed (tls.go)
	Admitted      bool   // writes go to the node (set at the end of a replay, just before it turns healthy)
	Requests      uint64 // requests sent to the node
	Errors        uint64 // requests that failed
	Ejections     uint64
	Probes        uint64
	ProbeFailures uint64
	Spooled       int    // keys waiting to be replayed on return
	SpooledTotal  uint64 // keys ever spooled
	Replayed      uint64 // keys ever replayed (copied from a stand-in or deleted)
	Copied        uint64 // of those, values copied from a stand-in (an ms on the node)
	Deleted       uint64 // and keys deleted on the node (an md)
	Flushes       uint64 // returns that flushed the node (spool overflow or flush_all)
	Failovers     uint64 // requests for its keys served elsewhere while it was out
	Dials         uint64 // backend connections opened
	Rejected      uint64 // requests refused because max_inflight were in flight
}

// Backends returns every node's status, pools in name order, nodes in
// configured order.
func (s *Server) Backends() []NodeStatus {
	pools := s.pools()
	names := make([]string, 0, len(pools))
	for name := range pools {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []NodeStatus
	for _, name := range names {
		for _, n := range pools[name].members().nodes {
			out = append(out, n.status())
		}
	}
	return out
}

func (n *node) status() NodeStatus {
	return NodeStatus{
		Pool: n.pool.name, Addr: n.addr, State: n.h.State().String(), Resolve: n.resolveState(), Transport: n.secureStateString(), Admitted: n.sp.Admitted(),
		Requests: n.io.Requests(), Errors: n.errors.Load(),
		Ejections: n.h.Ejections(), Probes: n.h.Probes(), ProbeFailures: n.h.ProbeFailures(),
		Spooled: n.sp.Size(), SpooledTotal: n.sp.Total(), Replayed: n.sp.Replayed(), Copied: n.copies.Load(), Deleted: n.deletes.Load(),
		Flushes: n.sp.Flushes(), Failovers: n.failovers.Load(), Dials: n.io.Dials(), Rejected: n.rejected.Load(),
	}
}

// registerHealth exports the node's state; registerNode (counters.go)
// exports its numbers.
func (m *metrics) registerHealth(n *node) {
	labels := prometheus.Labels{"pool": n.pool.name, "node": n.addr}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_backend_state", Help: "Node state: 0 healthy, 1 ejected, 2 probing.", ConstLabels: labels,
	}, func() float64 { return float64(n.h.State()) }))
}
