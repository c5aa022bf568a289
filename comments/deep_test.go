// Deep pages: page 10,000 of a big thread read by number (OFFSET) and by
// cursor (keyset), against a database seeded beforehand.

package comments

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// TestDeepPageCost needs SHEPHERD_COMMENTS_DEEP_DB, a database seeded with
// one big thread, e.g.
//
//	comments seed --posts 1000000 --threads 1 --forums 1 --db sqlite:/tmp/deep1m/comments.db
//	SHEPHERD_COMMENTS_DEEP_DB=sqlite:/tmp/deep1m/comments.db go test -run TestDeepPageCost -v ./comments/
//
// SHEPHERD_COMMENTS_DEEP_DB=postgres seeds the same thread into the
// tests' throwaway PostgreSQL first (about a minute).
//
// It reads page 1 and page 10,000 (newest order, 50 a page) cold from the
// database, by number and by cursor, and logs the median of 5 reads.
func TestDeepPageCost(t *testing.T) {
	dsn := os.Getenv("SHEPHERD_COMMENTS_DEEP_DB")
	if dsn == "" {
		t.Skip("SHEPHERD_COMMENTS_DEEP_DB not set: needs a seeded database (see the comment)")
	}
	ctx := context.Background()
	var st *Store
	if dsn == "postgres" {
		st = openStore(t, "postgres")
		began := time.Now()
		if _, err := st.Seed(ctx, SeedOptions{Posts: 1000000, Threads: 1, Forums: 1}); err != nil {
			t.Fatal(err)
		}
		t.Logf("seeded 1,000,000 posts in one thread in %v", time.Since(began).Round(time.Second))
	} else {
		var err error
		if st, err = Open(ctx, dsn); err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	top, err := st.TopThreads(ctx, 1)
	if err != nil || len(top) == 0 {
		t.Fatalf("TopThreads: %v %v", top, err)
	}
	thread, size, deep := top[0], DefaultPageSize, 10000
	var c Cursor
	err = st.conn().one(ctx, `SELECT created, id FROM posts WHERE thread_id = ? AND approved AND NOT deleted
		ORDER BY created DESC, id DESC LIMIT 1 OFFSET ?`, []any{thread, (deep-1)*size - 1}, &c.Created, &c.ID)
	if err != nil {
		t.Fatalf("cursor before page %d: %v", deep, err)
	}
	read := func(at pageAt) (time.Duration, []postRef) {
		var times []time.Duration
		var refs []postRef
		for range 5 {
			start := time.Now()
			_, refs, err = st.threadPage(ctx, thread, at, size, Newest)
			if err != nil {
				t.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		return times[2], refs
	}
	first, _ := read(pageAt{N: 1})
	offset, byNumber := read(pageAt{N: deep})
	keyset, byCursor := read(pageAt{After: &c})
	if fmt.Sprint(byNumber) != fmt.Sprint(byCursor) || len(byCursor) != size {
		t.Errorf("page %d: by number %d posts, by cursor %d, differ: %v", deep, len(byNumber), len(byCursor), fmt.Sprint(byNumber) != fmt.Sprint(byCursor))
	}
	t.Logf("%s, thread %d: page 1 %v; page %d by number (OFFSET %d) %v; by cursor %v", st, thread, first, deep, (deep-1)*size, offset, keyset)
}
