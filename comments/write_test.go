// Write path tests: concurrent repliers, concurrent moderation and edits,
// deletes, delayed side effects, and fills racing invalidations.

package comments

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConcurrentRepliesReadYourWrites(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		th := e.thread(t, "busy")
		e.fill(t, th.ID, 30, 5)
		mustPage(t, e, context.Background(), th.ID, 1, Oldest) // warm: replies must invalidate it
		const repliers = 100
		var wg sync.WaitGroup
		errs := make(chan error, repliers)
		for i := range repliers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- replyAndFind(e, th.ID, i)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		assertPostCount(t, e, th.ID, 30+repliers)
	})
}

// replyAndFind posts a reply and then reads the thread's pages (oldest
// first, through the cache, without the minGen token) until it finds it.
func replyAndFind(e *env, thread int64, i int) error {
	ctx := context.Background()
	r, err := e.svc.CreatePost(ctx, thread, NewPost{Author: fmt.Sprintf("replier%d", i%13), Message: fmt.Sprintf("reply %d", i)})
	if err != nil {
		return fmt.Errorf("replier %d: %w", i, err)
	}
	for n := 1; ; n++ {
		page, err := e.svc.ThreadPage(ctx, thread, n, Oldest, 0)
		if err != nil {
			return fmt.Errorf("replier %d page %d: %w", i, n, err)
		}
		for _, p := range page.Posts {
			if p.ID == r.ID {
				return nil
			}
		}
		if len(page.Posts) < e.svc.pageSize {
			return fmt.Errorf("replier %d: post %d not on any page (read %d pages, thread gen %d, reply gen %d)", i, r.ID, n, page.Thread.Gen, r.Gen)
		}
	}
}

// assertPostCount checks post_count against the rows, in the database.
func assertPostCount(t *testing.T, e *env, thread int64, want int64) {
	t.Helper()
	var count, rows int64
	db := e.store.DB()
	if err := db.QueryRow(e.store.conn().rebind(`SELECT post_count FROM threads WHERE id = ?`), thread).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(e.store.conn().rebind(`SELECT COUNT(*) FROM posts WHERE thread_id = ? AND NOT deleted`), thread).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if count != rows || rows != want {
		t.Errorf("post_count %d, rows %d; want both %d", count, rows, want)
	}
}

func TestConcurrentApproveAndEdit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		th, posts, author, mod := e.pendingPosts(t, 20)
		if got := mustPage(t, e, ctx, th.ID, 1, Oldest); len(got.Posts) != 0 {
			t.Fatalf("pending posts: got %d on the page; want 0", len(got.Posts))
		}
		var wg sync.WaitGroup
		for i, p := range posts {
			start := make(chan struct{})
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				_, err := e.svc.Approve(ctx, mod, p.ID)
				noError(t, err)
			}()
			go func() {
				defer wg.Done()
				<-start
				_, err := e.svc.Edit(ctx, author, p.ID, fmt.Sprintf("final %d", i))
				noError(t, err)
			}()
			close(start)
		}
		wg.Wait()
		page := mustPage(t, e, ctx, th.ID, 1, Oldest)
		if len(page.Posts) != len(posts) {
			t.Fatalf("after approve+edit: got %d posts on the page; want %d", len(page.Posts), len(posts))
		}
		for i, p := range page.Posts {
			if want := fmt.Sprintf("final %d", i); !p.Approved || p.Message != want || p.Rev != 2 {
				t.Errorf("post %d: got approved %v message %q rev %d; want true %q 2", p.ID, p.Approved, p.Message, p.Rev, want)
			}
		}
	})
}

// pendingPosts makes a thread in a moderated forum with n posts by author
// awaiting approval by mod.
func (e *env) pendingPosts(t *testing.T, n int) (th *Thread, posts []*Reply, author, mod *Identity) {
	t.Helper()
	ctx := context.Background()
	forum, err := e.svc.CreateForum(ctx, "moderated", "Moderated", true)
	if err != nil {
		t.Fatal(err)
	}
	th, err = e.svc.CreateThread(ctx, NewThread{Forum: forum.ID, Slug: "t", Title: "T"})
	if err != nil {
		t.Fatal(err)
	}
	author = e.member(t, forum.ID, "author", false)
	for i := range n {
		r, err := e.svc.CreatePost(ctx, th.ID, NewPost{By: author, Message: fmt.Sprintf("draft %d", i)})
		if err != nil || r.Approved {
			t.Fatalf("CreatePost in a moderated forum: got approved %v, err %v; want pending", r != nil && r.Approved, err)
		}
		posts = append(posts, r)
	}
	return th, posts, author, e.member(t, forum.ID, "mod", true)
}

func noError(t *testing.T, err error) {
	if err != nil {
		t.Error(err)
	}
}

func TestEditShowsThroughWarmCache(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		th := e.thread(t, "edit")
		replies := e.fill(t, th.ID, 5, 2)
		mustPage(t, e, ctx, th.ID, 1, Oldest)
		if _, err := e.svc.Edit(ctx, e.moderator(t), replies[2].ID, "edited"); err != nil {
			t.Fatal(err)
		}
		if got := mustPage(t, e, ctx, th.ID, 1, Oldest).Posts[2].Message; got != "edited" {
			t.Errorf("message after edit: got %q; want %q", got, "edited")
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		th := e.thread(t, "del")
		replies := e.fill(t, th.ID, 4, 2)
		mustPage(t, e, ctx, th.ID, 1, Newest)
		for range 2 { // the second delete changes nothing
			if p, err := e.svc.Delete(ctx, e.moderator(t), replies[1].ID); err != nil || !p.Deleted {
				t.Fatalf("Delete: got %+v, %v; want a deleted post", p, err)
			}
		}
		page := mustPage(t, e, ctx, th.ID, 1, Newest)
		if len(page.Posts) != 3 || page.Thread.PostCount != 3 {
			t.Errorf("after delete: got %d posts, post_count %d; want 3, 3", len(page.Posts), page.Thread.PostCount)
		}
		assertPostCount(t, e, th.ID, 3)
		if _, err := e.svc.Delete(ctx, e.moderator(t), 424242); err == nil {
			t.Error("Delete of a missing post: got no error; want ErrNotFound")
		}
	})
}

func TestReplyNotifiesParentAuthorAfterCommit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		th := e.thread(t, "notify")
		parent := e.fill(t, th.ID, 1, 1)[0]
		var st *Stats
		st = counted(func(ctx context.Context) {
			if _, err := e.svc.CreatePost(ctx, th.ID, NewPost{Parent: parent.ID, Author: "bob", Message: "re"}); err != nil {
				t.Fatal(err)
			}
		})
		for _, q := range st.Queries() {
			if strings.Contains(strings.ToLower(q), "notifications") {
				t.Errorf("the request itself wrote the notification: %q", q)
			}
		}
		e.svc.Drain(time.Second)
		var n int
		err := e.store.DB().QueryRowContext(ctx, e.store.conn().rebind(`SELECT COUNT(*) FROM notifications WHERE user_id = ?`), parent.AuthorID).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("notifications for the parent's author: got %d (%v); want 1", n, err)
		}
		if _, err := e.svc.CreatePost(ctx, th.ID, NewPost{Parent: 999999, Author: "bob", Message: "x"}); err == nil {
			t.Error("reply to a missing parent: got no error")
		}
	})
}

// TestFillLosesToInvalidation forces the race a lease exists for: a reader
// leases a key and reads the database, a writer commits and deletes the
// key, then the reader's fill arrives. The fill must not land.
func TestFillLosesToInvalidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", Options{})
	ctx := context.Background()
	token, ok := e.cache.lease(ctx, "thread:77")
	if !ok {
		t.Fatal("lease on an absent key: got false; want true")
	}
	if _, ok := e.cache.lease(ctx, "thread:77"); ok {
		t.Error("second lease on a leased key: got true; want false")
	}
	if err := e.cache.delete(ctx, "thread:77"); err != nil {
		t.Fatal(err)
	}
	e.cache.fill(ctx, "thread:77", token, []byte(`{"id":77}`), 60)
	if got := e.cache.getMulti(ctx, []string{"thread:77"}); got["thread:77"] != nil {
		t.Errorf("after a fill that lost its lease: got %q cached; want a miss", got["thread:77"].Value)
	}
	token, _ = e.cache.lease(ctx, "thread:77")
	e.cache.fill(ctx, "thread:77", token, []byte(`{"id":77}`), 60)
	if got := e.cache.getMulti(ctx, []string{"thread:77"}); got["thread:77"] == nil {
		t.Error("after a fill holding its lease: got a miss; want the value")
	}
}
