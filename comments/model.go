// Model: the rows of the service and how a thread page is put together.

package comments

import "time"

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

// Page is one page of a thread's visible posts.
type Page struct {
	Thread *Thread     `json:"thread"`
	Number int         `json:"page"`
	Order  Order       `json:"order"`
	Posts  []*PostView `json:"posts"`
}

// postRef names a post on a cached page and the revision the page saw.
type postRef struct {
	ID  int64
	Rev int64
}

// pageIDs is the cached value of a page key: the ordered post ids of the
// page as of thread generation Gen.
type pageIDs struct {
	Gen   int64      `json:"gen"`
	Size  int        `json:"size"`  // the page size it was cut with
	Posts [][2]int64 `json:"posts"` // [id, rev]
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
	return p
}
