// Exactness: every command but a read answers on a protected key as
// memcached would on the key's logical state, in which the placeholder a
// refill win leaves and a value deleted into the stale window are absent.
// Each command reads the key's state first, then acts with a CAS-guarded
// meta command, and reads again when the key changed in between.
package herd

import (
	"context"
	"errors"
	"fmt"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// State is a protected key's state on its node.
type State uint8

// Key states. Only Live is present to a client.
const (
	Absent      State = iota // no item
	Placeholder              // the empty item a refill win left, not yet filled
	Stale                    // a value deleted into the stale window
	Live                     // a value a client stored
)

// StateOf classifies an mg reply (asked with s, so that an empty value is
// told from a placeholder).
func StateOf(r *protocol.MetaReply) State {
	switch {
	case r.Code != protocol.MetaValue && r.Code != protocol.MetaOK:
		return Absent
	case r.Stale:
		return Stale
	case r.Placeholder():
		return Placeholder
	}
	return Live
}

// Outcome is memcached's answer to a classic command.
type Outcome uint8

// Outcomes.
const (
	Stored Outcome = iota + 1
	NotStored
	Exists
	NotFound
	Deleted
	Touched
	Number      // incr/decr: Answer.Value is the new number
	ClientError // incr/decr of a non-numeric value: Answer.Value is memcached's line
)

// Answer is the outcome of a command and, for incr/decr, its value.
type Answer struct {
	Outcome Outcome
	Value   []byte
}

// Item is the data block of a storage command and its header fields.
type Item struct {
	Value []byte
	Flags uint32
	TTL   int64 // exptime as the client sent it
}

// maxTries bounds how often one command re-reads a key that keeps
// changing between its read and its write.
const maxTries = 8

// ErrContended means a key changed between every read and write of a
// command, maxTries times.
var ErrContended = errors.New("herd: key changed under every try")

// Peek reads key's state without touching it: one mg with its CAS, size
// and TTL. memcached hands a stale item's refill win to any mg: unless the
// caller replaces the item with the CAS read, it must GiveBack the reply.
func (g *Group) Peek(ctx context.Context, b Backend, key []byte) (State, protocol.MetaReply, error) {
	return g.look(ctx, b, key, 0)
}

// GiveBack hands back to the readers a stale item's refill win that r,
// a Peek of key, took.
func (g *Group) GiveBack(ctx context.Context, b Backend, key []byte, r *protocol.MetaReply) {
	g.giveBack(ctx, b, key, r)
}

// look is Look without giving the win back: the caller acts with the CAS
// read, which giving back would change.
func (g *Group) look(ctx context.Context, b Backend, key []byte, ret protocol.MetaReturn) (State, protocol.MetaReply, error) {
	req := protocol.MetaRequest{Cmd: protocol.CmdMetaGet, Key: key, Return: ret | protocol.ReturnCAS | protocol.ReturnSize | protocol.ReturnTTL}
	r, err := call(ctx, b, &req)
	return StateOf(&r), r, err
}

// giveBack re-arms a stale item's win that a look or touch took: marking
// it stale again clears memcached's token (and bumps the CAS, which no
// lease holds: the token was free). Guarded by the CAS read, it does
// nothing to an item that changed since.
func (g *Group) giveBack(ctx context.Context, b Backend, key []byte, r *protocol.MetaReply) {
	if r.Stale && r.Win {
		call(ctx, b, &protocol.MetaRequest{Cmd: protocol.CmdMetaDelete, Key: key, CAS: r.CAS, Invalidate: true})
	}
}

// step acts on one look at a key; done false means look again.
type step func(st State, r protocol.MetaReply) (a Answer, done bool, err error)

func (g *Group) retry(ctx context.Context, b Backend, key []byte, act step) (Answer, error) {
	for range maxTries {
		st, r, err := g.look(ctx, b, key, 0)
		if err != nil {
			return Answer{}, err
		}
		a, done, err := act(st, r)
		g.giveBack(ctx, b, key, &r)
		if err != nil || done {
			return a, err
		}
	}
	return Answer{}, ErrContended
}

// set runs a CAS-guarded ms: Stored (waking held readers) on HD, look
// again on anything else (EX, NF, NS: the key changed).
func (g *Group) set(ctx context.Context, b Backend, req *protocol.MetaRequest) (Answer, bool, error) {
	w, err := call(ctx, b, req)
	if err != nil || w.Code != protocol.MetaOK {
		return Answer{}, err != nil, err
	}
	g.Filled(req.Key)
	return Answer{Outcome: Stored}, true, nil
}

func (it Item) request(key []byte) protocol.MetaRequest {
	return protocol.MetaRequest{Cmd: protocol.CmdMetaSet, Key: key, Value: it.Value, Flags: it.Flags, TTL: it.TTL, SetTTL: true}
}

// Add stores it when key is absent, a placeholder or stale.
func (g *Group) Add(ctx context.Context, b Backend, key []byte, it Item) (Answer, error) {
	return g.retry(ctx, b, key, func(st State, r protocol.MetaReply) (Answer, bool, error) {
		req := it.request(key)
		switch st {
		case Live:
			return Answer{Outcome: NotStored}, true, nil
		case Absent:
			req.Mode = 'E'
		default:
			req.CAS = r.CAS
		}
		return g.set(ctx, b, &req)
	})
}

// Replace stores it only over a live value.
func (g *Group) Replace(ctx context.Context, b Backend, key []byte, it Item) (Answer, error) {
	return g.retry(ctx, b, key, func(st State, r protocol.MetaReply) (Answer, bool, error) {
		if st != Live {
			return Answer{Outcome: NotStored}, true, nil
		}
		req := it.request(key)
		req.CAS = r.CAS
		return g.set(ctx, b, &req)
	})
}

// Concat appends (mode 'A') or prepends ('P') value to a live value.
func (g *Group) Concat(ctx context.Context, b Backend, key []byte, mode byte, value []byte) (Answer, error) {
	return g.retry(ctx, b, key, func(st State, r protocol.MetaReply) (Answer, bool, error) {
		if st != Live {
			return Answer{Outcome: NotStored}, true, nil
		}
		req := protocol.MetaRequest{Cmd: protocol.CmdMetaSet, Key: key, Value: value, Mode: mode, CAS: r.CAS}
		return g.set(ctx, b, &req)
	})
}

// CompareAndSwap is the classic cas: it stores it over a live value whose
// CAS is cas.
func (g *Group) CompareAndSwap(ctx context.Context, b Backend, key []byte, it Item, cas uint64) (Answer, error) {
	return g.retry(ctx, b, key, func(st State, r protocol.MetaReply) (Answer, bool, error) {
		switch {
		case st != Live:
			return Answer{Outcome: NotFound}, true, nil
		case r.CAS != cas:
			return Answer{Outcome: Exists}, true, nil
		}
		req := it.request(key)
		req.CAS = cas
		return g.set(ctx, b, &req)
	})
}

// Arithmetic is incr (mode 'I') or decr ('D') of a live value.
func (g *Group) Arithmetic(ctx context.Context, b Backend, key []byte, mode byte, delta uint64) (Answer, error) {
	return g.retry(ctx, b, key, func(st State, r protocol.MetaReply) (Answer, bool, error) {
		if st != Live {
			return Answer{Outcome: NotFound}, true, nil
		}
		req := protocol.MetaRequest{Cmd: protocol.CmdMetaArithmetic, Key: key, Return: protocol.ReturnValue, CAS: r.CAS, Mode: mode, Delta: delta}
		w, err := b.Meta(ctx, &req)
		switch {
		case err != nil:
			return Answer{}, true, err
		case w.Code == protocol.MetaValue:
			return Answer{Outcome: Number, Value: w.Value}, true, nil
		case w.Code == "" && len(w.Error) > 13 && w.Error[:13] == "CLIENT_ERROR ":
			return Answer{Outcome: ClientError, Value: []byte(w.Error)}, true, nil
		case w.Code == "":
			return Answer{}, true, fmt.Errorf("%w: %s", ErrUnexpected, w.Error)
		}
		return Answer{}, false, nil
	})
}

// Touch sets a live value's TTL.
func (g *Group) Touch(ctx context.Context, b Backend, key []byte, ttl int64) (Answer, error) {
	return g.retry(ctx, b, key, func(st State, r protocol.MetaReply) (Answer, bool, error) {
		if st != Live {
			return Answer{Outcome: NotFound}, true, nil
		}
		req := protocol.MetaRequest{Cmd: protocol.CmdMetaGet, Key: key, Return: protocol.ReturnSize, TTL: ttl, SetTTL: true}
		w, err := call(ctx, b, &req)
		if err != nil {
			return Answer{}, true, err
		}
		g.giveBack(ctx, b, key, &w)
		return Answer{Outcome: Touched}, StateOf(&w) == Live, nil
	})
}

// GetAndTouch is gat/gats of one key: a live value is touched and
// returned; anything else is a miss and is left as it is.
func (g *Group) GetAndTouch(ctx context.Context, b Backend, key []byte, ttl int64) (Result, error) {
	st, r, err := g.look(ctx, b, key, 0)
	g.giveBack(ctx, b, key, &r)
	if err != nil || st != Live {
		return Result{}, err
	}
	req := protocol.MetaRequest{Cmd: protocol.CmdMetaGet, Key: key, Return: protocol.ReturnValue | protocol.ReturnFlags | protocol.ReturnCAS | protocol.ReturnSize, TTL: ttl, SetTTL: true}
	w, err := call(ctx, b, &req)
	if err != nil {
		return Result{}, err
	}
	g.giveBack(ctx, b, key, &w)
	if StateOf(&w) != Live {
		return Result{}, nil
	}
	return hit(w), nil
}

// Invalidate handles a client's delete of a protected key: a live value
// is kept, marked stale for rule.StaleTTL, so that one reader of the
// fleet refills it while the others are served the old value; the answer
// is Deleted. A placeholder is removed and a stale item re-marked (so a
// fill that began before this delete is refused), both NotFound, as for
// any absent key. With an origin, shepherd refills at once.
func (g *Group) Invalidate(ctx context.Context, b Backend, key []byte, rule *Rule) (Answer, error) {
	g.Stats.Invalidations.Add(1)
	return g.retry(ctx, b, key, func(st State, r protocol.MetaReply) (Answer, bool, error) {
		req := protocol.MetaRequest{Cmd: protocol.CmdMetaDelete, Key: key, CAS: r.CAS}
		switch st {
		case Absent:
			return Answer{Outcome: NotFound}, true, nil
		case Stale, Live:
			req.Invalidate, req.TTL, req.SetTTL = true, secs(rule.StaleTTL), true
		}
		w, err := call(ctx, b, &req)
		if err != nil || w.Code != protocol.MetaOK {
			return Answer{}, err != nil, err
		}
		if st != Live {
			return Answer{Outcome: NotFound}, true, nil
		}
		if rule.Origin != "" && g.cfg.Fill != nil {
			g.goRefill(key, rule)
		}
		return Answer{Outcome: Deleted}, true, nil
	})
}

// refillNow takes the win for a just-invalidated key and fills it from the
// origin (fill-on-invalidate). If a reader somewhere won first, its
// sidecar fills instead.
func (g *Group) refillNow(ctx context.Context, key []byte, rule *Rule) {
	req := protocol.MetaRequest{Cmd: protocol.CmdMetaGet, Key: key, Return: protocol.ReturnCAS, Vivify: secs(rule.LeaseTTL)}
	if r, err := call(ctx, g.cfg.Fill, &req); err == nil && r.Win {
		g.Stats.Wins.Add(1)
		g.fillFromOrigin(ctx, key, rule, r.CAS)
	}
}
