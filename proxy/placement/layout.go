// Layouts: the rings a pool has had. A node may still hold values for the
// keys it owned in an earlier ring, so a pool keeps tracking its recent
// rings (package proxy spools, for each, the keys written elsewhere).

package placement

import (
	"fmt"

	"github.com/shepherd-proxy/shepherd/ring"
)

// MaxPast is how many earlier layouts (distinct rings) a pool tracks.
const MaxPast = 8

// Layout is one ring a pool had, with a value for each node it names (in
// package proxy, the node's spool). Immutable; safe for concurrent use.
type Layout[S any] struct {
	Sig     string // servers and ring options: equal rings, equal Sig
	Servers []ring.Node
	Opts    ring.Options
	Nodes   []S // in Servers order
	lookup  func(key []byte) int
}

// NewLayout returns the layout of r, the ring of servers with opts, and
// the nodes' values.
func NewLayout[S any](servers []ring.Node, opts ring.Options, r *ring.Ring, nodes []S) *Layout[S] {
	return &Layout[S]{Sig: Signature(servers, opts), Servers: servers, Opts: opts, Nodes: nodes, lookup: r.Lookup}
}

// Signature identifies a ring: equal servers and options, equal rings.
func Signature(servers []ring.Node, opts ring.Options) string {
	return fmt.Sprintf("%+v|%+v", servers, opts)
}

// Owner returns the value of key's owner in the layout.
func (l *Layout[S]) Owner(key []byte) S { return l.Nodes[l.lookup(key)] }

// Past returns the layouts to track, out of all (newest first), when the
// ring signed cur is in force: without cur's and without repeats, at most
// MaxPast; and those that fell out.
func Past[S any](all []*Layout[S], cur string) (past, dropped []*Layout[S]) {
	seen := map[string]bool{cur: true}
	for _, l := range all {
		switch {
		case seen[l.Sig]:
		case len(past) == MaxPast:
			dropped = append(dropped, l)
		default:
			past = append(past, l)
		}
		seen[l.Sig] = true
	}
	return past, dropped
}
