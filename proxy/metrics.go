// Metrics: shepherd's counters, kept as atomics (so `stats` and Prometheus
// read the same numbers) and exported on the admin listener.
package proxy

import (
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
)

// metrics is one server's counters. Labels come from small fixed sets:
// command names, pool names and node addresses, never keys.
type metrics struct {
	reg *prometheus.Registry

	commands      [32]atomic.Uint64 // by protocol.Command
	hits          atomic.Uint64
	misses        atomic.Uint64
	clientErrors  atomic.Uint64 // CLIENT_ERROR and ERROR replies to clients
	binaryRefused atomic.Uint64 // connections that opened with a binary-protocol request
	serverErrors  atomic.Uint64 // SERVER_ERROR replies to clients
	failedKeys    atomic.Uint64 // get keys turned into misses by a backend failure
	currConns     atomic.Int64
	totalConns    atomic.Uint64
	rejectedConns atomic.Uint64
	panics        atomic.Uint64

	backendLatency *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.backendLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shepherd_backend_request_duration_seconds",
		Help:    "Time from queueing a request for a backend node to its reply.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"pool", "node"})
	m.reg.MustRegister(m.backendLatency)
	for _, c := range protocol.Commands() {
		m.counter("shepherd_requests_total", "Client requests by command.",
			prometheus.Labels{"command": c.String()}, &m.commands[c])
	}
	m.counter("shepherd_get_hits_total", "Keys found by get-family requests.", nil, &m.hits)
	m.counter("shepherd_get_misses_total", "Keys not found by get-family requests.", nil, &m.misses)
	m.counter("shepherd_client_errors_total", "CLIENT_ERROR and ERROR replies sent to clients.", nil, &m.clientErrors)
	m.counter("shepherd_binary_protocol_refused_total", "Client connections that opened with a binary-protocol request, answered with a binary error and closed.", nil, &m.binaryRefused)
	m.counter("shepherd_server_errors_total", "SERVER_ERROR replies sent to clients.", nil, &m.serverErrors)
	m.counter("shepherd_failed_keys_total", "Get keys answered as misses because their node failed.", nil, &m.failedKeys)
	m.counter("shepherd_connections_total", "Client connections accepted.", nil, &m.totalConns)
	m.counter("shepherd_rejected_connections_total", "Client connections refused over max_connections.", nil, &m.rejectedConns)
	m.counter("shepherd_panics_total", "Client connections ended by a recovered panic.", nil, &m.panics)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_connections", Help: "Open client connections.",
	}, func() float64 { return float64(m.currConns.Load()) }))
	return m
}

func (m *metrics) counter(name, help string, labels prometheus.Labels, v *atomic.Uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: name, Help: help, ConstLabels: labels,
	}, func() float64 { return float64(v.Load()) }))
}

// registerNode exports one backend node's counters.
func (m *metrics) registerNode(n *node) {
	labels := prometheus.Labels{"pool": n.pool.name, "node": n.addr}
	m.counter("shepherd_backend_requests_total", "Requests sent to a backend node.", labels, &n.requests)
	m.counter("shepherd_backend_errors_total", "Backend requests that failed (timeout, refused, reset, busy).", labels, &n.errors)
	m.counter("shepherd_backend_connection_errors_total", "Backend connections that failed to open or died with requests pending.", labels, &n.connErrors)
	m.counter("shepherd_backend_dials_total", "Backend connections opened.", labels, &n.dials)
	m.counter("shepherd_backend_rejected_total", "Requests refused at once because max_inflight requests were already in flight to the node.", labels, &n.rejected)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_backend_inflight", Help: "Requests in flight to a backend node.", ConstLabels: labels,
	}, func() float64 { return float64(n.inflight.Load()) }))
}

// registerHerd exports herd's counters.
func (m *metrics) registerHerd(g *herd.Group) {
	st := &g.Stats
	for name, v := range map[string]*atomic.Uint64{
		"wins": &st.Wins, "stale_served": &st.StaleServed, "holds": &st.Holds,
		"hold_wakeups": &st.HoldWakeups, "hold_timeouts": &st.HoldTimeouts,
		"coalesced": &st.Coalesced, "invalidations": &st.Invalidations,
		"origin_fetches": &st.OriginFetches, "origin_failures": &st.OriginFailures,
		"late_fills_rejected": &st.LateFillsRejected,
	} {
		m.counter("shepherd_herd_"+name+"_total", "Herd protection: "+strings.ReplaceAll(name, "_", " ")+".", nil, v)
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_herd_fleet_mode", Help: "1 when herd protection uses the meta protocol fleet-wide, 0 when it only coalesces.",
	}, func() float64 {
		if g.Meta() {
			return 1
		}
		return 0
	}))
}
