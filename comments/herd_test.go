// Herd tests: the service behind a shepherd whose herd rule for thread:
// keys serves stale values and refills them from GET /cache/fill.

package comments

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// newHerdEnv is newEnv with a herd rule on "thread:" whose origin is the
// service's own /cache/fill, and the service in HerdFills mode.
func newHerdEnv(t *testing.T, kind string) *env {
	t.Helper()
	e := &env{store: openStore(t, kind)}
	web := httptest.NewUnstartedServer(nil)
	t.Cleanup(web.Close)
	origin := "http://" + web.Listener.Addr().String() + "/cache/fill?key={key}"
	e.mcAddr = startShepherd(t, mctest.StartN(t, 3), func(c *proxy.Config) {
		c.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "thread:", Origin: origin, Hold: 2 * time.Second}}}
	})
	e.cache = NewCache(quietLogger(), e.mcAddr)
	t.Cleanup(func() { e.cache.Close() })
	e.svc = newService(t, Options{Store: e.store, Cache: e.cache, Logger: quietLogger(), HerdFills: true})
	web.Config.Handler = e.svc.Handler()
	web.Start()
	f, err := e.svc.CreateForum(context.Background(), "site", "A Site", false)
	if err != nil {
		t.Fatal(err)
	}
	e.forum = f
	return e
}

func forEachHerdStore(t *testing.T, body func(t *testing.T, e *env)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			body(t, newHerdEnv(t, kind))
		})
	}
}

// TestHerdReadYourWritesWithToken: under stale serving a writer reads its
// reply by passing the Gen the reply returned.
func TestHerdReadYourWritesWithToken(t *testing.T) {
	t.Parallel()
	forEachHerdStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		th := e.thread(t, "herd")
		e.fill(t, th.ID, 60, 7)
		mustPage(t, e, ctx, th.ID, 1, Newest)
		for i := range 20 {
			r, err := e.svc.CreatePost(ctx, th.ID, NewPost{Author: "writer", Message: fmt.Sprintf("herd reply %d", i)})
			if err != nil {
				t.Fatal(err)
			}
			page, err := e.svc.ThreadPage(ctx, th.ID, 1, Newest, r.Gen)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Posts) == 0 || page.Posts[0].ID != r.ID {
				t.Fatalf("reply %d: newest post on page 1 is not the reply %d (gen %d, page gen %d)", i, r.ID, r.Gen, page.Thread.Gen)
			}
		}
	})
}

// TestHerdRefillsKeepReadersOffTheDatabase: after a reply invalidates the
// thread and its first page, shepherd refills both from /cache/fill, and
// a later reader gets the new page without touching the database.
func TestHerdRefillsKeepReadersOffTheDatabase(t *testing.T) {
	t.Parallel()
	forEachHerdStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		th := e.thread(t, "refill")
		e.fill(t, th.ID, 60, 7)
		cold := counted(func(ctx context.Context) { mustPage(t, e, ctx, th.ID, 1, Newest) })
		assertQueryCount(t, cold, 3)
		r, err := e.svc.CreatePost(ctx, th.ID, NewPost{Author: "writer", Message: "refilled"})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			var page *Page
			st := counted(func(ctx context.Context) { page = mustPage(t, e, ctx, th.ID, 1, Newest) })
			fresh := len(page.Posts) > 0 && page.Posts[0].ID == r.ID
			if fresh && len(st.Queries()) <= 2 { // the new post and its author are not cached yet
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no refilled page within 5s: fresh %v, queries:\n\t%q", fresh, st.Queries())
			}
			time.Sleep(20 * time.Millisecond)
		}
		warm := counted(func(ctx context.Context) { mustPage(t, e, ctx, th.ID, 1, Newest) })
		assertQueryCount(t, warm, 0)
		assertCacheOps(t, warm, 3)
	})
}

// TestHerdFillEndpointAnswers404: shepherd's origin gets a 404 for a
// thread that does not exist, and the reader an ErrNotFound.
func TestHerdFillEndpointAnswers404(t *testing.T) {
	t.Parallel()
	e := newHerdEnv(t, "sqlite")
	if _, err := e.svc.ThreadPage(context.Background(), 12345, 1, Newest, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("page of a missing thread under herd: got %v; want ErrNotFound", err)
	}
}
