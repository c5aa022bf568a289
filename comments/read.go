// Read path: a thread page is one cache request for the thread and the
// page's post ids, one for the posts, one for their authors; misses are
// loaded with one batched query per table and written back.

package comments

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// maxPage bounds page numbers (OFFSET cost grows with them).
const maxPage = 100000

// ThreadPage returns page n (from 1) of a thread's visible posts in order,
// each joined with its author. minGen > 0 asks for a thread generation at
// least that new: a writer passes the Gen its write returned, and a cached
// thread older than that (served stale) is read from the database instead.
func (s *Service) ThreadPage(ctx context.Context, thread int64, n int, order Order, minGen int64) (*Page, error) {
	if n < 1 || n > maxPage {
		return nil, fmt.Errorf("page %d: %w", n, ErrInvalid)
	}
	return s.page(ctx, thread, pageAt{N: n}, order, minGen)
}

// ThreadPageAfter returns the page of a thread's visible posts that
// follows the post at cursor after, in order: keyset pagination, which
// costs the same at any depth. Page.Next is the cursor of the page after.
func (s *Service) ThreadPageAfter(ctx context.Context, thread int64, after Cursor, order Order, minGen int64) (*Page, error) {
	return s.page(ctx, thread, pageAt{After: &after}, order, minGen)
}

func (s *Service) page(ctx context.Context, thread int64, at pageAt, order Order, minGen int64) (*Page, error) {
	th, pg, err := s.pageRefs(ctx, thread, at, order, minGen)
	if err != nil {
		return nil, err
	}
	refs := pg.refs()
	posts, err := s.posts(ctx, refs)
	if err != nil {
		return nil, err
	}
	users, err := s.users(ctx, authors(posts))
	if err != nil {
		return nil, err
	}
	p := &Page{Thread: th, Number: at.N, Order: order, Next: pg.Next, Posts: join(refs, posts, users)}
	if at.After != nil {
		p.After = at.After.String()
	}
	return p, nil
}

// pageRefs gets the thread and the page's post ids with one cache request;
// the page is valid only if it was built at the thread's generation.
func (s *Service) pageRefs(ctx context.Context, thread int64, at pageAt, order Order, minGen int64) (*Thread, *pageIDs, error) {
	tk, pk := threadKey(thread), at.key(thread, order)
	got := s.cache.getMulti(ctx, []string{tk, pk})
	th := decode[Thread](got[tk])
	if th != nil && th.Gen < minGen {
		th = nil
	}
	if pg := decode[pageIDs](got[pk]); th != nil && pg != nil && pg.Gen == th.Gen && pg.Size == s.pageSize {
		return th, pg, nil
	}
	return s.loadPage(ctx, thread, at, order, got[tk] == nil)
}

// loadPage reads the thread and the page's ids in one query and caches
// both. When the thread key was absent we claim its fill first, so a
// write that commits while we read cannot be overwritten by what we read.
func (s *Service) loadPage(ctx context.Context, thread int64, at pageAt, order Order, threadAbsent bool) (*Thread, *pageIDs, error) {
	fillThread := s.claim(ctx, threadKey(thread), threadAbsent)
	th, refs, err := s.store.threadPage(ctx, thread, at, s.pageSize, order)
	if err != nil {
		return nil, nil, err
	}
	fillThread(encode(th), threadTTL)
	pg := newPageIDs(th.Gen, s.pageSize, refs)
	s.cache.set(ctx, at.key(thread, order), encode(pg), pageTTL)
	return th, pg, nil
}

// claim prepares the fill of key before the database is read. Without
// herd fills it takes a lease (see Cache.lease) and the returned func
// fills only if no writer deleted the lease meanwhile; with herd fills
// shepherd holds the lease and guards the plain set. The func does
// nothing when the key was present or the lease is someone else's.
func (s *Service) claim(ctx context.Context, key string, absent bool) func(value []byte, ttl int32) {
	switch {
	case !absent:
		return func([]byte, int32) {}
	case s.herdFills:
		return func(v []byte, ttl int32) { s.cache.set(ctx, key, v, ttl) }
	}
	token, ok := s.cache.lease(ctx, key)
	if !ok {
		return func([]byte, int32) {}
	}
	return func(v []byte, ttl int32) { s.cache.fill(ctx, key, token, v, ttl) }
}

// posts gets the posts of refs in one cache request. A cached post older
// than the page's revision of it is a miss; misses are loaded in one query.
func (s *Service) posts(ctx context.Context, refs []postRef) (map[int64]*Post, error) {
	keys := make([]string, len(refs))
	for i, r := range refs {
		keys[i] = postKey(r.ID)
	}
	got := s.cache.getMulti(ctx, keys)
	posts := make(map[int64]*Post, len(refs))
	var miss []int64
	for _, r := range refs {
		if p := decode[Post](got[postKey(r.ID)]); p != nil && p.Rev >= r.Rev {
			posts[r.ID] = p
		} else {
			miss = append(miss, r.ID)
		}
	}
	if len(miss) == 0 {
		return posts, nil
	}
	loaded, err := s.store.postsByID(ctx, miss)
	if err != nil {
		return nil, err
	}
	fills := make(map[string][]byte, len(loaded))
	for _, p := range loaded {
		posts[p.ID] = p
		fills[postKey(p.ID)] = encode(p)
	}
	s.cache.setBatch(ctx, fills, objectTTL)
	return posts, nil
}

// users gets users by id in one cache request, misses in one query.
// Users never change once created, so a fill cannot race a write.
func (s *Service) users(ctx context.Context, ids []int64) (map[int64]*User, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = userKey(id)
	}
	got := s.cache.getMulti(ctx, keys)
	users := make(map[int64]*User, len(ids))
	var miss []int64
	for _, id := range ids {
		if u := decode[User](got[userKey(id)]); u != nil {
			users[id] = u
		} else {
			miss = append(miss, id)
		}
	}
	if len(miss) == 0 {
		return users, nil
	}
	loaded, err := s.store.usersByID(ctx, miss)
	if err != nil {
		return nil, err
	}
	fills := make(map[string][]byte, len(loaded))
	for _, u := range loaded {
		users[u.ID] = u
		fills[userKey(u.ID)] = encode(u)
	}
	s.cache.setBatch(ctx, fills, objectTTL)
	return users, nil
}

// Thread returns one thread, through the cache.
func (s *Service) Thread(ctx context.Context, id int64) (*Thread, error) {
	tk := threadKey(id)
	got := s.cache.getMulti(ctx, []string{tk})
	if th := decode[Thread](got[tk]); th != nil {
		return th, nil
	}
	fill := s.claim(ctx, tk, got[tk] == nil)
	th, err := s.store.Thread(ctx, id)
	if err != nil {
		return nil, err
	}
	fill(encode(th), threadTTL)
	return th, nil
}

// User returns one user, through the cache.
func (s *Service) User(ctx context.Context, id int64) (*User, error) {
	users, err := s.users(ctx, []int64{id})
	if err != nil {
		return nil, err
	}
	if u := users[id]; u != nil {
		return u, nil
	}
	return nil, fmt.Errorf("user %d: %w", id, ErrNotFound)
}

// Forums lists the forums (straight from the database: a short list read
// by administrators, not by page views).
func (s *Service) Forums(ctx context.Context) ([]*Forum, error) {
	return s.store.Forums(ctx)
}

// authors returns the distinct ids of the posts' authors and of their
// parents' authors.
func authors(posts map[int64]*Post) []int64 {
	seen := map[int64]bool{0: true}
	var ids []int64
	for _, p := range posts {
		for _, id := range []int64{p.AuthorID, p.ParentAuthorID} {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// join puts the page together in Go: posts in page order, hidden ones
// dropped (a post moderated after the page was cached), authors attached.
func join(refs []postRef, posts map[int64]*Post, users map[int64]*User) []*PostView {
	out := make([]*PostView, 0, len(refs))
	for _, r := range refs {
		if p := posts[r.ID]; p != nil && p.visible() {
			out = append(out, &PostView{Post: p, Author: users[p.AuthorID], ParentAuthor: users[p.ParentAuthorID]})
		}
	}
	return nest(out)
}

// nest orders a page as a discussion: each reply whose parent is on the
// page follows its parent (replies to one post oldest first), indented
// one deeper, up to MaxDepth; the other posts keep the page's order.
func nest(page []*PostView) []*PostView {
	onPage := make(map[int64]bool, len(page))
	for _, v := range page {
		onPage[v.ID] = true
	}
	children := map[int64][]*PostView{}
	var roots []*PostView
	for _, v := range page {
		if v.ParentID != 0 && onPage[v.ParentID] {
			children[v.ParentID] = append(children[v.ParentID], v)
		} else {
			roots = append(roots, v)
		}
	}
	out := make([]*PostView, 0, len(page))
	var walk func(v *PostView, depth int)
	walk = func(v *PostView, depth int) {
		v.Depth = min(depth, MaxDepth)
		out = append(out, v)
		kids := children[v.ID]
		slices.SortFunc(kids, func(a, b *PostView) int { return cmp.Compare(a.ID, b.ID) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, v := range roots {
		walk(v, 0)
	}
	return out
}

// setAll writes values back concurrently (one request each: the text
// protocol has no multi-set) and returns when all are sent.
func (c *Cache) setAll(ctx context.Context, values map[string][]byte, ttl int32) {
	if c == nil {
		return
	}
	start := time.Now()
	defer func() { statsFrom(ctx).addCacheTime(time.Since(start)) }()
	ctx = context.WithValue(ctx, concurrentKey{}, true)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for k, v := range values {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.set(ctx, k, v, ttl)
		}()
	}
	wg.Wait()
}

// decode unmarshals a cached value; nil for a miss, a lease or garbage.
func decode[T any](it *memcache.Item) *T {
	if it == nil || isLease(it.Value) {
		return nil
	}
	v := new(T)
	if json.Unmarshal(it.Value, v) != nil {
		return nil
	}
	return v
}

// encode is the cached form of a value (and what /cache/fill serves).
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("comments: encode %T: %v", v, err)) // our own types always marshal
	}
	return b
}
