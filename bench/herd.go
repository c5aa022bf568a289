// Herd: one hot key read by many clients spread over several shepherds,
// deleted mid-run, with herd protection off, on, and on with an origin.
package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Herd modes.
const (
	HerdOff    = "off"    // no herd section: every reader that misses refills
	HerdOn     = "on"     // a herd rule for the key's prefix; the winning client refills
	HerdOrigin = "origin" // the rule names the harness's origin; shepherd refills itself
)

func runHerd(ctx context.Context, e *Env, s *Scenario, res *Result) error {
	h := s.Herd
	nodes, err := e.Procs.StartMemcacheds(ctx, e.Memcached, s.Nodes)
	if err != nil {
		return err
	}
	f, err := e.shepherdFeatures(ctx, nodes, s.Pool)
	if err != nil {
		return fmt.Errorf("shepherd: %w", err)
	}
	res.Features = &f
	org, err := startOrigin(h.OriginDelay)
	if err != nil {
		return err
	}
	defer org.close()
	out := &HerdResult{Key: h.Key, Clients: h.Clients, Shepherds: h.Shepherds}
	res.Herd = out
	for _, mode := range h.Modes {
		m, err := e.herdMode(ctx, s, nodes, org, mode, f)
		if err != nil {
			return fmt.Errorf("mode %s: %w", mode, err)
		}
		out.Modes = append(out.Modes, m)
	}
	res.note(fmt.Sprintf("%d readers over %d shepherds, %v between one reader's gets, origin answers in %v; reader latency is the time until a reader holds a value (on a miss: get + origin fetch + set)",
		h.Clients, h.Shepherds, h.Think, h.OriginDelay))
	return nil
}

// herdMode runs one mode on freshly flushed nodes and new shepherds.
func (e *Env) herdMode(ctx context.Context, s *Scenario, nodes []*Node, org *origin, mode string, f Features) (HerdMode, error) {
	h := s.Herd
	m := HerdMode{Mode: mode}
	if err := flushNodes(nodes); err != nil {
		return m, err
	}
	cfg, desc := herdConfig(s, nodes, org, mode, f)
	m.Active, m.Describe = cfg.herd && cfg.Herd != nil, desc
	shepherds, err := e.startShepherds(ctx, cfg, h.Shepherds)
	if err != nil {
		return m, err
	}
	defer stopShepherds(shepherds)
	if err := setKey(shepherds[0].Addr, h.Key, "seed"); err != nil {
		return m, fmt.Errorf("seed %s: %w", h.Key, err)
	}
	run := newHerdRun(h, time.Now(), s.Sample, org)
	stop := e.startProgress(fmt.Sprintf("herd %s", mode), run.rec)
	run.drive(ctx, shepherds)
	stop()
	run.fill(&m)
	return m, nil
}

// herdConfig is the shepherd config of a mode and a sentence saying what
// protection it really had.
func herdConfig(s *Scenario, nodes []*Node, org *origin, mode string, f Features) (shepherdConfig, string) {
	h := s.Herd
	c := shepherdConfig{Nodes: addrsOf(nodes), Pool: s.Pool, health: f.HealthConfig, herd: f.HerdConfig}
	if mode == HerdOff {
		return c, "no herd section: plain proxying"
	}
	prefix := h.Key
	if i := strings.IndexByte(h.Key, ':'); i >= 0 {
		prefix = h.Key[:i+1]
	}
	r := HerdRule{Prefix: prefix, StaleTTL: h.StaleTTL, Hold: h.Hold, LeaseTTL: h.LeaseTTL, TTL: h.TTL}
	if mode == HerdOrigin {
		r.Origin = org.url()
	}
	c.Herd = []HerdRule{r}
	switch {
	case !f.HerdConfig:
		return c, "shepherd rejects herd: config; ran unprotected"
	case !f.HerdStats:
		return c, fmt.Sprintf("rule %q given and accepted, but shepherd does not answer `stats herd`: protection likely not built yet", prefix)
	case mode == HerdOrigin:
		return c, fmt.Sprintf("rule %q with origin: shepherd fills on the win", prefix)
	}
	return c, fmt.Sprintf("rule %q: one winner refills, others get stale or are held", prefix)
}

func (e *Env) startShepherds(ctx context.Context, c shepherdConfig, n int) ([]*Shepherd, error) {
	var out []*Shepherd
	for range n {
		sh, err := e.startShepherd(ctx, c)
		if err != nil {
			stopShepherds(out)
			return nil, err
		}
		out = append(out, sh)
	}
	return out, nil
}

func stopShepherds(ss []*Shepherd) {
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(s.Stop)
	}
	wg.Wait()
}

// herdRun is one mode's readers and what they saw. Safe for concurrent use.
type herdRun struct {
	h      *Herd
	start  time.Time
	rec    *recorder   // every read
	storms []*recorder // reads that began inside each storm window
	org    *origin
	http   *http.Client

	mu     sync.Mutex // guards misses
	misses []time.Duration
}

func newHerdRun(h *Herd, start time.Time, sample time.Duration, org *origin) *herdRun {
	r := &herdRun{h: h, start: start, rec: newRecorder(start, sample), org: org}
	for range h.Invalidate {
		r.storms = append(r.storms, newRecorder(start, h.Duration+time.Second))
	}
	r.http = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: h.Clients, MaxIdleConns: h.Clients}}
	org.reset(start)
	return r
}

// drive runs the readers and the invalidator until the mode's time is up.
func (r *herdRun) drive(ctx context.Context, shepherds []*Shepherd) {
	ctx, cancel := context.WithDeadline(ctx, r.start.Add(r.h.Duration))
	defer cancel()
	var wg sync.WaitGroup
	for i := range r.h.Clients {
		addr := shepherds[i%len(shepherds)].Addr
		wg.Go(func() { r.reader(ctx, i, addr) })
	}
	wg.Go(func() { r.invalidate(ctx, shepherds[0].Addr) })
	wg.Wait()
	r.http.CloseIdleConnections()
}

// reader gets the hot key until the deadline or MaxOps; on a miss it
// refills from the origin and sets the value, as an application would.
func (r *herdRun) reader(ctx context.Context, id int, addr string) {
	sess := proxyTarget("", addr).session(2*time.Second, false)
	defer sess.close()
	get := []op{{kind: opGet, keys: [][]byte{[]byte(r.h.Key)}}}
	reps := make([]reply, 1)
	rng := rand.New(rand.NewPCG(uint64(id), 3))
	if !sleepUntil(ctx, time.Now().Add(time.Duration(rng.Int64N(int64(r.h.Think)+1)))) {
		return
	}
	for n := int64(0); n < r.h.MaxOps && ctx.Err() == nil; n++ {
		t0 := time.Now()
		sess.do(get, reps)
		o := outcomeOf(&reps[0], t0) // o.at stays when the miss was served
		if !o.err && o.misses > 0 {
			r.missed(o.at)
			o.err = r.refill(ctx, sess, o.at) != nil
			o.lat = time.Since(t0) // until the reader holds a value
		}
		r.rec.record(id, o)
		r.stormRecord(id, t0, o)
		if !sleepUntil(ctx, time.Now().Add(r.h.Think)) {
			return
		}
	}
}

// missed notes a miss handed to a client at served.
func (r *herdRun) missed(served time.Time) {
	r.mu.Lock()
	r.misses = append(r.misses, served.Sub(r.start))
	r.mu.Unlock()
}

// stormRecord adds o to the storm whose window holds t0.
func (r *herdRun) stormRecord(id int, t0 time.Time, o outcome) {
	at := t0.Sub(r.start)
	for i, inv := range r.h.Invalidate {
		if at >= inv && at < inv+r.h.Storm {
			r.storms[i].record(id, o)
		}
	}
}

// refill fetches a value from the origin and sets it through sess. The
// origin is told when the miss that caused the fill was served.
func (r *herdRun) refill(ctx context.Context, sess *session, missed time.Time) error {
	u := fmt.Sprintf("http://%s/fill?by=client&key=%s&miss_ns=%d", r.org.Addr, url.QueryEscape(r.h.Key), missed.Sub(r.start).Nanoseconds())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	val, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("origin: %v %v", resp.Status, err)
	}
	set := []op{{kind: opSet, keys: [][]byte{[]byte(r.h.Key)}, val: val, ttl: int(r.h.TTL.Seconds())}}
	reps := make([]reply, 1)
	sess.do(set, reps)
	return reps[0].err
}

// invalidate deletes the key through one shepherd at each planned moment.
func (r *herdRun) invalidate(ctx context.Context, addr string) {
	for _, at := range r.h.Invalidate {
		if !sleepUntil(ctx, r.start.Add(at)) {
			return
		}
		sendLine(addr, "delete "+r.h.Key)
	}
}

// fill summarizes the run into m.
func (r *herdRun) fill(m *HerdMode) {
	m.Invalidations = len(r.h.Invalidate)
	ops, errs, _, _ := r.rec.counts()
	m.Reads, m.Errors = ops, errs
	m.Latency, m.Series = r.rec.summary(), r.rec.series()
	fills := r.org.taken()
	m.Misses, m.Fills = int64(len(r.misses)), int64(len(fills))
	for _, f := range fills {
		if f.byClient {
			m.FillsByClients++
		} else {
			m.FillsByShepherd++
		}
	}
	m.MissesPerInvalidation = ratio(float64(m.Misses), float64(m.Invalidations))
	m.FillsPerInvalidation = ratio(float64(m.Fills), float64(m.Invalidations))
	m.FillSeries = fillSeries(fills, r.rec.width, r.h.Duration)
	r.splitStorms(m, fills)
}

// splitStorms splits misses and fills by invalidation, and merges storm latencies.
func (r *herdRun) splitStorms(m *HerdMode, fills []fill) {
	all := newHist(histSigFigs)
	for i, at := range r.h.Invalidate {
		end := r.h.Duration + time.Hour
		if i+1 < len(r.h.Invalidate) {
			end = r.h.Invalidate[i+1]
		}
		st := HerdStorm{At: at.Seconds()}
		for _, t := range r.misses {
			if t >= at && t < end {
				st.Misses++
				st.Settled = max(st.Settled, (t - at).Seconds())
			}
		}
		for _, f := range fills {
			if f.cause >= at && f.cause < end {
				st.Fills++
			}
		}
		sum := r.storms[i].summary()
		st.P99, st.Max = sum.P99, sum.Max
		for j := range r.storms[i].shards {
			all.Merge(r.storms[i].shards[j].all)
		}
		m.Storms = append(m.Storms, st)
		m.Events = append(m.Events, Event{T: at.Seconds(), Label: "delete " + r.h.Key})
	}
	m.StormLatency = summarize(all)
}

// fillSeries buckets fills per second by who asked.
func fillSeries(fills []fill, width, total time.Duration) []FillRate {
	n := int(total/width) + 1
	out := make([]FillRate, n)
	per := 1 / width.Seconds()
	for i := range out {
		out[i].T = float64(i) * width.Seconds()
	}
	for _, f := range fills {
		i := min(int(f.at/width), n-1)
		if f.byClient {
			out[i].Clients += per
		} else {
			out[i].Shepherd += per
		}
	}
	return out
}
