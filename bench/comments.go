// Comments: the bundled comment service (cmd/comments) seeded into SQLite
// in a temporary directory and served through shepherd, with the herd rule
// its README recommends (thread: keys refilled from its /cache/fill).
package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func runComments(ctx context.Context, e *Env, s *Scenario, res *Result) error {
	c := s.Comments
	bin, err := e.commentsBinary(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(e.Dir, "comments-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir) // deferred first, so it runs after every process has stopped
	nodes, err := e.Procs.StartMemcacheds(ctx, e.Memcached, s.Nodes)
	if err != nil {
		return err
	}
	defer killNodes(nodes)
	f, err := e.shepherdFeatures(ctx, nodes, s.Pool)
	if err != nil {
		return fmt.Errorf("shepherd: %w", err)
	}
	res.Features = &f
	out := &CommentsResult{Posts: c.Posts, Clients: c.Clients, HerdRule: !c.Plain && f.HerdConfig}
	res.Comments = out
	db := "sqlite:" + filepath.Join(dir, "comments.db")
	if out.SeedSeconds, err = e.seedComments(ctx, bin, db, c.Posts); err != nil {
		return err
	}
	st, err := e.startCommentsStack(ctx, bin, db, s, nodes, f)
	if err != nil {
		return err
	}
	defer st.stop()
	if err := e.driveComments(ctx, s, st, nodes, out); err != nil {
		return err
	}
	res.note(commentsNote(c, out, f))
	return nil
}

// driveComments finds the threads, empties the cache, and runs the
// warm-up and the measured load.
func (e *Env) driveComments(ctx context.Context, s *Scenario, st *commentsStack, nodes []*Node, out *CommentsResult) error {
	c := s.Comments
	l := newCommentsLoad(c, st.url)
	defer l.close()
	threads, err := l.findThreads(ctx, e, st.bin, st.db)
	if err != nil {
		return err
	}
	out.Threads = len(threads)
	if err := flushNodes(nodes); err != nil { // the learning reads above cached thread rows
		return err
	}
	if c.Warmup > 0 {
		warm := newCommentsMeter(time.Now(), s.Sample)
		stop := e.startProgress("comments warm-up", warm.all)
		l.run(ctx, warm, c.Warmup)
		stop()
	}
	before, _ := statsOf(st.sh.Addr, "stats herd", time.Second)
	m := newCommentsMeter(time.Now(), s.Sample)
	stop := e.startProgress("comments", m.all)
	out.Seconds = l.run(ctx, m, c.Duration)
	stop()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	answered := m.fill(out, c.Duration)
	if out.HerdRule {
		after, _ := statsOf(st.sh.Addr, "stats herd", time.Second)
		out.Herd = herdDelta(before, after, out.DBQueries, answered)
	}
	return nil
}

// seedComments fills a new database with posts and returns how long it took.
func (e *Env) seedComments(ctx context.Context, bin, db string, posts int) (float64, error) {
	start := time.Now()
	if _, err := e.Procs.Run(ctx, "comments seed", bin, "seed", "--posts", strconv.Itoa(posts), "--db", db); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// commentsStack is a running comment service and the shepherd it reads
// through.
type commentsStack struct {
	url     string // http://127.0.0.1:PORT of the service
	bin, db string
	svc     *Proc
	sh      *Shepherd
}

func (st *commentsStack) stop() {
	st.svc.Stop(time.Second)
	st.sh.Stop()
}

// startCommentsStack starts the service and its shepherd, retrying when
// shepherd's port is taken between choosing and binding it.
func (e *Env) startCommentsStack(ctx context.Context, bin, db string, s *Scenario, nodes []*Node, f Features) (*commentsStack, error) {
	var err error
	for range 3 {
		var st *commentsStack
		if st, err = e.tryCommentsStack(ctx, bin, db, s, nodes, f); err == nil || !errors.Is(err, errAddrInUse) {
			return st, err
		}
	}
	return nil, err
}

// tryCommentsStack starts the service first, on a port of its own choice
// and pointed at shepherd's future address, so that shepherd's herd rule
// can name the service's /cache/fill as its origin.
func (e *Env) tryCommentsStack(ctx context.Context, bin, db string, s *Scenario, nodes []*Node, f Features) (*commentsStack, error) {
	c := s.Comments
	shAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	herd := !c.Plain && f.HerdConfig
	st := &commentsStack{bin: bin, db: db}
	if st.svc, st.url, err = e.startCommentsServe(ctx, bin, db, shAddr, c.PageSize, herd); err != nil {
		return nil, err
	}
	cfg := shepherdConfig{Listen: shAddr, Nodes: addrsOf(nodes), Pool: s.Pool, health: f.HealthConfig, herd: f.HerdConfig}
	if herd {
		cfg.Herd = []HerdRule{commentsRule(st.url)}
	}
	if st.sh, err = e.tryShepherd(ctx, cfg); err != nil {
		st.svc.Stop(time.Second)
		return nil, err
	}
	return st, nil
}

// commentsRule is the rule comments/README.md recommends: thread: keys
// (thread rows and page id lists) served stale after a writer's delete and
// refilled by shepherd from the service, with the service's own TTL.
func commentsRule(url string) HerdRule {
	return HerdRule{Prefix: "thread:", StaleTTL: 30 * time.Second, Hold: 2 * time.Second, LeaseTTL: 10 * time.Second,
		Origin: url + "/cache/fill?key={key}", TTL: time.Hour}
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startCommentsServe runs `comments serve` on a free port and waits until
// it answers /healthz.
func (e *Env) startCommentsServe(ctx context.Context, bin, db, cache string, pageSize int, herd bool) (*Proc, string, error) {
	secrets := e.tempPath("sso-*.secrets")
	if err := os.WriteFile(secrets, []byte("* "+commentsSecret+"\n"), 0o600); err != nil {
		return nil, "", err
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--db", db, "--memcache", cache, "--page-size", strconv.Itoa(pageSize), "--sso-secrets", secrets}
	if herd {
		args = append(args, "--herd-fills")
	}
	p, err := e.Procs.Start("comments serve", bin, args...)
	if err != nil {
		return nil, "", err
	}
	var url string
	err = waitReady(ctx, p, readyTimeout, func() error {
		m := listening.FindStringSubmatch(p.Output())
		if m == nil {
			return errors.New("no listening line yet")
		}
		url = m[1]
		return httpOK(url + "/healthz")
	})
	if err != nil {
		p.Kill()
		return nil, "", err
	}
	return p, url, nil
}

func httpOK(url string) error {
	resp, err := scrapeClient.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// topThreads asks `comments top` for the ids of the n busiest threads.
func (e *Env) topThreads(ctx context.Context, bin, db string, n int) ([]int64, error) {
	out, err := e.Procs.Run(ctx, "comments top", bin, "top", "--n", strconv.Itoa(n), "--db", db)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var ids []int64
	for _, w := range strings.Fields(lines[len(lines)-1]) {
		id, err := strconv.ParseInt(w, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("comments top: %q is not a thread id", w)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("comments top: no threads")
	}
	return ids, nil
}

// herdDelta is what "stats herd" counted between before and after;
// queries and answered are the clients' queries and costed responses.
func herdDelta(before, after map[string]string, queries, answered int64) *CommentsHerd {
	d := func(name string) int64 { return statInt(after, name) - statInt(before, name) }
	h := &CommentsHerd{OriginFills: d("origin_fetches"), OriginFailures: d("origin_failures"), StaleServed: d("stale_served"),
		Holds: d("holds"), HoldTimeouts: d("hold_timeouts"), Invalidations: d("invalidations")}
	h.QueriesWithFills = ratio(float64(queries+h.OriginFills), float64(answered))
	return h
}

// commentsNote says what ran, so the numbers can be read against it.
func commentsNote(c *Comments, out *CommentsResult, f Features) string {
	rule := "no herd rule (plain: true): the service takes its own fill leases (add/gets/cas)"
	switch {
	case out.HerdRule:
		rule = "herd rule on thread: with the service's /cache/fill as origin (serve --herd-fills)"
	case !c.Plain && !f.HerdConfig:
		rule = "shepherd rejects the herd: section, so no herd rule: the service takes its own fill leases"
	}
	s := fmt.Sprintf("SQLite, %d posts seeded in %.1fs; %d clients for %v (after %v warm-up) on the %d busiest threads (zipf %v by rank, pages 1..%d halving, %.0f%% oldest-first); %.0f%% writes, of which %.0f%% edit one of the client's replies; %s; the cache is emptied before the warm-up",
		out.Posts, out.SeedSeconds, c.Clients, c.Duration, c.Warmup, out.Threads, c.Zipf, c.Pages, 100**c.Oldest, 100**c.Writes, 100**c.Edits, rule)
	if h := out.Herd; h != nil {
		s += fmt.Sprintf(". shepherd: %d origin fills from /cache/fill (%d failed), %d stale values served, %d holds (%d timed out); counting one query per fill, %.3f DB queries per request",
			h.OriginFills, h.OriginFailures, h.StaleServed, h.Holds, h.HoldTimeouts, h.QueriesWithFills)
	}
	return s
}
