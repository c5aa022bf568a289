// Write path: each write is one transaction of atomic updates (never a
// read-modify-write), then plain deletes of the keys it changed, then
// low-priority side effects on the delayed-work queue.

package comments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Limits on what clients write.
const (
	maxMessage = 10000
	maxName    = 100
	maxSlug    = 200
)

// errUnchanged: a conditional update matched no row (a post deleted twice).
var errUnchanged = errors.New("comments: unchanged")

// NewThread is what CreateThread needs.
type NewThread struct {
	Forum int64  `json:"forum"`
	Slug  string `json:"slug"`
	URL   string `json:"url"`
	Title string `json:"title"`
}

// NewPost is a reply, by By when signed in. Without a sign-in (By nil)
// it is a guest's post and Author the name the guest typed: guests are
// users of their own ("guest:NAME"), marked as guests, and never resolve
// to a signed-in user of the same name. Parent is the post replied to or 0.
type NewPost struct {
	Parent  int64     `json:"parent"`
	Author  string    `json:"author"`
	Message string    `json:"message"`
	By      *Identity `json:"-"`
}

// Reply is a created post with its author and the thread generation after
// it: reading the thread with minGen = Gen is guaranteed to show the post.
type Reply struct {
	*PostView
	Gen       int64 `json:"gen"`
	PostCount int64 `json:"post_count"`
}

// CreateForum creates a forum, or returns the one with that slug.
func (s *Service) CreateForum(ctx context.Context, slug, name string, moderated bool) (*Forum, error) {
	if err := checkText(slug, maxSlug); err != nil {
		return nil, err
	}
	f := &Forum{Slug: slug, Name: name, Moderated: moderated}
	var created int64
	err := s.store.conn().one(ctx, `INSERT INTO forums (slug, name, moderated, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (slug) DO UPDATE SET slug = excluded.slug RETURNING id, name, moderated, created`,
		[]any{slug, name, moderated, micros(s.now())}, &f.ID, &f.Name, &f.Moderated, &created)
	f.Created = fromMicros(created)
	return f, err
}

// CreateThread creates a thread, or returns the forum's thread with that
// slug (a widget creates its thread on first load).
func (s *Service) CreateThread(ctx context.Context, nt NewThread) (*Thread, error) {
	if err := checkText(nt.Slug, maxSlug); err != nil {
		return nil, err
	}
	th := &Thread{}
	var created int64
	err := s.store.conn().one(ctx, `INSERT INTO threads (forum_id, slug, url, title, created)
		SELECT id, ?, ?, ?, ? FROM forums WHERE id = ?
		ON CONFLICT (forum_id, slug) DO UPDATE SET slug = excluded.slug
		RETURNING id, forum_id, slug, url, title, post_count, gen, created`,
		[]any{nt.Slug, nt.URL, nt.Title, micros(s.now()), nt.Forum},
		&th.ID, &th.ForumID, &th.Slug, &th.URL, &th.Title, &th.PostCount, &th.Gen, &created)
	if err != nil {
		return nil, fmt.Errorf("forum %d: %w", nt.Forum, err)
	}
	th.Created = fromMicros(created)
	return th, nil
}

// CreatePost adds a reply to a thread: the post and the thread's
// post_count = post_count + 1 in one transaction, then the thread is
// invalidated and the parent's author notified from the queue.
func (s *Service) CreatePost(ctx context.Context, thread int64, np NewPost) (*Reply, error) {
	if err := checkNewPost(np); err != nil {
		return nil, err
	}
	r := &Reply{PostView: &PostView{Post: &Post{ThreadID: thread, ParentID: np.Parent, Message: np.Message}}}
	var notify int64
	err := s.store.tx(ctx, func(c conn) (err error) {
		if r.Author, err = s.author(ctx, c, np); err != nil {
			return err
		}
		notify, err = s.insertPost(ctx, c, r, np.By)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.invalidate(ctx, s.replyKeys(thread, r.PostCount)...)
	if notify != 0 && notify != r.AuthorID {
		s.queue.After(0, "notify reply", func(ctx context.Context) error {
			return s.store.notify(ctx, notify, r.ID, "reply", s.now())
		})
	}
	return r, nil
}

// replyKeys are the keys a new post changes: the thread, and the pages
// most read and most likely to hold it, newest page 1 and the oldest-order
// last page. Other pages are invalidated by the thread's generation; these
// are deleted so that shepherd's fill-on-invalidate refills them at once.
func (s *Service) replyKeys(thread, postCount int64) []string {
	last := max(1, int((postCount+int64(s.pageSize)-1)/int64(s.pageSize)))
	return []string{threadKey(thread), pageKey(thread, 1, Newest), pageKey(thread, last, Oldest)}
}

// author is the user a new post is by: the signed-in user, or the guest
// user of the typed name (created on first use).
func (s *Service) author(ctx context.Context, c conn, np NewPost) (*User, error) {
	if np.By != nil {
		u := &User{}
		err := c.one(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, []any{np.By.User}, &u.ID, &u.Name, &u.Guest, new(int64))
		if err != nil {
			return nil, fmt.Errorf("user %d: %w", np.By.User, err)
		}
		return u, nil
	}
	return upsertUser(ctx, c, "guest:"+np.Author, np.Author, true, s.now())
}

// upsertUser returns the user with account key, creating it if needed.
// Users never change once created (so their cache fills need no lease).
func upsertUser(ctx context.Context, c conn, key, display string, guest bool, now time.Time) (*User, error) {
	u := &User{Name: display, Guest: guest}
	var created int64
	err := c.one(ctx, `INSERT INTO users (name, display, guest, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id, display, created`,
		[]any{key, display, guest, micros(now)}, &u.ID, &u.Name, &created)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", key, err)
	}
	u.Created = fromMicros(created)
	return u, nil
}

// ssoUser maps a site's user to the service's own, created at first login
// with the name it had then.
func (st *Store) ssoUser(ctx context.Context, forum int64, id, name string, now time.Time) (*User, error) {
	return upsertUser(ctx, st.conn(), fmt.Sprintf("sso:%d:%s", forum, id), name, false, now)
}

// insertPost runs the statements of CreatePost; it returns the author of
// the parent post (0 without a parent). A signed-in user posts only in
// the forum that signed them in.
func (s *Service) insertPost(ctx context.Context, c conn, r *Reply, by *Identity) (parentAuthor int64, err error) {
	p := r.Post
	p.AuthorID = r.Author.ID
	if p.ParentID != 0 {
		if parentAuthor, err = s.parentAuthor(ctx, c, p); err != nil {
			return 0, err
		}
		p.ParentAuthorID = parentAuthor
	}
	var forum int64
	err = c.one(ctx, `UPDATE threads SET post_count = post_count + 1, gen = gen + 1 WHERE id = ? RETURNING forum_id, gen, post_count`,
		[]any{p.ThreadID}, &forum, &r.Gen, &r.PostCount)
	if err != nil {
		return 0, fmt.Errorf("thread %d: %w", p.ThreadID, err)
	}
	if by != nil && by.Forum != forum {
		return 0, fmt.Errorf("signed in to forum %d, thread %d is in forum %d: %w", by.Forum, p.ThreadID, forum, ErrForbidden)
	}
	// Stamped after the thread row is locked: posts of a thread get
	// their created times in commit order.
	now := micros(s.now())
	p.Created = fromMicros(now)
	err = c.one(ctx, `INSERT INTO posts (thread_id, parent_id, parent_author, author_id, message, created, approved)
		SELECT ?, ?, ?, ?, ?, ?, NOT moderated FROM forums WHERE id = ? RETURNING id, approved`,
		[]any{p.ThreadID, nullID(p.ParentID), p.ParentAuthorID, p.AuthorID, p.Message, now, forum}, &p.ID, &p.Approved)
	return parentAuthor, err
}

// parentAuthor checks that the parent is in the same thread and returns its author.
func (s *Service) parentAuthor(ctx context.Context, c conn, p *Post) (int64, error) {
	var thread, author int64
	err := c.one(ctx, `SELECT thread_id, author_id FROM posts WHERE id = ?`, []any{p.ParentID}, &thread, &author)
	if err != nil {
		return 0, fmt.Errorf("parent %d: %w", p.ParentID, err)
	}
	if thread != p.ThreadID {
		return 0, fmt.Errorf("parent %d is in thread %d, not %d: %w", p.ParentID, thread, p.ThreadID, ErrInvalid)
	}
	return author, nil
}

// Approve makes a post visible; only a moderator of its forum may. It
// sets only the approved column, so it cannot undo a concurrent edit.
func (s *Service) Approve(ctx context.Context, who *Identity, id int64) (*Post, error) {
	if err := s.authorize(ctx, who, id, false); err != nil {
		return nil, err
	}
	return s.updatePost(ctx, id, `approved = TRUE`, nil, 0)
}

// Edit replaces a post's message and stamps it edited; only its author or
// a moderator of its forum may. It sets only the message and edited
// columns, so it cannot undo a concurrent approval.
func (s *Service) Edit(ctx context.Context, who *Identity, id int64, message string) (*Post, error) {
	if err := checkText(message, maxMessage); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, who, id, true); err != nil {
		return nil, err
	}
	return s.updatePost(ctx, id, `message = ?, edited = ?`, []any{message, micros(s.now())}, 0)
}

// authorize lets who change post id: a moderator of the post's forum, or
// (when authorOK) its author. ErrUnauthenticated for a guest, ErrForbidden
// for anyone else. A post's author and forum never change, so the check
// needs no lock.
func (s *Service) authorize(ctx context.Context, who *Identity, id int64, authorOK bool) error {
	if who == nil {
		return fmt.Errorf("post %d: %w", id, ErrUnauthenticated)
	}
	author, forum, err := s.store.postOwner(ctx, id)
	if err != nil {
		return err
	}
	if who.canModerate(forum) || (authorOK && who.User == author && who.Forum == forum) {
		return nil
	}
	return fmt.Errorf("post %d: %w", id, ErrForbidden)
}

// Delete hides a post (a soft delete) and takes it out of post_count;
// only its author or a moderator of its forum may. Deleting a deleted
// post changes nothing.
func (s *Service) Delete(ctx context.Context, who *Identity, id int64) (*Post, error) {
	if err := s.authorize(ctx, who, id, true); err != nil {
		return nil, err
	}
	p, err := s.updatePost(ctx, id, `deleted = TRUE`, nil, -1)
	if !errors.Is(err, errUnchanged) {
		return p, err
	}
	posts, err := s.store.postsByID(ctx, []int64{id})
	if err != nil || len(posts) == 0 {
		return nil, fmt.Errorf("post %d: %w", id, ErrNotFound)
	}
	return posts[0], nil
}

// updatePost sets one column of a post (and bumps its rev), bumps the
// thread's generation and adds delta to its post_count, in one
// transaction; then invalidates the post and the thread.
func (s *Service) updatePost(ctx context.Context, id int64, set string, args []any, delta int) (*Post, error) {
	var p *Post
	err := s.store.tx(ctx, func(c conn) (err error) {
		p, err = updateRow(ctx, c, id, set, args, delta)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.invalidate(ctx, postKey(id), threadKey(p.ThreadID))
	return p, nil
}

func updateRow(ctx context.Context, c conn, id int64, set string, args []any, delta int) (*Post, error) {
	q := `UPDATE posts SET ` + set + `, rev = rev + 1 WHERE id = ?`
	if delta < 0 {
		q += ` AND NOT deleted` // delete once: post_count must not drift
	}
	var p *Post
	err := c.each(ctx, q+` RETURNING `+postCols, append(args, id), func(r *sql.Rows) (err error) {
		p, err = scanPost(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if p == nil {
		if delta < 0 {
			return nil, fmt.Errorf("post %d: %w", id, errUnchanged)
		}
		return nil, fmt.Errorf("post %d: %w", id, ErrNotFound)
	}
	_, err = c.exec(ctx, `UPDATE threads SET gen = gen + 1, post_count = post_count + ? WHERE id = ?`, delta, p.ThreadID)
	return p, err
}

// invalidate deletes keys after a commit. A failed delete is retried once
// from the queue; readers meanwhile may see the old value until its TTL.
func (s *Service) invalidate(ctx context.Context, keys ...string) {
	for _, k := range keys {
		if err := s.cache.delete(ctx, k); err != nil {
			s.queue.After(time.Second, "invalidate "+k, func(ctx context.Context) error {
				return s.cache.delete(ctx, k)
			})
		}
	}
}

// notify records a notification (run from the queue, never in a request).
func (st *Store) notify(ctx context.Context, user, post int64, kind string, now time.Time) error {
	_, err := st.conn().exec(ctx, `INSERT INTO notifications (user_id, post_id, kind, created) VALUES (?, ?, ?, ?)`,
		user, post, kind, micros(now))
	return err
}

func checkNewPost(np NewPost) error {
	if np.By != nil {
		np.Author = "-" // a signed-in post's author is By; the field is ignored
	}
	if err := checkText(np.Author, maxName); err != nil {
		return fmt.Errorf("author: %w", err)
	}
	if err := checkText(np.Message, maxMessage); err != nil {
		return fmt.Errorf("message: %w", err)
	}
	return nil
}

func checkText(s string, max int) error {
	if strings.TrimSpace(s) == "" || len(s) > max {
		return fmt.Errorf("empty or longer than %d bytes: %w", max, ErrInvalid)
	}
	return nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
