// Fill: GET /cache/fill?key=K answers with the exact bytes the cache
// should hold for K, read from the database; shepherd's herd rules name it
// as the origin of fill-on-invalidate.

package comments

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

func (s *Service) handleFill(w http.ResponseWriter, r *http.Request, st *Stats) {
	v, err := s.Fill(r.Context(), r.URL.Query().Get("key"))
	st.WriteHeaders(w.Header())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(v)
}

// Fill returns the value the cache should hold for key, from the database:
// ErrNotFound when there is none, ErrInvalid for a key the service does
// not use.
func (s *Service) Fill(ctx context.Context, key string) ([]byte, error) {
	f := strings.Split(key, ":")
	switch {
	case len(f) == 2 && f[0] == "thread":
		return s.fillThread(ctx, f[1])
	case len(f) == 5 && f[0] == "thread" && (f[2] == "page" || f[2] == "after"):
		return s.fillPage(ctx, f[1], f[2], f[3], f[4])
	case len(f) == 2 && f[0] == "post":
		return s.fillPost(ctx, f[1])
	case len(f) == 2 && f[0] == "user":
		return s.fillUser(ctx, f[1])
	}
	return nil, fmt.Errorf("%w: key %q", ErrInvalid, key)
}

func (s *Service) fillThread(ctx context.Context, id string) ([]byte, error) {
	n, err := keyID(id)
	if err != nil {
		return nil, err
	}
	th, err := s.store.Thread(ctx, n)
	if err != nil {
		return nil, err
	}
	return encode(th), nil
}

func (s *Service) fillPage(ctx context.Context, id, kind, page, order string) ([]byte, error) {
	thread, err := keyID(id)
	if err != nil {
		return nil, err
	}
	at, err := parsePageAt(kind, page)
	if err != nil {
		return nil, err
	}
	o, err := ParseOrder(order)
	if err != nil || order == "" {
		return nil, fmt.Errorf("%w: order %q", ErrInvalid, order)
	}
	th, refs, err := s.store.threadPage(ctx, thread, at, s.pageSize, o)
	if err != nil {
		return nil, err
	}
	return encode(newPageIDs(th.Gen, s.pageSize, refs)), nil
}

func (s *Service) fillPost(ctx context.Context, id string) ([]byte, error) {
	n, err := keyID(id)
	if err != nil {
		return nil, err
	}
	posts, err := s.store.postsByID(ctx, []int64{n})
	if err != nil {
		return nil, err
	}
	if len(posts) == 0 {
		return nil, fmt.Errorf("post %d: %w", n, ErrNotFound)
	}
	return encode(posts[0]), nil
}

func (s *Service) fillUser(ctx context.Context, id string) ([]byte, error) {
	n, err := keyID(id)
	if err != nil {
		return nil, err
	}
	users, err := s.store.usersByID(ctx, []int64{n})
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("user %d: %w", n, ErrNotFound)
	}
	return encode(users[0]), nil
}

// parsePageAt reads a page key's "page:N" or "after:CURSOR".
func parsePageAt(kind, v string) (pageAt, error) {
	if kind == "after" {
		c, err := ParseCursor(v)
		return pageAt{After: &c}, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		return pageAt{}, fmt.Errorf("%w: page %q", ErrInvalid, v)
	}
	return pageAt{N: n}, nil
}

func keyID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: id %q", ErrInvalid, s)
	}
	return n, nil
}
