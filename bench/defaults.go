// Defaults and limits: what a zero scenario field means, and the bounds that
// keep every run short, small and on loopback.
package bench

import (
	"fmt"
	"slices"
	"time"
)

// Limits on what a scenario may ask for. They keep a typo from starting
// thousands of processes or a run that never ends.
const (
	maxNodes           = 16
	maxConnections     = 2048
	maxIdleConnections = 10000
	maxClients         = 5000
	maxShepherds       = 16
	maxPipeline        = 1024
	maxMultiGet        = 10000
	maxKeys            = 10_000_000
	maxValueSize       = 1 << 20
	maxPointTime       = 10 * time.Minute
)

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (s *Scenario) defaults() {
	setDefault(&s.Nodes, 3)
	p := &s.Pool
	setDefault(&p.Timeout, 250*time.Millisecond)
	setDefault(&p.ConnectTimeout, 100*time.Millisecond)
	setDefault(&p.FailureLimit, 2)
	setDefault(&p.RetryTimeout, time.Second)
	setDefault(&p.OnEject, "rehash")
	switch s.Kind {
	case KindThroughput:
		setDefault(&s.Sample, 250*time.Millisecond)
		s.Throughput.defaults()
	case KindHerd:
		setDefault(&s.Sample, 100*time.Millisecond)
		s.Herd.defaults()
	case KindFailover:
		setDefault(&s.Sample, 100*time.Millisecond)
		s.Failover.defaults()
	case KindRebalance:
		setDefault(&s.Sample, 250*time.Millisecond)
		s.Rebalance.defaults()
	case KindComments:
		setDefault(&s.Sample, 250*time.Millisecond)
		s.Comments.defaults()
	}
}

// ptrTo returns a pointer to a copy of v.
func ptrTo[T any](v T) *T { return &v }

func (l *Load) defaults() {
	setDefault(&l.Mode, "closed")
	setDefault(&l.Connections, 1)
	setDefault(&l.Pipeline, 1)
	if l.GetRatio == nil {
		l.GetRatio = ptrTo(0.9)
	}
	setDefault(&l.ValueSize, 100)
	setDefault(&l.Keys, 10000)
	setDefault(&l.MultiGet, 1)
	setDefault(&l.Duration, 2*time.Second)
	setDefault(&l.MaxOps, 50_000_000)
	setDefault(&l.Timeout, time.Second)
}

func (t *Throughput) defaults() {
	if t.Targets == nil {
		t.Targets = []string{TargetDirect, TargetShepherd, TargetNutcracker}
	}
	setDefault(&t.Warmup, 200*time.Millisecond)
	setDefault(&t.Rounds, 1)
	t.Load.defaults()
	if t.Connections == nil {
		t.Connections = []int{1, 8, 32}
	}
	if t.MultiGets == nil {
		t.MultiGets = []int{100, 1000}
	}
	setDefault(&t.MultiGetConnections, 4)
	setDefault(&t.RateConnections, 8)
}

func (h *Herd) defaults() {
	setDefault(&h.Clients, 400)
	setDefault(&h.Shepherds, 4)
	setDefault(&h.Duration, 4*time.Second)
	if h.Invalidate == nil {
		h.Invalidate = []time.Duration{time.Second, 2500 * time.Millisecond}
	}
	setDefault(&h.Storm, time.Second)
	setDefault(&h.Think, 5*time.Millisecond)
	setDefault(&h.OriginDelay, 20*time.Millisecond)
	if h.Modes == nil {
		h.Modes = []string{HerdOff, HerdOn, HerdOrigin}
	}
	setDefault(&h.Key, "hot:item")
	setDefault(&h.StaleTTL, 30*time.Second)
	setDefault(&h.Hold, time.Second)
	setDefault(&h.LeaseTTL, 10*time.Second)
	setDefault(&h.TTL, 60*time.Second)
	setDefault(&h.MaxOps, 100_000)
}

func (f *Failover) defaults() {
	if f.Targets == nil {
		f.Targets = []string{TargetShepherd, TargetNutcracker}
	}
	if f.Variants == nil {
		f.Variants = []string{FaultStop, FaultKill, FaultSlow}
	}
	setDefault(&f.Duration, 10*time.Second)
	setDefault(&f.FaultAt, time.Second)
	setDefault(&f.ReturnAt, 6*time.Second)
	setDefault(&f.Clients, 4)
	setDefault(&f.Keys, 300)
	setDefault(&f.Timeout, 2*time.Second)
	setDefault(&f.Think, time.Millisecond)
	setDefault(&f.SlowStop, 150*time.Millisecond)
	setDefault(&f.SlowRun, 50*time.Millisecond)
	setDefault(&f.MaxOps, 1_000_000)
}

func (r *Rebalance) defaults() {
	if r.Changes == nil {
		r.Changes = []string{ChangeAdd, ChangeRemove}
	}
	setDefault(&r.Keys, 20000)
	setDefault(&r.Zipf, 1.1)
	setDefault(&r.Clients, 8)
	setDefault(&r.Before, time.Second)
	setDefault(&r.After, 4*time.Second)
	setDefault(&r.MaxOps, 5_000_000)
}

func (c *Comments) defaults() {
	setDefault(&c.Posts, 20000)
	setDefault(&c.Clients, 8)
	setDefault(&c.Duration, 8*time.Second)
	setDefault(&c.Threads, 200)
	setDefault(&c.Zipf, 1.1)
	setDefault(&c.Pages, 3)
	c.Oldest = orValue(c.Oldest, 0.3)
	c.Writes = orValue(c.Writes, 0.05)
	c.Edits = orValue(c.Edits, 0.3)
	setDefault(&c.PageSize, 50)
	setDefault(&c.Timeout, 5*time.Second)
	setDefault(&c.MaxOps, 1_000_000)
}

// orValue returns p, or a pointer to def when p is nil.
func orValue[T any](p *T, def T) *T {
	if p == nil {
		return &def
	}
	return p
}

// check collects the first failed bound.
type check struct{ err error }

func (c *check) that(ok bool, format string, args ...any) {
	if c.err == nil && !ok {
		c.err = fmt.Errorf("%w: "+format, append([]any{ErrScenario}, args...)...)
	}
}

func (c *check) within(name string, v, lo, hi int) {
	c.that(v >= lo && v <= hi, "%s: %d is not within %d..%d", name, v, lo, hi)
}

func (c *check) during(name string, d, lo, hi time.Duration) {
	c.that(d >= lo && d <= hi, "%s: %v is not within %v..%v", name, d, lo, hi)
}

func (c *check) share(name string, v float64) {
	c.that(v >= 0 && v <= 1, "%s: %v is not within 0..1", name, v)
}

func (c *check) among(name string, vs []string, allowed ...string) {
	c.that(len(vs) > 0, "%s: empty list", name)
	for _, v := range vs {
		c.that(slices.Contains(allowed, v), "%s: %q is not one of %v", name, v, allowed)
	}
}

func (s *Scenario) validate() error {
	c := &check{}
	c.within("nodes", s.Nodes, 1, maxNodes)
	c.during("sample", s.Sample, 10*time.Millisecond, time.Minute)
	c.among("pool.on_eject", []string{s.Pool.OnEject}, "rehash", "gutter", "fail")
	c.within("pool.failure_limit", s.Pool.FailureLimit, 1, 1000)
	switch s.Kind {
	case KindThroughput:
		s.Throughput.validate(c)
	case KindHerd:
		s.Herd.validate(c)
	case KindFailover:
		s.Failover.validate(c, s.Nodes)
	case KindRebalance:
		s.Rebalance.validate(c, s.Nodes)
	case KindComments:
		s.Comments.validate(c)
	}
	return c.err
}

func (l *Load) validate(c *check, where string) {
	c.among(where+".mode", []string{l.Mode}, "closed", "rate")
	c.that(l.Mode != "rate" || l.Rate > 0, "%s.rate: mode rate needs rate > 0", where)
	c.within(where+".connections", l.Connections, 1, maxConnections)
	c.within(where+".pipeline", l.Pipeline, 1, maxPipeline)
	c.that(*l.GetRatio >= 0 && *l.GetRatio <= 1, "%s.get_ratio: %v is not within 0..1", where, *l.GetRatio)
	c.within(where+".value_size", l.ValueSize, 1, maxValueSize)
	c.within(where+".keys", l.Keys, 1, maxKeys)
	c.that(l.Zipf == 0 || l.Zipf > 1, "%s.zipf: %v must be 0 (uniform) or > 1", where, l.Zipf)
	c.within(where+".multiget", l.MultiGet, 1, maxMultiGet)
	c.during(where+".duration", l.Duration, time.Millisecond, maxPointTime)
	c.that(l.MaxOps > 0, "%s.max_ops: must be > 0", where)
	c.during(where+".timeout", l.Timeout, time.Millisecond, time.Minute)
}

func (t *Throughput) validate(c *check) {
	c.among("throughput.targets", t.Targets, TargetDirect, TargetShepherd, TargetNutcracker, TargetDirectTLS, TargetShepherdTLS)
	t.Load.validate(c, "throughput.load")
	for _, n := range t.Connections {
		c.within("throughput.connections", n, 1, maxConnections)
	}
	for _, n := range t.MultiGets {
		c.within("throughput.multigets", n, 1, min(maxMultiGet, t.Load.Keys))
	}
	for _, r := range t.Rates {
		c.that(r > 0, "throughput.rates: %v is not > 0", r)
	}
	c.within("throughput.multiget_connections", t.MultiGetConnections, 1, maxConnections)
	c.within("throughput.rate_connections", t.RateConnections, 1, maxConnections)
	c.during("throughput.warmup", t.Warmup, 0, time.Minute)
	c.within("throughput.rounds", t.Rounds, 1, 20)
	c.that(t.IdleConnections >= 0 && t.IdleConnections <= maxIdleConnections, "throughput.idle_connections: %d is not within 0..%d", t.IdleConnections, maxIdleConnections)
}

func (h *Herd) validate(c *check) {
	c.within("herd.clients", h.Clients, 1, maxClients)
	c.within("herd.shepherds", h.Shepherds, 1, maxShepherds)
	c.during("herd.duration", h.Duration, 10*time.Millisecond, maxPointTime)
	for _, at := range h.Invalidate {
		c.during("herd.invalidate", at, 0, h.Duration)
	}
	c.among("herd.modes", h.Modes, HerdOff, HerdOn, HerdOrigin)
	c.that(h.Key != "", "herd.key: empty")
	c.that(h.MaxOps > 0, "herd.max_ops: must be > 0")
	c.during("herd.origin_delay", h.OriginDelay, 0, 10*time.Second)
}

func (f *Failover) validate(c *check, nodes int) {
	c.among("failover.targets", f.Targets, TargetShepherd, TargetNutcracker)
	c.among("failover.variants", f.Variants, FaultStop, FaultKill, FaultSlow)
	c.that(nodes >= 2, "nodes: failover needs at least 2 nodes, got %d", nodes)
	c.during("failover.duration", f.Duration, 10*time.Millisecond, maxPointTime)
	c.during("failover.fault_at", f.FaultAt, 0, f.Duration)
	c.during("failover.return_at", f.ReturnAt, f.FaultAt, f.Duration)
	c.within("failover.clients", f.Clients, 1, maxClients)
	c.within("failover.keys", f.Keys, 1, maxKeys)
	c.that(f.MaxOps > 0, "failover.max_ops: must be > 0")
}

func (r *Rebalance) validate(c *check, nodes int) {
	c.among("rebalance.changes", r.Changes, ChangeAdd, ChangeRemove)
	c.that(nodes >= 2, "nodes: rebalance needs at least 2 nodes, got %d", nodes)
	c.within("rebalance.keys", r.Keys, 1, maxKeys)
	c.that(r.Zipf == 0 || r.Zipf > 1, "rebalance.zipf: %v must be 0 (uniform) or > 1", r.Zipf)
	c.within("rebalance.clients", r.Clients, 1, maxConnections)
	c.during("rebalance.before", r.Before, 0, maxPointTime)
	c.during("rebalance.after", r.After, 10*time.Millisecond, maxPointTime)
	c.that(r.MaxOps > 0, "rebalance.max_ops: must be > 0")
}

func (cm *Comments) validate(c *check) {
	c.within("comments.posts", cm.Posts, 100, maxKeys)
	c.within("comments.clients", cm.Clients, 1, maxConnections)
	c.during("comments.duration", cm.Duration, 10*time.Millisecond, maxPointTime)
	c.during("comments.warmup", cm.Warmup, 0, maxPointTime)
	c.within("comments.threads", cm.Threads, 1, maxKeys)
	c.that(cm.Zipf > 1, "comments.zipf: %v must be > 1", cm.Zipf)
	c.within("comments.pages", cm.Pages, 1, 1000)
	c.within("comments.page_size", cm.PageSize, 1, 1000)
	c.share("comments.oldest", *cm.Oldest)
	c.share("comments.writes", *cm.Writes)
	c.share("comments.edits", *cm.Edits)
	c.during("comments.timeout", cm.Timeout, time.Millisecond, time.Minute)
	c.that(cm.MaxOps > 0, "comments.max_ops: must be > 0")
}
