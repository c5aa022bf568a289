// Read path tests: query and cache request counts, cold and warm.

package comments

import (
	"context"
	"fmt"
	"testing"
)

func TestWarmPageCostsNoQueries(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		th := e.thread(t, "warm")
		e.fill(t, th.ID, 120, 17)
		for _, order := range []Order{Newest, Oldest} {
			var page *Page
			cold := counted(func(ctx context.Context) { page = mustPage(t, e, ctx, th.ID, 1, order) })
			assertQueryCount(t, cold, 3)
			if len(page.Posts) != 50 {
				t.Fatalf("%s page 1: got %d posts; want 50", order, len(page.Posts))
			}
			warm := counted(func(ctx context.Context) { page = mustPage(t, e, ctx, th.ID, 1, order) })
			assertQueryCount(t, warm, 0)
			assertCacheOps(t, warm, 3)
			if len(page.Posts) != 50 || page.Posts[0].Author == nil {
				t.Fatalf("warm %s page 1: got %d posts (first author %v); want 50 with authors", order, len(page.Posts), page.Posts[0].Author)
			}
		}
	})
}

func TestColdPageQueriesDoNotGrowWithPageSize(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		for _, size := range []int{1, 10, 50, 200} {
			th := e.thread(t, fmt.Sprintf("size-%d", size))
			e.fill(t, th.ID, size+3, size/2+1)
			sized := e.withService(t, Options{PageSize: size})
			var page *Page
			st := counted(func(ctx context.Context) { page = mustPage(t, sized, ctx, th.ID, 1, Oldest) })
			assertQueryCount(t, st, 3)
			if len(page.Posts) != size {
				t.Errorf("size %d: got %d posts; want %d", size, len(page.Posts), size)
			}
		}
	})
}

func TestPageOrderAndAuthors(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		th := e.thread(t, "order")
		replies := e.fill(t, th.ID, 7, 3)
		small := e.withService(t, Options{PageSize: 3})
		ctx := context.Background()
		got := ids(mustPage(t, small, ctx, th.ID, 1, Newest))
		want := []int64{replies[6].ID, replies[5].ID, replies[4].ID}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("newest page 1: got %v; want %v", got, want)
		}
		got = ids(mustPage(t, small, ctx, th.ID, 3, Oldest))
		if want = []int64{replies[6].ID}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("oldest page 3: got %v; want %v", got, want)
		}
		for _, p := range mustPage(t, small, ctx, th.ID, 2, Oldest).Posts {
			if want := fmt.Sprintf("user%d", (p.ID-replies[0].ID)%3); p.Author.Name != want {
				t.Errorf("post %d author: got %q; want %q", p.ID, p.Author.Name, want)
			}
		}
	})
}

func TestThreadPageNotFound(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		_, err := e.svc.ThreadPage(context.Background(), 999, 1, Newest, 0)
		if err == nil {
			t.Fatal("page of a missing thread: got no error; want ErrNotFound")
		}
	})
}

func mustPage(t *testing.T, e *env, ctx context.Context, thread int64, n int, order Order) *Page {
	t.Helper()
	p, err := e.svc.ThreadPage(ctx, thread, n, order, 0)
	if err != nil {
		t.Fatalf("ThreadPage(%d, %d, %s): %v", thread, n, order, err)
	}
	return p
}

func ids(p *Page) []int64 {
	out := make([]int64, len(p.Posts))
	for i, v := range p.Posts {
		out[i] = v.ID
	}
	return out
}

// TestColdPageWriteBackIsBatched: a cold 50-post page by 40 authors
// writes its posts and users back in one pipelined request each (quiet
// meta sets and a no-op), not one set per object, and the next read is
// warm.
func TestColdPageWriteBackIsBatched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", Options{})
	unbatched := &Cache{mc: e.cache.mc, log: quietLogger()} // one set per object
	one := newService(t, Options{Store: e.store, Cache: unbatched, Logger: quietLogger()})
	var cost [2]int
	for i, svc := range []*Service{one, e.svc} {
		th := e.thread(t, fmt.Sprintf("cold-%d", i))
		e.fill(t, th.ID, 50, 40)
		cold := counted(func(ctx context.Context) {
			if _, err := svc.ThreadPage(ctx, th.ID, 1, Newest, 0); err != nil {
				t.Fatal(err)
			}
		})
		cost[i] = len(cold.CacheOps())
		warm := counted(func(ctx context.Context) { mustPage(t, e, ctx, th.ID, 1, Newest) })
		assertQueryCount(t, warm, 0)
		assertCacheOps(t, warm, 3)
	}
	t.Logf("cache requests for a cold 50-post page by 40 authors: %d with one set per object, %d batched", cost[0], cost[1])
	if cost[1] > 10 {
		t.Errorf("batched cold page: got %d cache requests; want at most 10", cost[1])
	}
}

// TestKeysetPagesMatchNumbered: walking a thread by cursors gives the
// pages numbered pages give, in both orders, and a cursor page is cached
// like a numbered one.
func TestKeysetPagesMatchNumbered(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		th := e.thread(t, "keyset")
		e.fill(t, th.ID, 23, 4)
		small := e.withService(t, Options{PageSize: 5})
		ctx := context.Background()
		for _, order := range []Order{Newest, Oldest} {
			first := mustPage(t, small, ctx, th.ID, 1, order)
			next, n := first.Next, 1
			for next != "" {
				n++
				c, err := ParseCursor(next)
				if err != nil {
					t.Fatal(err)
				}
				byCursor, err := small.svc.ThreadPageAfter(ctx, th.ID, c, order, 0)
				if err != nil {
					t.Fatal(err)
				}
				if want := ids(mustPage(t, small, ctx, th.ID, n, order)); fmt.Sprint(ids(byCursor)) != fmt.Sprint(want) {
					t.Errorf("%s page %d: got %v after cursor %s; want %v", order, n, ids(byCursor), next, want)
				}
				warm := counted(func(ctx context.Context) { small.svc.ThreadPageAfter(ctx, th.ID, c, order, 0) })
				assertQueryCount(t, warm, 0)
				assertCacheOps(t, warm, 3)
				next = byCursor.Next
			}
			if n != 5 {
				t.Errorf("%s: walked %d pages by cursor; want 5 (23 posts, 5 a page)", order, n)
			}
		}
		if _, err := ParseCursor("12.x"); err == nil {
			t.Error("ParseCursor(12.x): got no error")
		}
	})
}
