// Group: per-key coordination of readers inside one sidecar, and through
// memcached's win/stale flags, across the fleet.
package herd

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// Config configures a Group. Zero fields mean the defaults noted.
type Config struct {
	Rules   []Rule
	Default *Rule // for keys no rule names; nil leaves them unprotected
	// NoMeta says the backends lack the meta protocol (memcached < 1.6):
	// herd then only coalesces concurrent gets of a key.
	NoMeta bool
	// Fill is the backend used for shepherd's own fills from origins.
	// Required when a rule names an origin.
	Fill Backend
	// OriginConcurrency bounds origin requests in flight; default 16.
	OriginConcurrency int
	// Logf reports fill failures; nil discards them.
	Logf func(format string, args ...any)
}

// Result is what a reader gets for one key.
type Result struct {
	Found bool
	Value []byte
	Flags uint32
	CAS   uint64
	// Lease is set when this reader won the refill (and got a miss); the
	// caller keeps it for the reader's next set of the key.
	Lease Lease
}

// Group coordinates the readers and writers of protected keys. It is safe
// for concurrent use; create it with New.
type Group struct {
	cfg    Config
	noMeta atomic.Bool
	sf     singleflight.Group
	origin *origin
	now    func() time.Time

	mu    sync.Mutex // guards holds
	holds map[string]*waitEntry

	fills  sync.WaitGroup  // background origin fills; Close waits for them
	stop   context.Context // the context of background fills, ended by Close
	cancel context.CancelFunc

	Stats Stats
}

// Lease is a win handed to one reader: its next set of the key is the
// refill, written with the win's CAS so that it cannot clobber a value
// written after a later invalidation. The zero Lease is no lease.
type Lease struct {
	CAS     uint64
	Expires time.Time
}

// Valid reports whether the lease is held and unexpired at now.
func (l Lease) Valid(now time.Time) bool { return l.CAS != 0 && now.Before(l.Expires) }

// New returns a Group. It uses the rules as given: fill each with
// Rule.WithDefaults and check it with Rule.Validate first (shepherd's
// proxy.Config.FillDefaults and Validate do).
func New(cfg Config) *Group {
	if cfg.OriginConcurrency <= 0 {
		cfg.OriginConcurrency = 16
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	g := &Group{cfg: cfg, now: time.Now, holds: map[string]*waitEntry{}}
	g.stop, g.cancel = context.WithCancel(context.Background())
	g.origin = newOrigin(cfg.OriginConcurrency)
	g.noMeta.Store(cfg.NoMeta)
	return g
}

// Rule returns the rule protecting key, or nil: the rule with the
// longest prefix that matches (see Rule.Prefix), else the default.
func (g *Group) Rule(key []byte) *Rule {
	best := -1
	for i := range g.cfg.Rules {
		p := g.cfg.Rules[i].Prefix
		if matchPrefix(p, key) && (best < 0 || len(p) > len(g.cfg.Rules[best].Prefix)) {
			best = i
		}
	}
	if best >= 0 {
		return &g.cfg.Rules[best]
	}
	return g.cfg.Default
}

// Meta reports whether the fleet-wide protocol is in use.
func (g *Group) Meta() bool { return !g.noMeta.Load() }

// DisableMeta falls back to coalescing only: the backends turned out to
// lack the meta protocol.
func (g *Group) DisableMeta() { g.noMeta.Store(true) }

// fetch reads key once for every concurrent caller in this sidecar. won
// is true for exactly one caller when the reply carries the win.
func (g *Group) fetch(ctx context.Context, b Backend, key []byte, rule *Rule) (r protocol.MetaReply, won bool, err error) {
	claimed := new(atomic.Bool)
	type shared struct {
		r       protocol.MetaReply
		claimed *atomic.Bool
	}
	ran := false
	v, err, _ := g.sf.Do(string(key), func() (any, error) {
		ran = true
		// The read is shared: one reader's cancellation must not fail the
		// others (the backend bounds it with its own timeout).
		r, err := g.read(context.WithoutCancel(ctx), b, key, rule)
		return shared{r, claimed}, err
	})
	if !ran {
		g.Stats.Coalesced.Add(1)
	}
	if err != nil {
		return protocol.MetaReply{}, false, err
	}
	s := v.(shared)
	return s.r, s.r.Win && s.claimed.CompareAndSwap(false, true), nil
}

func (g *Group) read(ctx context.Context, b Backend, key []byte, rule *Rule) (protocol.MetaReply, error) {
	req := protocol.MetaRequest{Cmd: protocol.CmdMetaGet, Key: key, Return: protocol.ReturnValue | protocol.ReturnFlags | protocol.ReturnCAS, Vivify: secs(rule.LeaseTTL)}
	if g.noMeta.Load() {
		req = protocol.MetaRequest{Cmd: protocol.CmdGets, Key: key}
	}
	return call(ctx, b, &req)
}

// Get reads key for one reader under rule. A reader that wins a refill
// gets a miss (and this sidecar a lease on its next set), unless the rule
// has an origin: then shepherd fills and the reader gets the value.
// Others get the stale value at once, or on a cold miss wait up to Hold.
func (g *Group) Get(ctx context.Context, b Backend, key []byte, rule *Rule) (Result, error) {
	r, won, err := g.fetch(ctx, b, key, rule)
	if err != nil {
		return Result{}, err
	}
	switch {
	case won:
		return g.won(ctx, key, rule, r)
	case r.Stale:
		g.Stats.StaleServed.Add(1)
		return hit(r), nil
	case r.Placeholder():
		return g.hold(ctx, b, key, rule)
	case r.Code == protocol.MetaValue:
		return hit(r), nil
	}
	return Result{}, nil
}

func hit(r protocol.MetaReply) Result {
	return Result{Found: true, Value: r.Value, Flags: r.Flags, CAS: r.CAS}
}

// won handles the one reader of the fleet that may refill key.
func (g *Group) won(ctx context.Context, key []byte, rule *Rule, r protocol.MetaReply) (Result, error) {
	g.Stats.Wins.Add(1)
	if rule.Origin == "" { // the reader refills from its database
		return Result{Lease: Lease{CAS: r.CAS, Expires: g.now().Add(rule.LeaseTTL)}}, nil
	}
	if r.Stale {
		g.Stats.StaleServed.Add(1)
		g.goFill(key, rule, r.CAS)
		return hit(r), nil
	}
	return g.fillFromOrigin(ctx, key, rule, r.CAS), nil
}

// hold waits for a cold key another reader is filling: woken when the
// value is set through this sidecar, otherwise re-reading with backoff,
// for at most rule.Hold.
func (g *Group) hold(ctx context.Context, b Backend, key []byte, rule *Rule) (Result, error) {
	g.Stats.Holds.Add(1)
	deadline := time.NewTimer(rule.Hold)
	defer deadline.Stop()
	wait := 5 * time.Millisecond
	for {
		woken := g.join(key)
		poll := time.NewTimer(wait)
		select {
		case <-woken:
			g.Stats.HoldWakeups.Add(1)
		case <-poll.C:
		case <-deadline.C:
			poll.Stop()
			g.leave(key, woken)
			g.Stats.HoldTimeouts.Add(1)
			return Result{}, nil
		case <-ctx.Done():
			poll.Stop()
			g.leave(key, woken)
			return Result{}, ctx.Err()
		}
		poll.Stop()
		g.leave(key, woken)
		wait = min(2*wait, 100*time.Millisecond)
		r, won, err := g.fetch(ctx, b, key, rule)
		switch {
		case err != nil:
			return Result{}, err
		case won:
			return g.won(ctx, key, rule, r) // the filler gave up; this reader refills
		case r.Code == protocol.MetaValue && !r.Placeholder():
			if r.Stale {
				g.Stats.StaleServed.Add(1)
			}
			return hit(r), nil
		}
	}
}

// waitEntry is the readers held on one key: ch is closed when it is filled.
type waitEntry struct {
	ch chan struct{}
	n  int
}

// join returns a channel closed when key is next filled through here; the
// caller must leave with it.
func (g *Group) join(key []byte) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.holds[string(key)]
	if !ok {
		e = &waitEntry{ch: make(chan struct{})}
		g.holds[string(key)] = e
	}
	e.n++
	return e.ch
}

// leave drops one reader from key's entry, and the entry with the last.
func (g *Group) leave(key []byte, ch chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.holds[string(key)]; ok && e.ch == ch {
		if e.n--; e.n == 0 {
			delete(g.holds, string(key))
		}
	}
}

// Filled wakes the readers held on key: a value was just stored for it
// through this sidecar.
func (g *Group) Filled(key []byte) {
	g.mu.Lock()
	e, ok := g.holds[string(key)]
	if ok {
		delete(g.holds, string(key))
	}
	g.mu.Unlock()
	if ok {
		close(e.ch)
	}
}

// Store writes a reader's refill of key under its lease, guarded by the
// win's CAS. stored is false when a newer invalidation or value
// superseded the fill.
func (g *Group) Store(ctx context.Context, b Backend, key []byte, value []byte, flags uint32, exptime int64, l Lease) (stored bool, err error) {
	r, err := call(ctx, b, &protocol.MetaRequest{Cmd: protocol.CmdMetaSet, Key: key, Value: value, CAS: l.CAS, Flags: flags, TTL: exptime, SetTTL: true})
	if err != nil {
		return false, err
	}
	if r.Code != protocol.MetaOK {
		g.Stats.LateFillsRejected.Add(1)
		return false, nil
	}
	g.Filled(key)
	return true, nil
}

// Now is the group's clock.
func (g *Group) Now() time.Time { return g.now() }

// goFill fills key from the origin in the background: a stale reader won
// and was served the old value.
func (g *Group) goFill(key []byte, rule *Rule, cas uint64) {
	key = bytes.Clone(key) // the caller's buffer
	g.fills.Add(1)
	go func() {
		defer g.fills.Done()
		g.fillFromOrigin(g.stop, key, rule, cas)
	}()
}

// goRefill refills a just-invalidated key from the origin in the
// background.
func (g *Group) goRefill(key []byte, rule *Rule) {
	key = bytes.Clone(key) // the caller's buffer
	g.fills.Add(1)
	go func() {
		defer g.fills.Done()
		g.refillNow(g.stop, key, rule)
	}()
}

// Close stops background fills and waits for them to return. Reads and
// writes still work after Close, without background fills.
func (g *Group) Close() {
	g.cancel()
	g.fills.Wait()
}
