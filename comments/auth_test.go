// Auth tests: forged, expired and replayed login tokens, forged sessions,
// and impersonation (author spoofing, editing and deleting others' posts).

package comments

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// login signs l (forum "site", issued now, 5 minutes' life unless set)
// with the test site's secret and exchanges it for a session.
func (c *client) login(l Login) *SessionToken {
	c.t.Helper()
	var s SessionToken
	c.do("POST", "/api/login", map[string]string{"token": signLogin(l, siteSecret)}, 200, &s)
	return &s
}

func signLogin(l Login, secret []byte) string {
	if l.Forum == "" {
		l.Forum = "site"
	}
	if l.IssuedAt == 0 {
		l.IssuedAt = time.Now().Unix()
	}
	if l.Expires == 0 {
		l.Expires = l.IssuedAt + 300
	}
	return Sign(secret, l)
}

func TestLoginRefusesBadTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", Options{})
	c := e.serve(t)
	now := time.Now().Unix()
	good := signLogin(Login{ID: "u1", Name: "ada"}, siteSecret)
	body, sig, _ := strings.Cut(good, ".")
	tampered := Sign([]byte("attacker"), Login{Forum: "site", ID: "u1", Name: "ada", Moderator: true, IssuedAt: now, Expires: now + 60})
	_, forgedSig, _ := strings.Cut(tampered, ".")
	promoted, _, _ := strings.Cut(Sign(siteSecret, Login{Forum: "site", ID: "u1", Name: "ada", Moderator: true, IssuedAt: now, Expires: now + 60}), ".")
	for name, token := range map[string]string{
		"wrong secret":       tampered,
		"payload swapped":    promoted + "." + sig,
		"signature of other": body + "." + forgedSig,
		"no signature":       body,
		"not base64":         "!!!.???",
		"unknown site":       signLogin(Login{Forum: "elsewhere", ID: "u1", Name: "ada"}, siteSecret),
		"expired":            signLogin(Login{ID: "u1", Name: "ada", IssuedAt: now - 120, Expires: now - 60}, siteSecret),
		"issued in future":   signLogin(Login{ID: "u1", Name: "ada", IssuedAt: now + 3600, Expires: now + 3700}, siteSecret),
		"lives too long":     signLogin(Login{ID: "u1", Name: "ada", IssuedAt: now, Expires: now + 86400}, siteSecret),
		"oversized":          strings.Repeat("a", maxToken) + "." + sig,
		"session as a login": c.login(Login{ID: "u2", Name: "bo"}).Token,
	} {
		t.Run(name, func(t *testing.T) {
			c.do("POST", "/api/login", map[string]string{"token": token}, 401, nil)
		})
	}
	c.do("POST", "/api/login", map[string]string{"token": signLogin(Login{Name: "ada"}, siteSecret)}, 400, nil) // no user id
	c.do("POST", "/api/login", map[string]string{"token": good}, 200, nil)
	c.do("POST", "/api/login", map[string]string{"token": good}, 401, nil) // replayed
}

func TestSessionRefusesForgery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", Options{})
	c := e.serve(t)
	th := e.thread(t, "s")
	s := c.login(Login{ID: "u1", Name: "ada"})
	exp := time.Now().Add(time.Hour).Unix()
	for name, token := range map[string]string{
		"signed by the site key": Sign(siteSecret, Identity{User: s.User.ID, Forum: e.forum.ID, Moderator: true, Expires: exp}),
		"expired":                Sign(e.svc.keys.Session, Identity{User: s.User.ID, Forum: e.forum.ID, Expires: time.Now().Add(-time.Second).Unix()}),
		"garbage":                "x.y",
	} {
		t.Run(name, func(t *testing.T) {
			c.as(token).do("POST", fmt.Sprintf("/api/threads/%d/posts", th.ID), NewPost{Message: "hi"}, 401, nil)
		})
	}
	// Another instance with another session key does not take this one's sessions.
	other := e.withService(t, Options{})
	if _, err := other.svc.Session(s.Token); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("session of another key: got %v; want ErrUnauthenticated", err)
	}
}

func TestImpersonation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		c := e.serve(t)
		th := e.thread(t, "imp")
		posts := fmt.Sprintf("/api/threads/%d/posts", th.ID)
		grace := c.login(Login{ID: "g-91", Name: "grace91"})
		ada := c.login(Login{ID: "a-1", Name: "ada"})
		var gp, spoof, guest Reply
		c.as(grace.Token).do("POST", posts, NewPost{Message: "grace's own"}, 201, &gp)
		c.as(ada.Token).do("POST", posts, NewPost{Author: "grace91", Message: "ada spoofing"}, 201, &spoof)
		c.do("POST", posts, NewPost{Author: "grace91", Message: "guest spoofing"}, 201, &guest)
		if gp.AuthorID != grace.User.ID || gp.Author.Guest {
			t.Errorf("grace's post: author %d guest %v; want %d, registered", gp.AuthorID, gp.Author.Guest, grace.User.ID)
		}
		if spoof.AuthorID != ada.User.ID || spoof.Author.Name != "ada" {
			t.Errorf("signed-in post with author field grace91: got author %d %q; want ada (%d)", spoof.AuthorID, spoof.Author.Name, ada.User.ID)
		}
		if guest.AuthorID == grace.User.ID || !guest.Author.Guest || guest.Author.Name != "grace91" {
			t.Errorf("guest named grace91: got author %d guest %v; want a guest user, not %d", guest.AuthorID, guest.Author.Guest, grace.User.ID)
		}
		edit := fmt.Sprintf("/api/posts/%d", gp.ID)
		c.do("PATCH", edit, map[string]string{"message": "guest edit"}, 401, nil)
		c.do("DELETE", edit, nil, 401, nil)
		c.as(ada.Token).do("PATCH", edit, map[string]string{"message": "ada edit"}, 403, nil)
		c.as(ada.Token).do("DELETE", edit, nil, 403, nil)
		c.as(ada.Token).do("POST", edit+"/approve", nil, 403, nil)
		c.do("PATCH", fmt.Sprintf("/api/posts/%d", guest.ID), map[string]string{"message": "guest edits guest"}, 401, nil)

		other, err := e.svc.CreateForum(context.Background(), "other", "Other", false)
		if err != nil {
			t.Fatal(err)
		}
		var elsewhere SessionToken
		c.do("POST", "/api/login", map[string]string{"token": signLogin(Login{Forum: other.Slug, ID: "m", Name: "boss", Moderator: true}, otherSecret)}, 200, &elsewhere)
		c.as(elsewhere.Token).do("DELETE", edit, nil, 403, nil)                  // a moderator elsewhere
		c.as(elsewhere.Token).do("POST", posts, NewPost{Message: "x"}, 403, nil) // a user of another site

		var edited Post
		c.as(grace.Token).do("PATCH", edit, map[string]string{"message": "grace, edited"}, 200, &edited)
		if edited.Edited == nil || edited.Message != "grace, edited" {
			t.Errorf("author's edit: got %+v; want the new message, marked edited", edited)
		}
		mod := c.login(Login{ID: "m-1", Name: "mo", Moderator: true})
		c.as(mod.Token).do("DELETE", fmt.Sprintf("/api/posts/%d", spoof.ID), nil, 200, nil)
		var page Page
		c.do("GET", posts+"?order=oldest", nil, 200, &page)
		if len(page.Posts) != 2 || page.Posts[0].Message != "grace, edited" || page.Posts[0].Edited == nil {
			t.Errorf("page: got %+v; want grace's edited post and the guest's", page.Posts)
		}
	})
}

func TestReplayCacheIsBounded(t *testing.T) {
	t.Parallel()
	rc := newReplayCache(2)
	now := time.Unix(1000, 0)
	exp := now.Add(time.Minute)
	for _, sig := range []string{"a", "b"} {
		if err := rc.use(sig, exp, now); err != nil {
			t.Fatalf("use %s: %v", sig, err)
		}
	}
	if err := rc.use("a", exp, now); !errors.Is(err, ErrReplayed) {
		t.Errorf("replay: got %v; want ErrReplayed", err)
	}
	if err := rc.use("c", exp, now); !errors.Is(err, ErrBusy) {
		t.Errorf("full of live entries: got %v; want ErrBusy", err)
	}
	if err := rc.use("c", exp, exp); err != nil || len(rc.seen) != 1 {
		t.Errorf("after expiry: got %v with %d entries; want room again, 1 entry", err, len(rc.seen))
	}
}

func TestWildcardSiteSecret(t *testing.T) {
	t.Parallel()
	wild := []byte("one-secret-for-every-forum")
	e := newEnv(t, "sqlite", Options{Keys: &Keys{Sites: map[string][]byte{"*": wild, "other": otherSecret}}})
	c := e.serve(t)
	var s SessionToken
	c.do("POST", "/api/login", map[string]string{"token": signLogin(Login{ID: "w", Name: "wanda"}, wild)}, 200, &s)
	c.do("POST", "/api/login", map[string]string{"token": signLogin(Login{Forum: "other", ID: "w", Name: "wanda"}, wild)}, 401, nil) // other has its own secret
	if _, err := e.svc.Session(s.Token); err != nil {
		t.Errorf("session from the * secret: %v", err)
	}
}
