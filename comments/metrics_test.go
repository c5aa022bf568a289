// Metrics test: /metrics counts requests by route and status, and what
// they cost.

package comments

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", Options{})
	c := e.serve(t)
	th := e.thread(t, "metrics")
	e.fill(t, th.ID, 10, 3)
	path := fmt.Sprintf("/api/threads/%d/posts", th.ID)
	c.do("GET", path, nil, 200, nil) // cold
	c.do("GET", path, nil, 200, nil) // warm: 3 cache requests, all hits
	c.do("GET", "/api/threads/999", nil, 404, nil)
	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`comments_http_requests_total{code="200",route="GET /api/threads/{id}/posts"} 2`,
		`comments_http_requests_total{code="404",route="GET /api/threads/{id}"} 1`,
		`comments_http_request_duration_seconds_count{route="GET /api/threads/{id}/posts"} 2`,
		`comments_db_queries_per_request_bucket{route="GET /api/threads/{id}/posts",le="0"} 1`,
		`comments_cache_requests_per_request_bucket{route="GET /api/threads/{id}/posts",le="3"} 1`,
	} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).Match(body) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	hits, misses := metricValue(t, body, `comments_cache_lookups_total{result="hit"}`), metricValue(t, body, `comments_cache_lookups_total{result="miss"}`)
	if hits < 12 || misses < 1 { // the warm read alone hits 2 + 10 posts + 3 users
		t.Errorf("cache lookups: got %v hits, %v misses; want the warm read's hits and the cold read's misses", hits, misses)
	}
}

func metricValue(t *testing.T, body []byte, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\S+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics lacks %s", series)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
