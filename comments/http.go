// HTTP: the JSON API, the cache fill endpoint shepherd calls, the widget.
// Every response carries X-DB-Queries, X-Cache-Ops and Server-Timing.

package comments

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// Handler returns the service's HTTP routes:
//
//	GET    /api/forums                     list forums
//	POST   /api/forums                     create a forum {slug, name, moderated}
//	POST   /api/threads                    create (or get) a thread {forum, slug, url, title}
//	GET    /api/threads/{id}               get a thread
//	GET    /api/threads/{id}/posts         a page of posts: ?page=1 or ?after=CURSOR, &order=newest|oldest&min_gen=
//	POST   /api/threads/{id}/posts         reply {author, message, parent}
//	POST   /api/posts/{id}/approve         approve a post
//	PATCH  /api/posts/{id}                 edit a post {message}
//	DELETE /api/posts/{id}                 delete a post
//	GET    /api/users/{id}                 get a user
//	POST   /api/login                      exchange a site's signed login {token} for a session
//	GET    /cache/fill?key=K               the bytes the cache should hold for K (shepherd's origin)
//	GET    /metrics                        Prometheus metrics
//	GET    /embed/{thread}                 the widget page (?sso=TOKEN signs the reader in)
//	GET    /embed/{thread}/post/{id}       redirect to the page holding a post
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/forums", s.api(s.handleForums))
	mux.Handle("POST /api/forums", s.api(s.handleCreateForum))
	mux.Handle("POST /api/threads", s.api(s.handleCreateThread))
	mux.Handle("GET /api/threads/{id}", s.api(s.handleThread))
	mux.Handle("GET /api/threads/{id}/posts", s.api(s.handlePosts))
	mux.Handle("POST /api/threads/{id}/posts", s.api(s.handleReply))
	mux.Handle("POST /api/posts/{id}/approve", s.api(s.handleApprove))
	mux.Handle("PATCH /api/posts/{id}", s.api(s.handleEdit))
	mux.Handle("DELETE /api/posts/{id}", s.api(s.handleDelete))
	mux.Handle("GET /api/users/{id}", s.api(s.handleUser))
	mux.Handle("POST /api/login", s.api(s.handleLogin))
	mux.Handle("GET /cache/fill", s.counted(s.handleFill))
	mux.Handle("GET /embed/{thread}", s.counted(s.handleEmbed))
	mux.Handle("GET /embed/widget.js", s.counted(serveWidgetJS))
	mux.Handle("GET /embed/{thread}/post/{id}", s.counted(s.handlePermalink))
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.Handle("GET /healthz", s.counted(func(w http.ResponseWriter, _ *http.Request, st *Stats) {
		st.WriteHeaders(w.Header())
		io.WriteString(w, "ok\n")
	}))
	return mux
}

// apiFunc handles a JSON request; a *created result answers 201.
type apiFunc func(r *http.Request) (any, error)

type created struct{ v any }

// api runs fn with request Stats and writes its result as JSON.
func (s *Service) api(fn apiFunc) http.Handler {
	return s.counted(func(w http.ResponseWriter, r *http.Request, st *Stats) {
		v, err := fn(r)
		st.WriteHeaders(w.Header())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if c, ok := v.(created); ok {
			status, v = http.StatusCreated, c.v
		}
		writeJSON(w, status, v)
	})
}

// counted gives a handler a context that counts queries and cache
// requests, and records the request in the metrics by its route pattern.
func (s *Service) counted(fn func(http.ResponseWriter, *http.Request, *Stats)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, st := WithStats(r.Context())
		sw := &statusWriter{ResponseWriter: w}
		fn(sw, r.WithContext(ctx), st)
		s.metrics.observe(r.Pattern, cmp.Or(sw.code, http.StatusOK), time.Since(start), st)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError maps service errors to statuses; unexpected ones are logged
// here, once, and not shown to the client.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	switch {
	case errors.Is(err, ErrNotFound):
		status, msg = http.StatusNotFound, err.Error()
	case errors.Is(err, ErrInvalid):
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrUnauthenticated), errors.Is(err, ErrBadToken), errors.Is(err, ErrReplayed):
		status, msg = http.StatusUnauthorized, err.Error()
	case errors.Is(err, ErrForbidden):
		status, msg = http.StatusForbidden, err.Error()
	case errors.Is(err, ErrBusy):
		status, msg = http.StatusServiceUnavailable, err.Error()
	default:
		s.log.Error("comments: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Service) handleForums(r *http.Request) (any, error) { return s.Forums(r.Context()) }

func (s *Service) handleCreateForum(r *http.Request) (any, error) {
	var in struct {
		Slug, Name string
		Moderated  bool
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	f, err := s.CreateForum(r.Context(), in.Slug, in.Name, in.Moderated)
	return created{f}, err
}

func (s *Service) handleCreateThread(r *http.Request) (any, error) {
	var in NewThread
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	th, err := s.CreateThread(r.Context(), in)
	return created{th}, err
}

func (s *Service) handleThread(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.Thread(r.Context(), id)
}

func (s *Service) handlePosts(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.pageFor(r, id)
}

// pageFor reads the page a request asks for: ?after=CURSOR (keyset) or
// ?page=N, with ?order and ?min_gen.
func (s *Service) pageFor(r *http.Request, id int64) (*Page, error) {
	n, order, minGen, err := pageParams(r)
	if err != nil {
		return nil, err
	}
	if v := r.URL.Query().Get("after"); v != "" {
		c, err := ParseCursor(v)
		if err != nil {
			return nil, err
		}
		return s.ThreadPageAfter(r.Context(), id, c, order, minGen)
	}
	return s.ThreadPage(r.Context(), id, n, order, minGen)
}

func (s *Service) handleReply(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in NewPost
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if in.By, err = s.identity(r); err != nil {
		return nil, err
	}
	reply, err := s.CreatePost(r.Context(), id, in)
	return created{reply}, err
}

func (s *Service) handleApprove(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	who, err := s.identity(r)
	if err != nil {
		return nil, err
	}
	return s.Approve(r.Context(), who, id)
}

func (s *Service) handleEdit(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var in struct{ Message string }
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	who, err := s.identity(r)
	if err != nil {
		return nil, err
	}
	return s.Edit(r.Context(), who, id, in.Message)
}

func (s *Service) handleDelete(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	who, err := s.identity(r)
	if err != nil {
		return nil, err
	}
	return s.Delete(r.Context(), who, id)
}

func (s *Service) handleUser(r *http.Request) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.User(r.Context(), id)
}

func (s *Service) handleLogin(r *http.Request) (any, error) {
	var in struct{ Token string }
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	return s.Login(r.Context(), in.Token)
}

// identity is who the request's "Authorization: Bearer <session>" says;
// nil without the header (a guest). A bad session is an error, never a
// silent fall back to guest.
func (s *Service) identity(r *http.Request) (*Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil, fmt.Errorf("%w: want Authorization: Bearer <session>", ErrUnauthenticated)
	}
	return s.Session(token)
}

func readJSON(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: bad id %q", ErrInvalid, r.PathValue(name))
	}
	return id, nil
}

// pageParams reads ?page=N&order=newest|oldest&min_gen=G (defaults 1, newest, 0).
func pageParams(r *http.Request) (n int, order Order, minGen int64, err error) {
	q := r.URL.Query()
	n = 1
	if v := q.Get("page"); v != "" {
		if n, err = strconv.Atoi(v); err != nil {
			return 0, "", 0, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if v := q.Get("min_gen"); v != "" {
		if minGen, err = strconv.ParseInt(v, 10, 64); err != nil {
			return 0, "", 0, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	order, err = ParseOrder(q.Get("order"))
	return n, order, minGen, err
}
