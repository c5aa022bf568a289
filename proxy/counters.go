// Counters: each of shepherd's counters declared once, with its name in
// `stats` and its Prometheus name and help; `stats`, `stats backends`,
// `stats herd` and /metrics all render from these tables.
package proxy

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-proxy/shepherd/herd"
)

// serverCounter is one server-wide counter.
type serverCounter struct {
	stat   string // name in `stats`; "" leaves it out
	metric string
	help   string
	v      func(*metrics) *atomic.Uint64
}

var serverCounters = []serverCounter{
	{"total_connections", "shepherd_connections_total", "Client connections accepted.", func(m *metrics) *atomic.Uint64 { return &m.totalConns }},
	{"rejected_connections", "shepherd_rejected_connections_total", "Client connections refused over max_connections.", func(m *metrics) *atomic.Uint64 { return &m.rejectedConns }},
	{"get_hits", "shepherd_get_hits_total", "Keys found by get-family requests.", func(m *metrics) *atomic.Uint64 { return &m.hits }},
	{"get_misses", "shepherd_get_misses_total", "Keys not found by get-family requests.", func(m *metrics) *atomic.Uint64 { return &m.misses }},
	{"get_failed_keys", "shepherd_failed_keys_total", "Get keys answered as misses because their node failed.", func(m *metrics) *atomic.Uint64 { return &m.failedKeys }},
	{"client_errors", "shepherd_client_errors_total", "CLIENT_ERROR and ERROR replies sent to clients.", func(m *metrics) *atomic.Uint64 { return &m.clientErrors }},
	{"server_errors", "shepherd_server_errors_total", "SERVER_ERROR replies sent to clients.", func(m *metrics) *atomic.Uint64 { return &m.serverErrors }},
	{"idle_kicks", "shepherd_idle_connections_closed_total", "Client connections closed after client_idle_timeout without a request.", func(m *metrics) *atomic.Uint64 { return &m.idleClosed }},
	{"binary_protocol_refused", "shepherd_binary_protocol_refused_total", "Client connections that opened with a binary-protocol request, answered with a binary error and closed.", func(m *metrics) *atomic.Uint64 { return &m.binaryRefused }},
	{"client_tls_refused", "shepherd_client_tls_handshake_failures_total", "Client connections refused because their TLS handshake failed (no certificate, one client_ca did not sign, a timeout).", func(m *metrics) *atomic.Uint64 { return &m.clientTLSRefused }},
	{"loop_handoffs", "shepherd_loop_handoffs_total", "Client connections an event loop handed to the goroutine path, at a request it does not do itself (see README, event_loops).", func(m *metrics) *atomic.Uint64 { return &m.handoffs }},
	{"loop_ring_enters", "shepherd_loop_ring_enters_total", "io_uring_enter system calls of the event loops: each submits a turn's writes and waits for the next (see README, event loops).", func(m *metrics) *atomic.Uint64 { return &m.ringEnters }},
	{"", "shepherd_panics_total", "Client connections ended by a recovered panic.", func(m *metrics) *atomic.Uint64 { return &m.panics }},
}

// nodeNumber is one per-node counter or gauge.
type nodeNumber struct {
	stat   string // name in `stats backends`, after "<pool>:<addr>:"
	metric string
	help   string
	gauge  bool
	v      func(*node) uint64
}

var nodeNumbers = []nodeNumber{
	{"requests", "shepherd_backend_requests_total", "Requests sent to a backend node.", false, func(n *node) uint64 { return n.io.Requests() }},
	{"errors", "shepherd_backend_errors_total", "Backend requests that failed (timeout, refused, reset, busy).", false, func(n *node) uint64 { return n.errors.Load() }},
	{"connection_errors", "shepherd_backend_connection_errors_total", "Backend connections that failed to open or died with requests pending.", false, func(n *node) uint64 { return n.io.ConnErrors() }},
	{"dials", "shepherd_backend_dials_total", "Backend connections opened.", false, func(n *node) uint64 { return n.io.Dials() }},
	{"tls_handshake_failures", "shepherd_backend_tls_handshake_failures_total", "TLS handshakes with the node that failed (its certificate refused, or ours).", false, func(n *node) uint64 { return n.tlsFailures.Load() }},
	{"auth_failures", "shepherd_backend_auth_failures_total", "Logins the node refused (memcached -Y).", false, func(n *node) uint64 { return n.authFailures.Load() }},
	{"rejected", "shepherd_backend_rejected_total", "Requests refused at once because max_inflight requests were already in flight to the node.", false, func(n *node) uint64 { return n.rejected.Load() }},
	{"inflight", "shepherd_backend_inflight", "Requests in flight to a backend node.", true, func(n *node) uint64 { return uint64(max(n.io.Inflight(), 0)) }},
	{"ejections", "shepherd_backend_ejections_total", "Times the node was ejected.", false, func(n *node) uint64 { return n.h.Ejections() }},
	{"probes", "shepherd_backend_probes_total", "Background probes sent to the node while it was out.", false, func(n *node) uint64 { return n.h.Probes() }},
	{"probe_failures", "shepherd_backend_probe_failures_total", "Probes (or spool replays) that failed.", false, func(n *node) uint64 { return n.h.ProbeFailures() }},
	{"spooled", "shepherd_backend_spool_pending_keys", "Keys in the node's spool now, to bring up to date on its return.", true, func(n *node) uint64 { return uint64(n.sp.Size()) }},
	{"spooled_total", "shepherd_backend_spooled_keys_total", "Keys ever spooled for the node.", false, func(n *node) uint64 { return n.sp.Total() }},
	{"replayed", "shepherd_backend_replayed_keys_total", "Spooled keys brought up to date on the node before readmission.", false, func(n *node) uint64 { return n.sp.Replayed() }},
	{"copied", "shepherd_backend_replay_copied_keys_total", "Replayed keys whose value was copied to the node from the node that stood in.", false, func(n *node) uint64 { return n.copies.Load() }},
	{"deleted", "shepherd_backend_replay_deleted_keys_total", "Replayed keys deleted on the node.", false, func(n *node) uint64 { return n.deletes.Load() }},
	{"flushes", "shepherd_backend_flushes_total", "Returns that flushed the node (spool overflow or a flush_all while it was out).", false, func(n *node) uint64 { return n.sp.Flushes() }},
	{"failovers", "shepherd_backend_failover_requests_total", "Requests for the node's keys served by another node or the gutter while it was out.", false, func(n *node) uint64 { return n.failovers.Load() }},
}

// herdCounters are herd's counters by their name in `stats herd`; in
// Prometheus each is shepherd_herd_<name>_total.
var herdCounters = []struct {
	stat string
	v    func(*herd.Stats) *atomic.Uint64
}{
	{"wins", func(s *herd.Stats) *atomic.Uint64 { return &s.Wins }},
	{"stale_served", func(s *herd.Stats) *atomic.Uint64 { return &s.StaleServed }},
	{"holds", func(s *herd.Stats) *atomic.Uint64 { return &s.Holds }},
	{"hold_wakeups", func(s *herd.Stats) *atomic.Uint64 { return &s.HoldWakeups }},
	{"hold_timeouts", func(s *herd.Stats) *atomic.Uint64 { return &s.HoldTimeouts }},
	{"coalesced", func(s *herd.Stats) *atomic.Uint64 { return &s.Coalesced }},
	{"invalidations", func(s *herd.Stats) *atomic.Uint64 { return &s.Invalidations }},
	{"origin_fetches", func(s *herd.Stats) *atomic.Uint64 { return &s.OriginFetches }},
	{"origin_failures", func(s *herd.Stats) *atomic.Uint64 { return &s.OriginFailures }},
	{"late_fills_rejected", func(s *herd.Stats) *atomic.Uint64 { return &s.LateFillsRejected }},
}

// registerServerCounters exports serverCounters.
func (m *metrics) registerServerCounters() {
	for _, c := range serverCounters {
		m.counter(c.metric, c.help, nil, c.v(m))
	}
}

// registerNode exports one node's nodeNumbers.
func (m *metrics) registerNode(n *node) {
	labels := prometheus.Labels{"pool": n.pool.name, "node": n.addr}
	for _, c := range nodeNumbers {
		get := func() float64 { return float64(c.v(n)) }
		if c.gauge {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: c.metric, Help: c.help, ConstLabels: labels}, get))
		} else {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.metric, Help: c.help, ConstLabels: labels}, get))
		}
	}
}

// registerHerdCounters exports herdCounters.
func (m *metrics) registerHerdCounters(st *herd.Stats) {
	for _, c := range herdCounters {
		name := c.stat
		m.counter("shepherd_herd_"+name+"_total", "Herd protection: "+name+".", nil, c.v(st))
	}
}
