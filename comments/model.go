// Model: the rows of the service and how a thread page is put together.

package comments

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Forum is a site that embeds discussions. In a moderated forum new posts
// wait for approval before readers see them.
type Forum struct {
	ID        int64     `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Moderated bool      `json:"moderated"`
	Created   time.Time `json:"created"`
}

// Thread is one discussion, embedded at URL. Gen counts the changes to its
// list of visible posts; cached pages carry the Gen they were built from.
type Thread struct {
	ID        int64     `json:"id"`
	ForumID   int64     `json:"forum"`
	Slug      string    `json:"slug"`
	URL       string    `json:"url"`
	Title     string    `json:"title"`
	PostCount int64     `json:"post_count"`
	Gen       int64     `json:"gen"`
	Created   time.Time `json:"created"`
}

// Post is one comment; ParentID is 0 for a top-level comment. Rev counts
// the updates of the row (edit, approve, delete).
type Post struct {
	ID       int64      `json:"id"`
	ThreadID int64      `json:"thread"`
	ParentID int64      `json:"parent,omitempty"`
	AuthorID int64      `json:"author_id"`
	Message  string     `json:"message"`
	Created  time.Time  `json:"created"`
	Approved bool       `json:"approved"`
	Deleted  bool       `json:"deleted"`
	Rev      int64      `json:"rev"`
	Edited   *time.Time `json:"edited,omitempty"` // the last edit; nil if never edited

	ParentAuthorID int64 `json:"parent_author_id,omitempty"`
}

// visible reports whether readers of the thread see the post.
func (p *Post) visible() bool { return p.Approved && !p.Deleted }

// User is a commenter: signed in through a site's single sign-on, or a
// guest (Guest set), whose name is only what they typed.
type User struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`
	Guest   bool      `json:"guest,omitempty"`
	Created time.Time `json:"created"`
}

// Order is the order of a thread's posts.
type Order string

// The orders a thread page can be read in.
const (
	Newest Order = "newest"
	Oldest Order = "oldest"
)

// ParseOrder accepts "newest", "oldest" and "" (newest).
func ParseOrder(s string) (Order, error) {
	switch Order(s) {
	case "", Newest:
		return Newest, nil
	case Oldest:
		return Oldest, nil
	}
	return "", ErrInvalid
}

// PostView is a post joined with its author and its parent's author.
// Depth is its indentation on the page: one more than its parent's when
// the parent is on the same page (up to MaxDepth), else 0.
type PostView struct {
	*Post
	Author       *User `json:"author"`
	ParentAuthor *User `json:"parent_author,omitempty"`
	Depth        int   `json:"depth"`
}

// MaxDepth is the deepest indentation of a reply on a page; deeper
// replies line up at this depth (each still says whom it answers).
const MaxDepth = 4

// Page is one page of a thread's visible posts: page Number, or (Number
// 0) the page after the cursor After. Next is the cursor of the page
// after this one ("" on the last page).
type Page struct {
	Thread *Thread     `json:"thread"`
	Number int         `json:"page,omitempty"`
	After  string      `json:"after,omitempty"`
	Next   string      `json:"next,omitempty"`
	Order  Order       `json:"order"`
	Posts  []*PostView `json:"posts"`
}

// Cursor is a keyset position in a thread: a post's created time (µs)
// and id, the order pages are read in. A page after a cursor costs an
// index seek however deep it is, where page n costs skipping n-1 pages.
type Cursor struct{ Created, ID int64 }

func (c Cursor) String() string { return fmt.Sprintf("%d.%d", c.Created, c.ID) }

// ParseCursor reads what Cursor.String wrote.
func ParseCursor(s string) (Cursor, error) {
	a, b, ok := strings.Cut(s, ".")
	created, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || id <= 0 {
		return Cursor{}, fmt.Errorf("%w: cursor %q", ErrInvalid, s)
	}
	return Cursor{Created: created, ID: id}, nil
}

// pageAt selects a page: number N (from 1), or the page after a cursor.
type pageAt struct {
	N     int
	After *Cursor
}

// key is the page's cache key: thread:{id}:page:{n}:{order} or
// thread:{id}:after:{cursor}:{order}.
func (at pageAt) key(thread int64, order Order) string {
	if at.After != nil {
		return fmt.Sprintf("thread:%d:after:%s:%s", thread, at.After, order)
	}
	return pageKey(thread, at.N, order)
}

// postRef names a post on a cached page, the revision the page saw, and
// its created time (the page's next cursor).
type postRef struct {
	ID      int64
	Rev     int64
	Created int64
}

// pageIDs is the cached value of a page key: the ordered post ids of the
// page as of thread generation Gen.
type pageIDs struct {
	Gen   int64      `json:"gen"`
	Size  int        `json:"size"`           // the page size it was cut with
	Posts [][2]int64 `json:"posts"`          // [id, rev]
	Next  string     `json:"next,omitempty"` // cursor after the last post, if the page is full
}

func (p *pageIDs) refs() []postRef {
	refs := make([]postRef, len(p.Posts))
	for i, r := range p.Posts {
		refs[i] = postRef{ID: r[0], Rev: r[1]}
	}
	return refs
}

func newPageIDs(gen int64, size int, refs []postRef) *pageIDs {
	p := &pageIDs{Gen: gen, Size: size, Posts: make([][2]int64, len(refs))}
	for i, r := range refs {
		p.Posts[i] = [2]int64{r.ID, r.Rev}
	}
	if len(refs) == size && size > 0 {
		last := refs[len(refs)-1]
		p.Next = Cursor{Created: last.Created, ID: last.ID}.String()
	}
	return p
}
