// Package health keeps one state machine per backend node: it counts
// consecutive failures, ejects the node at a limit, probes it in the
// background with backoff and readmits it only after a successful probe.
package health

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// State is where a node is in its life cycle.
type State int32

// A node moves Healthy → Ejected → Probing → Healthy (or back to Ejected).
const (
	Healthy State = iota
	Ejected
	Probing
)

func (s State) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Ejected:
		return "ejected"
	case Probing:
		return "probing"
	}
	return "unknown"
}

// Defaults for zero Config fields.
const (
	DefaultFailureLimit = 2
	DefaultRetryTimeout = 5 * time.Second
	DefaultRetryMax     = 60 * time.Second
	DefaultProbeTimeout = time.Second
	backoffFactor       = 1.5
	// ReadmitTimeout bounds the Readmit hook (a spool replay).
	ReadmitTimeout = 60 * time.Second
)

// Config describes one node's health policy and hooks. A zero (or
// negative) number or duration means the default noted beside it; see
// WithDefaults.
type Config struct {
	FailureLimit int           // consecutive failures before ejection; default 2
	RetryTimeout time.Duration // delay to the first probe; default 5s
	RetryMax     time.Duration // cap of the probe backoff (×1.5 per failed probe); default 60s
	ProbeTimeout time.Duration // bound on one probe; default 1s

	// Probe checks the node (shepherd sends "version"). Required.
	Probe func(ctx context.Context) error
	// Readmit runs after a successful probe and before the node takes
	// traffic again (shepherd replays its spool here). An error counts as
	// a failed probe. Nil means nothing to do.
	Readmit func(ctx context.Context) error
	// OnChange runs after every state change, on the goroutine that made
	// it: Failure's caller for ejections, the prober for the rest. Nil
	// means no one is told.
	OnChange func(from, to State)
}

// Node is one backend node's health. It is safe for concurrent use; create
// it with NewNode.
type Node struct {
	cfg   Config
	state atomic.Int32
	fails atomic.Int32

	ejections atomic.Uint64
	probes    atomic.Uint64
	probeErrs atomic.Uint64

	mu      sync.Mutex // guards probing, closed and subs
	probing bool       // a prober goroutine is running
	subs    []func(from, to State)
	closed  bool
	quit    chan struct{}
	ctx     context.Context // cancelled by Close: bounds probes and Readmit
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the prober
}

// NewNode returns a healthy node, its Config completed by WithDefaults.
func NewNode(cfg Config) *Node {
	ctx, cancel := context.WithCancel(context.Background())
	return &Node{cfg: cfg.WithDefaults(), quit: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// WithDefaults returns c with every zero (or negative) field given its
// default, and RetryMax raised to RetryTimeout when below it.
//
// Package health owns these defaults and this is the one place they are
// decided. shepherd fills its pool config from it in one step
// (proxy.Config.FillDefaults, which takes only the values of fields the
// file left out, so that a negative value stays for proxy's Validate to
// refuse), and passes nodes filled values, on which NewNode's call here
// changes nothing. For a library user, a zero Config field means "the
// default", and a negative one too, so that no Config can make the node
// probe in a busy loop.
func (c Config) WithDefaults() Config {
	if c.FailureLimit <= 0 {
		c.FailureLimit = DefaultFailureLimit
	}
	if c.RetryTimeout <= 0 {
		c.RetryTimeout = DefaultRetryTimeout
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	// Equal values need no change, so "<" and "<=" are the same here.
	if c.RetryMax < c.RetryTimeout {
		c.RetryMax = c.RetryTimeout
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	return c
}

// State returns the node's current state.
func (n *Node) State() State { return State(n.state.Load()) }

// Healthy reports whether client requests may go to the node.
func (n *Node) Healthy() bool { return n.State() == Healthy }

// Ejections, Probes and ProbeFailures count what happened so far.
func (n *Node) Ejections() uint64     { return n.ejections.Load() }
func (n *Node) Probes() uint64        { return n.probes.Load() }
func (n *Node) ProbeFailures() uint64 { return n.probeErrs.Load() }

// Success records a request the node answered.
func (n *Node) Success() {
	if n.fails.Load() != 0 {
		n.fails.Store(0)
	}
}

// Failure records a request the node failed (timeout, refused, reset) and
// ejects it at the limit.
func (n *Node) Failure() {
	if n.fails.Add(1) >= int32(n.cfg.FailureLimit) {
		n.Eject(0)
	}
}

// Eject takes a healthy node out of service and starts its prober, whose
// first probe comes after delay (0 means RetryTimeout). It does nothing if
// the node is already out.
func (n *Node) Eject(delay time.Duration) {
	if !n.state.CompareAndSwap(int32(Healthy), int32(Ejected)) {
		return
	}
	n.ejections.Add(1)
	n.changed(Healthy, Ejected)
	if delay <= 0 {
		delay = n.cfg.RetryTimeout
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.probing || n.closed {
		return
	}
	n.probing = true
	n.wg.Add(1)
	go n.probeLoop(delay)
}

// Subscribe adds fn to those told of every later state change, after
// OnChange and in the order they subscribed, on the goroutine that made
// the change (as OnChange).
func (n *Node) Subscribe(fn func(from, to State)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.subs = append(n.subs, fn)
}

func (n *Node) changed(from, to State) {
	if n.cfg.OnChange != nil {
		n.cfg.OnChange(from, to)
	}
	n.mu.Lock()
	subs := n.subs
	n.mu.Unlock()
	for _, fn := range subs {
		fn(from, to)
	}
}

// probeLoop is the node's only prober: it runs while the node is out.
func (n *Node) probeLoop(delay time.Duration) {
	defer n.wg.Done()
	for {
		t := time.NewTimer(jitter(delay))
		select {
		case <-n.quit:
			t.Stop()
			n.stopProbing()
			return
		case <-t.C:
		}
		if n.probeOnce() {
			return
		}
		delay = min(time.Duration(float64(delay)*backoffFactor), n.cfg.RetryMax)
	}
}

func (n *Node) stopProbing() {
	n.mu.Lock()
	n.probing = false
	n.mu.Unlock()
}

// probeOnce probes and, on success, readmits; it reports readmission.
func (n *Node) probeOnce() bool {
	n.state.Store(int32(Probing))
	n.changed(Ejected, Probing)
	n.probes.Add(1)
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ProbeTimeout)
	defer cancel()
	err := n.cfg.Probe(ctx)
	if err == nil && n.cfg.Readmit != nil {
		rctx, rcancel := context.WithTimeout(n.ctx, ReadmitTimeout)
		err = n.cfg.Readmit(rctx)
		rcancel()
	}
	if err == nil && n.ctx.Err() != nil {
		err = n.ctx.Err() // closed meanwhile: stay out
	}
	if err != nil {
		n.probeErrs.Add(1)
		n.state.Store(int32(Ejected))
		n.changed(Probing, Ejected)
		return false
	}
	n.fails.Store(0)
	// The prober ends here; clear the flag before the node turns healthy,
	// so that an ejection right after starts a new prober.
	n.stopProbing()
	n.state.Store(int32(Healthy))
	n.changed(Probing, Healthy)
	return true
}

// jitter spreads probes of many sidecars: ±10% of d.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// Close stops the prober and waits for a probe in flight (cancelling its
// context). The node stays in its last state.
func (n *Node) Close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.quit)
		n.cancel()
	}
	n.mu.Unlock()
	n.wg.Wait()
}
