// Overrides: command-line knobs laid over a scenario file.
package bench

import "time"

// Overrides are the usual knobs; a zero (or nil) field leaves the file's
// value. Each applies to the kinds that have the knob and is ignored by
// the others.
type Overrides struct {
	Duration    time.Duration // main measured time of each kind; timed events scale with it
	Nodes       int
	Connections []int    // throughput closed-loop points
	Clients     int      // herd readers, failover/rebalance/comments clients
	Shepherds   int      // herd
	Rate        float64  // throughput: every connection point at this fixed rate
	Pipeline    int      // throughput
	Rounds      int      // throughput
	ValueSize   int      // throughput
	Keys        int      // throughput, failover, rebalance
	Zipf        *float64 // throughput, rebalance, comments (thread skew)
	GetRatio    *float64 // throughput
	Posts       int      // comments: seeded posts
	Writes      *float64 // comments: share of requests that write
	MultiGets   []int    // throughput
	Targets     []string // throughput, failover
	Variants    []string // failover
	Modes       []string // herd
	Changes     []string // rebalance
}

// Apply lays o over s and checks the result.
func (s *Scenario) Apply(o Overrides) error {
	setIf(&s.Nodes, o.Nodes)
	switch s.Kind {
	case KindThroughput:
		o.throughput(s.Throughput)
	case KindHerd:
		o.herd(s.Herd)
	case KindFailover:
		o.failover(s.Failover)
	case KindRebalance:
		o.rebalance(s.Rebalance)
	case KindComments:
		o.comments(s.Comments)
	}
	return s.Normalize()
}

func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

func setList[T any](dst *[]T, v []T) {
	if v != nil {
		*dst = v
	}
}

func (o Overrides) throughput(t *Throughput) {
	l := &t.Load
	setIf(&l.Duration, o.Duration)
	setIf(&l.Pipeline, o.Pipeline)
	setIf(&t.Rounds, o.Rounds)
	setIf(&l.ValueSize, o.ValueSize)
	setIf(&l.Keys, o.Keys)
	if o.Rate > 0 {
		l.Mode, l.Rate = "rate", o.Rate
	}
	if o.Zipf != nil {
		l.Zipf = *o.Zipf
	}
	if o.GetRatio != nil {
		l.GetRatio = o.GetRatio
	}
	setList(&t.Connections, o.Connections)
	setList(&t.MultiGets, o.MultiGets)
	setList(&t.Targets, o.Targets)
}

func (o Overrides) herd(h *Herd) {
	if o.Duration > 0 {
		for i := range h.Invalidate {
			h.Invalidate[i] = scale(h.Invalidate[i], h.Duration, o.Duration)
		}
		h.Duration = o.Duration
	}
	setIf(&h.Clients, o.Clients)
	setIf(&h.Shepherds, o.Shepherds)
	setList(&h.Modes, o.Modes)
}

func (o Overrides) failover(f *Failover) {
	if o.Duration > 0 {
		f.FaultAt = scale(f.FaultAt, f.Duration, o.Duration)
		f.ReturnAt = scale(f.ReturnAt, f.Duration, o.Duration)
		f.Duration = o.Duration
	}
	setIf(&f.Clients, o.Clients)
	setIf(&f.Keys, o.Keys)
	setList(&f.Targets, o.Targets)
	setList(&f.Variants, o.Variants)
}

func (o Overrides) rebalance(r *Rebalance) {
	setIf(&r.After, o.Duration)
	setIf(&r.Clients, o.Clients)
	setIf(&r.Keys, o.Keys)
	if o.Zipf != nil {
		r.Zipf = *o.Zipf
	}
	setList(&r.Changes, o.Changes)
}

func (o Overrides) comments(c *Comments) {
	setIf(&c.Duration, o.Duration)
	setIf(&c.Clients, o.Clients)
	setIf(&c.Posts, o.Posts)
	if o.Zipf != nil {
		c.Zipf = *o.Zipf
	}
	if o.Writes != nil {
		c.Writes = o.Writes
	}
}

// scale moves at, a moment within old, to the same share of new.
func scale(at, old, new time.Duration) time.Duration {
	if old <= 0 {
		return at
	}
	return time.Duration(float64(at) * float64(new) / float64(old))
}
