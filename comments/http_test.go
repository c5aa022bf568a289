// HTTP tests: the JSON API end to end, its cost headers, the fill endpoint.

package comments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// client talks to a service over loopback HTTP.
type client struct {
	t       *testing.T
	base    string
	session string // sent as a bearer token when set
}

// as returns a client that sends session.
func (c *client) as(session string) *client {
	cc := *c
	cc.session = session
	return &cc
}

func (e *env) serve(t *testing.T) *client {
	srv := httptest.NewServer(e.svc.Handler())
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL}
}

// do sends a request and decodes a JSON answer into out (when non-nil).
func (c *client) do(method, path string, body any, wantStatus int, out any) http.Header {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.session != "" {
		req.Header.Set("Authorization", "Bearer "+c.session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		c.t.Fatalf("%s %s: got status %d (%s); want %d", method, path, resp.StatusCode, raw, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.Header
}

func TestAPI(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		c := e.serve(t)
		var forums []Forum
		c.do("GET", "/api/forums", nil, 200, &forums)
		if len(forums) != 1 || forums[0].Slug != "site" {
			t.Fatalf("forums: got %+v; want the one forum", forums)
		}
		var th Thread
		c.do("POST", "/api/threads", NewThread{Forum: e.forum.ID, Slug: "hello", URL: "https://example.com/hello", Title: "Hello"}, 201, &th)
		c.do("GET", fmt.Sprintf("/api/threads/%d", th.ID), nil, 200, &th)
		ann := c.as(c.login(Login{ID: "u-ann", Name: "ann"}).Token)
		mod := c.as(c.login(Login{ID: "u-mod", Name: "mo", Moderator: true}).Token)
		var r Reply
		ann.do("POST", fmt.Sprintf("/api/threads/%d/posts", th.ID), NewPost{Message: "first!"}, 201, &r)
		var r2 Reply
		c.do("POST", fmt.Sprintf("/api/threads/%d/posts", th.ID), NewPost{Author: "bo", Message: "reply", Parent: r.ID}, 201, &r2)
		var edited, approved, deleted Post
		ann.do("PATCH", fmt.Sprintf("/api/posts/%d", r.ID), map[string]string{"message": "first, edited"}, 200, &edited)
		mod.do("POST", fmt.Sprintf("/api/posts/%d/approve", r.ID), nil, 200, &approved)
		mod.do("DELETE", fmt.Sprintf("/api/posts/%d", r2.ID), nil, 200, &deleted)
		if edited.Message != "first, edited" || edited.Edited == nil || !approved.Approved || approved.Message != "first, edited" || !deleted.Deleted {
			t.Errorf("edit/approve/delete: got %+v, %+v, %+v", edited, approved, deleted)
		}
		var page Page
		c.do("GET", fmt.Sprintf("/api/threads/%d/posts?order=oldest&page=1&min_gen=%d", th.ID, r2.Gen), nil, 200, &page)
		if len(page.Posts) != 1 || page.Posts[0].Message != "first, edited" || page.Posts[0].Author.Name != "ann" {
			t.Errorf("page after delete: got %+v; want ann's edited post only", page.Posts)
		}
		var u User
		c.do("GET", fmt.Sprintf("/api/users/%d", r.AuthorID), nil, 200, &u)
		if u.Name != "ann" {
			t.Errorf("user %d: got %q; want ann", r.AuthorID, u.Name)
		}
	})
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", Options{})
	c := e.serve(t)
	th := e.thread(t, "x")
	c.do("GET", "/api/threads/999", nil, 404, nil)
	c.do("GET", "/api/threads/abc", nil, 400, nil)
	c.do("GET", fmt.Sprintf("/api/threads/%d/posts?order=sideways", th.ID), nil, 400, nil)
	c.do("GET", fmt.Sprintf("/api/threads/%d/posts?page=0", th.ID), nil, 400, nil)
	c.do("POST", fmt.Sprintf("/api/threads/%d/posts", th.ID), NewPost{Author: "a"}, 400, nil)
	c.do("POST", "/api/threads/999/posts", NewPost{Author: "a", Message: "m"}, 404, nil)
	c.do("POST", "/api/posts/999/approve", nil, 401, nil)
	c.as(c.login(Login{ID: "m", Name: "m", Moderator: true}).Token).do("POST", "/api/posts/999/approve", nil, 404, nil)
	c.do("GET", "/api/users/999", nil, 404, nil)
	c.do("POST", "/api/threads", NewThread{Forum: 999, Slug: "s"}, 404, nil)
}

// TestCostHeaders reads one page cold and warm over HTTP and checks the
// counts the headers report.
func TestCostHeaders(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		c := e.serve(t)
		th := e.thread(t, "headers")
		e.fill(t, th.ID, 50, 9)
		path := fmt.Sprintf("/api/threads/%d/posts", th.ID)
		cold := c.do("GET", path, nil, 200, nil)
		warm := c.do("GET", path, nil, 200, nil)
		if n := headerInt(t, cold, "X-DB-Queries"); n != 3 {
			t.Errorf("cold X-DB-Queries: got %d; want 3", n)
		}
		if n := headerInt(t, warm, "X-DB-Queries"); n != 0 {
			t.Errorf("warm X-DB-Queries: got %d; want 0", n)
		}
		if n := headerInt(t, warm, "X-Cache-Ops"); n > 3 {
			t.Errorf("warm X-Cache-Ops: got %d; want at most 3", n)
		}
		if st := warm.Get("Server-Timing"); !strings.Contains(st, "db;dur=") || !strings.Contains(st, "cache;dur=") {
			t.Errorf("Server-Timing: got %q; want db and cache entries", st)
		}
	})
}

func headerInt(t *testing.T, h http.Header, name string) int {
	t.Helper()
	n, err := strconv.Atoi(h.Get(name))
	if err != nil {
		t.Fatalf("%s: got %q; want a number", name, h.Get(name))
	}
	return n
}

// TestFillMatchesCache: what /cache/fill serves for a key is what the
// read path caches under it.
func TestFillMatchesCache(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		c := e.serve(t)
		th := e.thread(t, "fill")
		replies := e.fill(t, th.ID, 3, 2)
		mustPage(t, e, context.Background(), th.ID, 1, Newest)
		keys := []string{threadKey(th.ID), pageKey(th.ID, 1, Newest), postKey(replies[0].ID), userKey(replies[1].AuthorID)}
		cached := e.cache.getMulti(context.Background(), keys)
		for _, k := range keys {
			resp, err := http.Get(c.base + "/cache/fill?key=" + k)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if cached[k] == nil {
				t.Fatalf("%s not cached after a page read", k)
			}
			if resp.StatusCode != 200 || !bytes.Equal(body, cached[k].Value) {
				t.Errorf("fill %s: got %d %q; want 200 %q", k, resp.StatusCode, body, cached[k].Value)
			}
		}
		c.do("GET", "/cache/fill?key=post:99999", nil, 404, nil)
		c.do("GET", "/cache/fill?key=thread:99999:page:1:newest", nil, 404, nil)
		c.do("GET", "/cache/fill?key=bogus", nil, 400, nil)
	})
}

func TestEmbedRenders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", Options{})
	c := e.serve(t)
	th := e.thread(t, "embed")
	e.svc.CreatePost(context.Background(), th.ID, NewPost{Author: "<b>mallory</b>", Message: "<script>alert(1)</script>"})
	resp, err := http.Get(fmt.Sprintf("%s/embed/%d", c.base, th.ID))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-DB-Queries") == "" {
		t.Fatalf("embed: got %d with X-DB-Queries %q", resp.StatusCode, resp.Header.Get("X-DB-Queries"))
	}
	if bytes.Contains(body, []byte("<script>alert")) || !bytes.Contains(body, []byte("&lt;script&gt;alert(1)")) {
		t.Errorf("embed: message not escaped:\n%s", body)
	}
	c.do("GET", "/embed/999", nil, 404, nil)
}
