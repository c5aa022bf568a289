// Comments load: bounded closed-loop HTTP clients reading thread pages and
// writing replies and edits, and the meter of what each request cost in
// database queries and cache requests (X-DB-Queries, X-Cache-Ops).
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-proxy/shepherd/comments"
)

// Request kinds of the comments mix.
const (
	reqRead  = iota // GET a thread page
	reqReply        // POST a reply
	reqEdit         // PATCH one of the client's replies
	reqKinds
)

var reqKindNames = [reqKinds]string{"read", "reply", "edit"}

// commentsThread is a thread the clients read and how many pages it had.
type commentsThread struct {
	id    int64
	pages int
	forum string // its forum's slug: a client signs in per forum
}

// commentsLoad drives one service. Its clients keep their state across
// runs (a warm-up and the measured run). Safe for use by its own clients.
type commentsLoad struct {
	c       *Comments
	base    string // http://127.0.0.1:PORT
	http    *http.Client
	threads []commentsThread
	clients []*commentsClient
	forums  map[int64]string // id -> slug
}

func newCommentsLoad(c *Comments, base string) *commentsLoad {
	tr := &http.Transport{ // no Proxy: loopback only, whatever the environment says
		MaxIdleConns: c.Clients, MaxIdleConnsPerHost: c.Clients, MaxConnsPerHost: c.Clients,
		DisableCompression: true, IdleConnTimeout: time.Minute,
	}
	l := &commentsLoad{c: c, base: base, http: &http.Client{Transport: tr, Timeout: c.Timeout}}
	for id := range c.Clients {
		l.clients = append(l.clients, newCommentsClient(id, c))
	}
	return l
}

func (l *commentsLoad) close() { l.http.CloseIdleConnections() }

// findThreads lists the busiest threads and reads each once for its page
// count (which caches the thread rows; the caller empties the cache).
func (l *commentsLoad) findThreads(ctx context.Context, e *Env, bin, db string) ([]commentsThread, error) {
	ids, err := e.topThreads(ctx, bin, db, l.c.Threads)
	if err != nil {
		return nil, err
	}
	if err := l.loadForums(ctx); err != nil {
		return nil, err
	}
	threads := make([]commentsThread, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(l.c.Clients, len(ids)) {
		wg.Go(func() {
			for i := range next {
				threads[i], errs[i] = l.thread(ctx, ids[i])
			}
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	l.threads = threads
	return threads, l.login(ctx)
}

func (l *commentsLoad) thread(ctx context.Context, id int64) (commentsThread, error) {
	var th struct {
		PostCount int   `json:"post_count"`
		Forum     int64 `json:"forum"`
	}
	if err := l.getJSON(ctx, fmt.Sprintf("/api/threads/%d", id), &th); err != nil {
		return commentsThread{}, err
	}
	return commentsThread{id: id, pages: max(1, (th.PostCount+l.c.PageSize-1)/l.c.PageSize), forum: l.forums[th.Forum]}, nil
}

// commentsSecret is the single sign-on secret herdbench gives the service
// for every forum ("*"), so its clients can sign in, reply and edit their
// own replies as the site's users.
const commentsSecret = "herdbench-sso-secret-0123456789"

// loadForums maps forum ids to slugs.
func (l *commentsLoad) loadForums(ctx context.Context) error {
	var forums []struct {
		ID   int64  `json:"id"`
		Slug string `json:"slug"`
	}
	if err := l.getJSON(ctx, "/api/forums", &forums); err != nil {
		return err
	}
	l.forums = map[int64]string{}
	for _, f := range forums {
		l.forums[f.ID] = f.Slug
	}
	return nil
}

// login signs every client in to every forum of the threads, before the
// run (so sign-ins are not measured).
func (l *commentsLoad) login(ctx context.Context) error {
	for _, cl := range l.clients {
		cl.sessions = map[string]string{}
		for _, th := range l.threads {
			if _, ok := cl.sessions[th.forum]; ok {
				continue
			}
			now := time.Now().Unix()
			token := comments.Sign([]byte(commentsSecret), comments.Login{Forum: th.forum, ID: fmt.Sprintf("herdbench-%d", cl.id),
				Name: fmt.Sprintf("herdbench-%d", cl.id), IssuedAt: now, Expires: now + 300})
			var s struct {
				Session string `json:"session"`
			}
			if err := l.postJSON(ctx, "/api/login", map[string]string{"token": token}, &s); err != nil {
				return err
			}
			cl.sessions[th.forum] = s.Session
		}
	}
	return nil
}

func (l *commentsLoad) postJSON(ctx context.Context, path string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (l *commentsLoad) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// run lets every client loop for d (or its MaxOps requests, or until ctx
// ends) and returns how long it took until the last one stopped.
func (l *commentsLoad) run(ctx context.Context, m *commentsMeter, d time.Duration) float64 {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for _, cl := range l.clients {
		wg.Go(func() { l.loop(ctx, cl, m) })
	}
	wg.Wait()
	return time.Since(start).Seconds()
}

// loop is one client: a request, its answer, the next request.
func (l *commentsLoad) loop(ctx context.Context, cl *commentsClient, m *commentsMeter) {
	for n := int64(0); n < l.c.MaxOps && ctx.Err() == nil; n++ {
		q := cl.next(l.threads)
		t0 := time.Now()
		a := l.do(ctx, q)
		if a.err && ctx.Err() != nil {
			return // cut off by the end of the run: neither an answer nor an error
		}
		done := time.Now()
		if a.postID > 0 {
			cl.remember(a.postID, q.forum)
		}
		m.record(cl.id, q.kind, outcome{at: done, lat: done.Sub(t0), err: a.err}, a)
	}
}

// commentsReq is one request of the mix.
type commentsReq struct {
	kind         int
	method, path string
	body         string
	session      string // sent as a bearer token when set
	forum        string // the forum of a reply's thread
}

// answer is what a response said; queries and cacheOps are -1 when its
// header was missing.
type answer struct {
	err               bool
	queries, cacheOps int
	postID            int64 // the post a reply created
}

func (l *commentsLoad) do(ctx context.Context, q commentsReq) answer {
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	req, err := http.NewRequestWithContext(ctx, q.method, l.base+q.path, body)
	if err != nil {
		return answer{err: true, queries: -1, cacheOps: -1}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if q.session != "" {
		req.Header.Set("Authorization", "Bearer "+q.session)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return answer{err: true, queries: -1, cacheOps: -1}
	}
	defer resp.Body.Close()
	a := answer{err: resp.StatusCode >= 300, queries: headerInt(resp.Header, "X-DB-Queries"), cacheOps: headerInt(resp.Header, "X-Cache-Ops")}
	if q.kind == reqReply && !a.err {
		var p struct {
			ID int64 `json:"id"`
		}
		a.err = json.NewDecoder(resp.Body).Decode(&p) != nil || p.ID <= 0
		a.postID = p.ID
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		a.err = true
	}
	return a
}

func headerInt(h http.Header, name string) int {
	n, err := strconv.Atoi(h.Get(name))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// commentsClient makes one client's requests. Not safe for concurrent use.
type commentsClient struct {
	id   int
	c    *Comments
	r    *rand.Rand
	zipf *rand.Zipf // over thread ranks; made on first use
	mine []myPost   // the client's latest replies, which its edits pick from
	n    int

	sessions map[string]string // forum slug -> session
}

// myPost is a reply of the client's and the forum it is in.
type myPost struct {
	id    int64
	forum string
}

// maxMine bounds the replies a client remembers for editing.
const maxMine = 32

func newCommentsClient(id int, c *Comments) *commentsClient {
	seed := uint64(id) + 1
	return &commentsClient{id: id, c: c, r: rand.New(rand.NewPCG(seed, seed^0xc0ffee))}
}

func (cl *commentsClient) remember(post int64, forum string) {
	if len(cl.mine) == maxMine {
		cl.mine = cl.mine[1:]
	}
	cl.mine = append(cl.mine, myPost{post, forum})
}

// pick chooses a thread by rank, the busiest most often.
func (cl *commentsClient) pick(threads []commentsThread) commentsThread {
	if len(threads) == 1 {
		return threads[0]
	}
	if cl.zipf == nil {
		cl.zipf = rand.NewZipf(cl.r, cl.c.Zipf, 1, uint64(len(threads)-1))
	}
	return threads[cl.zipf.Uint64()]
}

// next is the client's next request: a write with probability Writes (an
// edit of one of its replies with probability Edits, else a reply; a
// client with no reply yet replies), otherwise a page read.
func (cl *commentsClient) next(threads []commentsThread) commentsReq {
	cl.n++
	c := cl.c
	if cl.r.Float64() < *c.Writes {
		if len(cl.mine) > 0 && cl.r.Float64() < *c.Edits {
			post := cl.mine[cl.r.IntN(len(cl.mine))]
			return commentsReq{kind: reqEdit, method: http.MethodPatch, path: fmt.Sprintf("/api/posts/%d", post.id),
				body: fmt.Sprintf(`{"message":"edited by herdbench client %d (request %d)"}`, cl.id, cl.n), session: cl.sessions[post.forum]}
		}
		th := cl.pick(threads)
		return commentsReq{kind: reqReply, method: http.MethodPost, path: fmt.Sprintf("/api/threads/%d/posts", th.id),
			body: fmt.Sprintf(`{"message":"reply %d from herdbench client %d"}`, cl.n, cl.id), session: cl.sessions[th.forum], forum: th.forum}
	}
	th := cl.pick(threads)
	page := 1
	for page < min(c.Pages, th.pages) && cl.r.IntN(2) == 0 {
		page++
	}
	order := "newest"
	if cl.r.Float64() < *c.Oldest {
		order = "oldest"
	}
	return commentsReq{kind: reqRead, method: http.MethodGet, path: fmt.Sprintf("/api/threads/%d/posts?page=%d&order=%s", th.id, page, order)}
}

// commentsMeter records latency per kind and the cost headers per kind and
// over time. Safe for concurrent use.
type commentsMeter struct {
	all   *recorder // every request: the progress line, req/s and latency over time
	kinds [reqKinds]*recorder
	start time.Time
	width time.Duration

	mu      sync.Mutex // guards costs and buckets
	costs   [reqKinds]kindCost
	buckets []costBucket
}

// kindCost sums the headers of one kind's successful responses.
type kindCost struct {
	answered, queries, cacheOps, zero int64 // zero: answered without a query
}

type costBucket struct{ queries, cacheOps int64 }

func newCommentsMeter(start time.Time, width time.Duration) *commentsMeter {
	m := &commentsMeter{all: newRecorder(start, width), start: start, width: width}
	for k := range m.kinds {
		m.kinds[k] = newRecorder(start, width)
	}
	return m
}

func (m *commentsMeter) record(id, kind int, o outcome, a answer) {
	m.all.record(id, o)
	m.kinds[kind].record(id, o)
	if o.err || a.queries < 0 || a.cacheOps < 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := &m.costs[kind]
	k.answered++
	k.queries += int64(a.queries)
	k.cacheOps += int64(a.cacheOps)
	if a.queries == 0 {
		k.zero++
	}
	i := max(int(o.at.Sub(m.start)/m.width), 0)
	for len(m.buckets) <= i {
		m.buckets = append(m.buckets, costBucket{})
	}
	m.buckets[i].queries += int64(a.queries)
	m.buckets[i].cacheOps += int64(a.cacheOps)
}

// fill writes the totals, per kind and over time, into out (whose Seconds
// is set) and returns how many responses carried costs. Series end at d,
// the run's length: a last bucket past it would show a partial rate.
func (m *commentsMeter) fill(out *CommentsResult, d time.Duration) (answered int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cacheOps int64
	for k := range reqKinds {
		ops, errs, _, _ := m.kinds[k].counts()
		c := m.costs[k]
		out.Kinds = append(out.Kinds, CommentsKind{Kind: reqKindNames[k], Requests: ops, Errors: errs,
			RequestsPerSec: ratio(float64(ops), out.Seconds), DBQueries: c.queries,
			QueriesPerReq: ratio(float64(c.queries), float64(c.answered)), ZeroQueryShare: ratio(float64(c.zero), float64(c.answered)),
			CacheOpsPerReq: ratio(float64(c.cacheOps), float64(c.answered)), Latency: m.kinds[k].summary(), Series: until(m.kinds[k].series(), d)})
		out.DBQueries += c.queries
		cacheOps += c.cacheOps
		answered += c.answered
	}
	out.Requests, out.Errors, _, _ = m.all.counts()
	out.RequestsPerSec = ratio(float64(out.Requests), out.Seconds)
	out.QueriesPerReq = ratio(float64(out.DBQueries), float64(answered))
	out.ZeroQueryReads = out.Kinds[reqRead].ZeroQueryShare
	out.CacheOps, out.CacheOpsPerReq = cacheOps, ratio(float64(cacheOps), float64(answered))
	out.Latency, out.Series = m.all.summary(), until(m.all.series(), d)
	per := 1 / m.width.Seconds()
	for i, b := range m.buckets {
		if t := float64(i) * m.width.Seconds(); t < d.Seconds() {
			out.CostSeries = append(out.CostSeries, CostSample{T: t, Queries: float64(b.queries) * per, CacheOps: float64(b.cacheOps) * per})
		}
	}
	return answered
}

// until drops the samples that start at or after d.
func until(series []Sample, d time.Duration) []Sample {
	for i, s := range series {
		if s.T >= d.Seconds() {
			return series[:i]
		}
	}
	return series
}
