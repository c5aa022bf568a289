// Seed tests: consistent counts, reply trees inside threads, and a store
// that keeps working (ids, caching) after seeding.

package comments

import (
	"context"
	"testing"
)

func TestSeed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		rep, err := e.store.Seed(ctx, SeedOptions{Posts: 3000, Threads: 40, Users: 50})
		if err != nil {
			t.Fatalf("Seed: %v", err)
		}
		if rep.Posts != 3000 || rep.Threads != 40 {
			t.Errorf("report: got %+v; want 3000 posts in 40 threads", rep)
		}
		db := e.store.DB()
		var bad, posts, replies, topCount int64
		var top int64
		check := func(q string, dest ...any) {
			t.Helper()
			if err := db.QueryRowContext(ctx, q).Scan(dest...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		check(`SELECT COUNT(*) FROM threads t WHERE post_count <> (SELECT COUNT(*) FROM posts p WHERE p.thread_id = t.id)`, &bad)
		check(`SELECT COUNT(*), COUNT(parent_id) FROM posts`, &posts, &replies)
		if bad != 0 || posts != 3000 || replies < 1000 {
			t.Errorf("got %d threads with a wrong post_count, %d posts, %d replies; want 0, 3000, about half", bad, posts, replies)
		}
		check(`SELECT COUNT(*) FROM posts c JOIN posts p ON p.id = c.parent_id WHERE p.thread_id <> c.thread_id OR p.id >= c.id`, &bad)
		if bad != 0 {
			t.Errorf("%d replies to a post of another thread or a later post", bad)
		}
		check(`SELECT id, post_count FROM threads ORDER BY post_count DESC, id LIMIT 1`, &top, &topCount)
		if topCount < 3000/40*3 {
			t.Errorf("most popular thread has %d posts; want a Zipf head (> %d)", topCount, 3000/40*3)
		}
		page := mustPage(t, e, ctx, top, 2, Newest)
		if len(page.Posts) != 50 || page.Posts[0].Author == nil {
			t.Errorf("page 2 of the top thread: got %d posts; want 50 with authors", len(page.Posts))
		}
		if _, err := e.svc.CreatePost(ctx, top, NewPost{Author: "after-seed", Message: "still works"}); err != nil {
			t.Errorf("CreatePost after seeding: %v", err)
		}
	})
}

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://bob:hunter2@db:5432/c?sslmode=disable": "postgres://bob:xxxxx@db:5432/c?sslmode=disable",
		"postgres:///c?host=/tmp/pg&password=hunter2":      "postgres:///c?host=%2Ftmp%2Fpg&password=xxxxx",
		"postgres://bob@db/c":                              "postgres://bob@db/c",
	} {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q): got %q; want %q", in, got, want)
		}
	}
}
