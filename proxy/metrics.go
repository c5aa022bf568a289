// Metrics: shepherd's counters, kept as atomics (so `stats` and Prometheus
// read the same numbers) and exported on the admin listener.
package proxy

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
)

// metrics is one server's counters. Labels come from small fixed sets:
// command names, pool names and node addresses, never keys.
type metrics struct {
	reg *prometheus.Registry

	commands         [32]atomic.Uint64 // by protocol.Command
	hits             atomic.Uint64
	misses           atomic.Uint64
	clientErrors     atomic.Uint64 // CLIENT_ERROR and ERROR replies to clients
	binaryRefused    atomic.Uint64 // connections that opened with a binary-protocol request
	serverErrors     atomic.Uint64 // SERVER_ERROR replies to clients
	failedKeys       atomic.Uint64 // get keys turned into misses by a backend failure
	currConns        atomic.Int64
	totalConns       atomic.Uint64
	rejectedConns    atomic.Uint64
	panics           atomic.Uint64
	idleClosed       atomic.Uint64 // client connections closed by client_idle_timeout
	handoffs         atomic.Uint64 // loop clients handed to the goroutine path (loop.go)
	ringEnters       atomic.Uint64 // io_uring_enter calls of the loops (loopring.go)
	clientTLSRefused atomic.Uint64 // client connections whose TLS handshake failed (listen.go)

	backendLatency *prometheus.HistogramVec
	clientLatency  [32]prometheus.Observer // by protocol.Command; nil for CmdUnknown

	reloadsOK, reloadsFailed atomic.Uint64
	lastReloadOK             atomic.Bool
	lastReloadSuccess        atomic.Int64 // unix nanoseconds; the start counts as one
}

// latencyBuckets are the bounds, in seconds, of both latency histograms.
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.backendLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shepherd_backend_request_duration_seconds",
		Help:    "Time from queueing a request for a backend node to its reply.",
		Buckets: latencyBuckets,
	}, []string{"pool", "node"})
	m.reg.MustRegister(m.backendLatency)
	m.registerClientLatency()
	m.registerReloads()
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_build_info", Help: "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": Version, "go_version": GoVersion(), "revision": Revision()},
	}, func() float64 { return 1 }))
	for _, c := range protocol.Commands() {
		m.counter("shepherd_requests_total", "Client requests by command.",
			prometheus.Labels{"command": c.String()}, &m.commands[c])
	}
	m.registerServerCounters() // counters.go
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_open_connections", Help: "Open client connections.",
	}, func() float64 { return float64(m.currConns.Load()) }))
	return m
}

// registerClientLatency makes one histogram per command up front, so that
// observing one on the request path is a few atomic adds and no lookup.
func (m *metrics) registerClientLatency() {
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shepherd_request_duration_seconds",
		Help:    "Time from reading a client command to writing its reply, by command.",
		Buckets: latencyBuckets,
	}, []string{"command"})
	m.reg.MustRegister(vec)
	for _, c := range protocol.Commands() {
		m.clientLatency[c] = vec.WithLabelValues(c.String())
	}
}

// observe records how long cmd took since start; nothing for a command
// that did not parse.
func (m *metrics) observe(cmd protocol.Command, start time.Time) {
	if h := m.clientLatency[cmd]; h != nil {
		h.Observe(time.Since(start).Seconds())
	}
}

func (m *metrics) registerReloads() {
	m.lastReloadOK.Store(true)
	m.lastReloadSuccess.Store(time.Now().UnixNano())
	m.counter("shepherd_config_reloads_total", "Config reloads that took effect.", prometheus.Labels{"result": "success"}, &m.reloadsOK)
	m.counter("shepherd_config_reloads_total", "Config reloads that took effect.", prometheus.Labels{"result": "failure"}, &m.reloadsFailed)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_config_last_reload_successful", Help: "1 when the last reload (or the start) applied its config, 0 when it was rejected.",
	}, func() float64 {
		if m.lastReloadOK.Load() {
			return 1
		}
		return 0
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_config_last_reload_success_timestamp_seconds", Help: "When the config in force was applied (at start or by the last successful reload), in Unix seconds.",
	}, func() float64 { return float64(m.lastReloadSuccess.Load()) / 1e9 }))
}

// CountReload records the outcome of one reload attempt: err is nil when
// the new config took effect, else why it did not (a file that did not
// parse counts as well as a config Reload rejected). The caller, which
// reads the config, calls it once per attempt; ErrClosed is not counted.
func (s *Server) CountReload(err error) {
	m := s.m
	switch {
	case errors.Is(err, ErrClosed):
	case err != nil:
		m.reloadsFailed.Add(1)
		m.lastReloadOK.Store(false)
	default:
		m.reloadsOK.Add(1)
		m.lastReloadOK.Store(true)
		m.lastReloadSuccess.Store(time.Now().UnixNano())
	}
}

func (m *metrics) counter(name, help string, labels prometheus.Labels, v *atomic.Uint64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: name, Help: help, ConstLabels: labels,
	}, func() float64 { return float64(v.Load()) }))
}

// registerHerd exports herd's counters.
func (m *metrics) registerHerd(g *herd.Group) {
	m.registerHerdCounters(&g.Stats) // counters.go
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shepherd_herd_fleet_mode", Help: "1 when herd protection uses the meta protocol fleet-wide, 0 when it only coalesces.",
	}, func() float64 {
		if g.Meta() {
			return 1
		}
		return 0
	}))
}
