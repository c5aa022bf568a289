// Stats: per-request counts and timings of database queries and cache
// requests, reported in X-DB-Queries, X-Cache-Ops and Server-Timing.

package comments

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Stats counts what one request cost. It is safe for concurrent use (a
// request writes back cache entries from several goroutines); a nil *Stats
// records nothing.
type Stats struct {
	mu        sync.Mutex // guards the fields below
	queries   []string
	dbTime    time.Duration
	cacheOps  []string
	cacheTime time.Duration
	hits      int // keys a get found
	misses    int // keys a get did not find (or found a fill lease)
}

type statsKey struct{}

// WithStats returns a context whose queries and cache requests are counted
// in the returned Stats.
func WithStats(ctx context.Context) (context.Context, *Stats) {
	st := &Stats{}
	return context.WithValue(ctx, statsKey{}, st), st
}

func statsFrom(ctx context.Context) *Stats {
	st, _ := ctx.Value(statsKey{}).(*Stats)
	return st
}

func (st *Stats) addQuery(q string, d time.Duration) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.queries = append(st.queries, q)
	st.dbTime += d
}

func (st *Stats) addCacheOp(op string, d time.Duration) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.cacheOps = append(st.cacheOps, op)
	st.cacheTime += d
}

// addLookups counts the keys of a get that hit and missed.
func (st *Stats) addLookups(hits, misses int) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.hits += hits
	st.misses += misses
}

// counts returns how many queries and cache requests were sent and how
// many cache lookups hit and missed.
func (st *Stats) counts() (queries, cacheReqs, hits, misses int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.queries), len(st.cacheOps), st.hits, st.misses
}

// addCacheTime adds wall time spent on requests that ran concurrently
// (and were counted with a zero duration).
func (st *Stats) addCacheTime(d time.Duration) {
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.cacheTime += d
}

// Queries returns the SQL statements sent so far, in order.
func (st *Stats) Queries() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.queries...)
}

// CacheOps returns the cache requests sent so far ("getmulti k1 k2", ...).
func (st *Stats) CacheOps() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.cacheOps...)
}

// WriteHeaders sets X-DB-Queries, X-Cache-Ops and Server-Timing on h.
func (st *Stats) WriteHeaders(h http.Header) {
	st.mu.Lock()
	defer st.mu.Unlock()
	h.Set("X-DB-Queries", strconv.Itoa(len(st.queries)))
	h.Set("X-Cache-Ops", strconv.Itoa(len(st.cacheOps)))
	h.Set("Server-Timing", fmt.Sprintf(`db;dur=%.3f;desc="%d queries", cache;dur=%.3f;desc="%d requests"`,
		ms(st.dbTime), len(st.queries), ms(st.cacheTime), len(st.cacheOps)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
