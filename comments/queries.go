// Queries: the reads, each one statement however many rows it loads.

package comments

import (
	"context"
	"database/sql"
	"fmt"
)

const threadCols = `t.id, t.forum_id, t.slug, t.url, t.title, t.post_count, t.gen, t.created`

func scanThread(r interface{ Scan(...any) error }, t *Thread, extra ...any) error {
	var created int64
	dest := append([]any{&t.ID, &t.ForumID, &t.Slug, &t.URL, &t.Title, &t.PostCount, &t.Gen, &created}, extra...)
	if err := r.Scan(dest...); err != nil {
		return err
	}
	t.Created = fromMicros(created)
	return nil
}

const postCols = `id, thread_id, COALESCE(parent_id, 0), author_id, message, created, approved, deleted, rev, edited, parent_author`

func scanPost(r interface{ Scan(...any) error }) (*Post, error) {
	p := &Post{}
	var created, edited int64
	if err := r.Scan(&p.ID, &p.ThreadID, &p.ParentID, &p.AuthorID, &p.Message, &created, &p.Approved, &p.Deleted, &p.Rev, &edited, &p.ParentAuthorID); err != nil {
		return nil, err
	}
	p.Created = fromMicros(created)
	if edited != 0 {
		t := fromMicros(edited)
		p.Edited = &t
	}
	return p, nil
}

// Forums lists every forum by id.
func (st *Store) Forums(ctx context.Context) ([]*Forum, error) {
	var out []*Forum
	err := st.conn().each(ctx, `SELECT id, slug, name, moderated, created FROM forums ORDER BY id`, nil, func(r *sql.Rows) error {
		f := &Forum{}
		var created int64
		if err := r.Scan(&f.ID, &f.Slug, &f.Name, &f.Moderated, &created); err != nil {
			return err
		}
		f.Created = fromMicros(created)
		out = append(out, f)
		return nil
	})
	return out, err
}

// Thread loads one thread; ErrNotFound when there is none.
func (st *Store) Thread(ctx context.Context, id int64) (*Thread, error) {
	t := &Thread{}
	found := false
	err := st.conn().each(ctx, `SELECT `+threadCols+` FROM threads t WHERE t.id = ?`, []any{id}, func(r *sql.Rows) error {
		found = true
		return scanThread(r, t)
	})
	if err == nil && !found {
		err = fmt.Errorf("thread %d: %w", id, ErrNotFound)
	}
	return t, err
}

// threadPage loads a thread and the ids of one page of its visible posts
// in a single statement, so the page is stamped with the generation it
// was read at (one snapshot in both databases). A numbered page skips
// the pages before it (OFFSET); a page after a cursor seeks to it in the
// posts_page index, as cheap at any depth.
func (st *Store) threadPage(ctx context.Context, id int64, at pageAt, size int, order Order) (*Thread, []postRef, error) {
	dir, cmp := "DESC", "<"
	if order == Oldest {
		dir, cmp = "ASC", ">"
	}
	where, args := ``, []any{id}
	if at.After != nil {
		where = ` AND (created, id) ` + cmp + ` (?, ?)`
		args = append(args, at.After.Created, at.After.ID)
	}
	args = append(args, size, max(0, at.N-1)*size, id)
	q := `SELECT ` + threadCols + `, p.id, p.rev, p.created FROM threads t
		LEFT JOIN (SELECT id, rev, created FROM posts
			WHERE thread_id = ? AND approved AND NOT deleted` + where + `
			ORDER BY created ` + dir + `, id ` + dir + ` LIMIT ? OFFSET ?) p ON TRUE
		WHERE t.id = ?
		ORDER BY p.created ` + dir + `, p.id ` + dir
	var t *Thread
	refs := []postRef{}
	err := st.conn().each(ctx, q, args, func(r *sql.Rows) error {
		t = &Thread{}
		var pid, rev, created sql.NullInt64
		if err := scanThread(r, t, &pid, &rev, &created); err != nil {
			return err
		}
		if pid.Valid {
			refs = append(refs, postRef{ID: pid.Int64, Rev: rev.Int64, Created: created.Int64})
		}
		return nil
	})
	if err == nil && t == nil {
		err = fmt.Errorf("thread %d: %w", id, ErrNotFound)
	}
	return t, refs, err
}

// postsByID loads posts in one WHERE id IN (...) query.
func (st *Store) postsByID(ctx context.Context, ids []int64) ([]*Post, error) {
	list, args := inList(ids)
	var out []*Post
	err := st.conn().each(ctx, `SELECT `+postCols+` FROM posts WHERE id IN (`+list+`)`, args, func(r *sql.Rows) error {
		p, err := scanPost(r)
		out = append(out, p)
		return err
	})
	return out, err
}

// usersByID loads users in one WHERE id IN (...) query.
func (st *Store) usersByID(ctx context.Context, ids []int64) ([]*User, error) {
	list, args := inList(ids)
	var out []*User
	err := st.conn().each(ctx, `SELECT `+userCols+` FROM users WHERE id IN (`+list+`)`, args, func(r *sql.Rows) error {
		u, err := scanUser(r)
		out = append(out, u)
		return err
	})
	return out, err
}

// userCols shows a user's display name (older rows have only name).
const userCols = `id, CASE WHEN display = '' THEN name ELSE display END, guest, created`

func scanUser(r interface{ Scan(...any) error }) (*User, error) {
	u := &User{}
	var created int64
	err := r.Scan(&u.ID, &u.Name, &u.Guest, &created)
	u.Created = fromMicros(created)
	return u, err
}

// forumBySlug loads one forum; ErrNotFound when there is none.
func (st *Store) forumBySlug(ctx context.Context, slug string) (*Forum, error) {
	f := &Forum{}
	var created int64
	err := st.conn().one(ctx, `SELECT id, slug, name, moderated, created FROM forums WHERE slug = ?`, []any{slug},
		&f.ID, &f.Slug, &f.Name, &f.Moderated, &created)
	if err != nil {
		return nil, fmt.Errorf("forum %q: %w", slug, err)
	}
	f.Created = fromMicros(created)
	return f, nil
}

// postOwner returns a post's author and its thread's forum.
func (st *Store) postOwner(ctx context.Context, id int64) (author, forum int64, err error) {
	err = st.conn().one(ctx, `SELECT p.author_id, t.forum_id FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.id = ?`,
		[]any{id}, &author, &forum)
	if err != nil {
		return 0, 0, fmt.Errorf("post %d: %w", id, err)
	}
	return author, forum, nil
}

// TopThreads returns the ids of the n threads with the most posts, most first.
func (st *Store) TopThreads(ctx context.Context, n int) ([]int64, error) {
	var ids []int64
	err := st.conn().each(ctx, `SELECT id FROM threads ORDER BY post_count DESC, id LIMIT ?`, []any{n}, func(r *sql.Rows) error {
		var id int64
		ids = append(ids, id)
		return r.Scan(&ids[len(ids)-1])
	})
	return ids, err
}

// postPosition returns a post's thread and how many visible posts of that
// thread come before it or are it in oldest order (its page is
// (n-1)/size + 1). One indexed count, run when a reader follows an
// "in reply to" link to a post on another page.
func (st *Store) postPosition(ctx context.Context, id int64) (thread, n int64, err error) {
	err = st.conn().one(ctx, `SELECT q.thread_id, (SELECT COUNT(*) FROM posts p
			WHERE p.thread_id = q.thread_id AND p.approved AND NOT p.deleted
			AND (p.created < q.created OR (p.created = q.created AND p.id <= q.id)))
		FROM posts q WHERE q.id = ?`, []any{id}, &thread, &n)
	if err != nil {
		return 0, 0, fmt.Errorf("post %d: %w", id, err)
	}
	return thread, n, nil
}
