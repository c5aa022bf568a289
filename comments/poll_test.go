// Polling cost: what open widgets cost the cache and the database while a
// thread gets new comments.

package comments

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPollingCost runs 1,000 widgets polling one thread (one round = one
// poll interval, 3 s in widget.js): each reads the thread (warm: one cache
// request) and re-reads the page only when the generation moved. One
// reply lands per round. The database sees a handful of queries per round
// whatever the number of widgets; the cache sees one request per widget
// per round plus three per widget per change.
func TestPollingCost(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 simulated widgets: skipped with -short")
	}
	t.Parallel()
	const widgets, workers = 1000, 8
	e := newEnv(t, "sqlite", Options{})
	th := e.thread(t, "polled")
	e.fill(t, th.ID, 60, 7)
	seen := make([]int64, widgets)
	busy := pollRounds(t, e, th.ID, seen, 4, workers, true)
	quiet := pollRounds(t, e, th.ID, seen, 2, workers, false)
	t.Logf("%d widgets polling every 3 s: with a new comment every 3 s %s; with none %s", widgets, busy, quiet)
}

// pollRounds runs rounds of every widget polling once, with a reply
// before each round when replies is set, and reports the cost per second.
func pollRounds(t *testing.T, e *env, thread int64, seen []int64, rounds, workers int, replies bool) string {
	t.Helper()
	const interval = 3.0 // seconds, widget.js's default
	var queries, cacheOps, pageReads atomic.Int64
	for round := range rounds {
		if replies {
			if _, err := e.svc.CreatePost(context.Background(), thread, NewPost{Author: "poster", Message: fmt.Sprintf("round %d", round)}); err != nil {
				t.Fatal(err)
			}
		}
		var roundQueries atomic.Int64
		var wg sync.WaitGroup
		next := make(chan int)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for w := range next {
					ctx, st := WithStats(context.Background())
					if err := pollOnce(ctx, e.svc, thread, &seen[w], &pageReads); err != nil {
						t.Error(err)
					}
					queries.Add(int64(len(st.Queries())))
					roundQueries.Add(int64(len(st.Queries())))
					cacheOps.Add(int64(len(st.CacheOps())))
				}
			}()
		}
		for w := range seen {
			next <- w
		}
		close(next)
		wg.Wait()
		// Until the first reader refills them, each concurrent reader may
		// read the thread (1 query) and the page (3) cold.
		if q, most := roundQueries.Load(), int64(4*workers); q > most {
			t.Errorf("round %d: %d database queries for %d widgets; want at most %d (the cold reads of the first readers, not one per widget)", round, q, len(seen), most)
		}
	}
	secs := float64(rounds) * interval
	return fmt.Sprintf("%.0f cache requests/s and %.1f DB queries/s (%d page re-reads in %d polls)",
		float64(cacheOps.Load())/secs, float64(queries.Load())/secs, pageReads.Load(), len(seen)*rounds)
}

// pollOnce is one poll of widget.js: the thread, then the page if the
// generation moved past what the widget shows.
func pollOnce(ctx context.Context, s *Service, thread int64, shown *int64, pageReads *atomic.Int64) error {
	th, err := s.Thread(ctx, thread)
	if err != nil || th.Gen <= *shown {
		return err
	}
	pageReads.Add(1)
	p, err := s.ThreadPage(ctx, thread, 1, Newest, th.Gen)
	if err == nil {
		*shown = p.Thread.Gen
	}
	return err
}
