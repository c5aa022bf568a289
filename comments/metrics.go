// Metrics: the service's Prometheus metrics, served at GET /metrics:
// requests by route and status, latency, and what each request cost in
// database queries and cache requests, and the cache hit ratio.

package comments

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are one Service's collectors, in a registry of its own (so
// several services in one process, as in tests, do not collide).
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	queries   *prometheus.HistogramVec
	cacheReqs *prometheus.HistogramVec
	lookups   *prometheus.CounterVec
}

// costBuckets count queries or cache requests per request.
var costBuckets = []float64{0, 1, 2, 3, 4, 6, 10, 20, 50, 100}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comments_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "comments_http_request_duration_seconds", Help: "Time to answer a request, by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. 4 s
		}, []string{"route"}),
		queries: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "comments_db_queries_per_request", Help: "SQL statements a request sent (BEGIN and COMMIT included).",
			Buckets: costBuckets,
		}, []string{"route"}),
		cacheReqs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "comments_cache_requests_per_request", Help: "Requests a request sent to memcached (a multi-get is one).",
			Buckets: costBuckets,
		}, []string{"route"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "comments_cache_lookups_total", Help: "Keys looked up in the cache, by result (hit or miss); the hit ratio is hit / (hit + miss).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.queries, m.cacheReqs, m.lookups,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe records one finished request.
func (m *metrics) observe(route string, code int, d time.Duration, st *Stats) {
	queries, cacheReqs, hits, misses := st.counts()
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
	m.queries.WithLabelValues(route).Observe(float64(queries))
	m.cacheReqs.WithLabelValues(route).Observe(float64(cacheReqs))
	m.lookups.WithLabelValues("hit").Add(float64(hits))
	m.lookups.WithLabelValues("miss").Add(float64(misses))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
