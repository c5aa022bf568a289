// Routes: a key's pool, by the longest matching route prefix.

package placement

import (
	"slices"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// Prefix routes the keys starting with Prefix to To.
type Prefix[P any] struct {
	Prefix string
	To     P
}

// Router picks a pool for a key: the longest matching prefix, else the
// default. Immutable; safe for concurrent use.
type Router[P any] struct {
	routes []Prefix[P] // longest first
	def    P
}

// NewRouter returns a router over routes with def for the keys no prefix
// matches. Of two equal prefixes the first listed wins.
func NewRouter[P any](def P, routes []Prefix[P]) *Router[P] {
	r := &Router[P]{routes: slices.Clone(routes), def: def}
	slices.SortStableFunc(r.routes, func(a, b Prefix[P]) int { return len(b.Prefix) - len(a.Prefix) })
	return r
}

// Pool returns key's pool.
func (r *Router[P]) Pool(key []byte) P {
	for _, e := range r.routes {
		if len(key) >= len(e.Prefix) && string(key[:len(e.Prefix)]) == e.Prefix {
			return e.To
		}
	}
	return r.def
}

// Key returns the bytes a request's key hashes and routes by: key itself,
// or for a base64 meta key its decoding, into scratch (which it keeps for
// the next call).
func Key(req *protocol.Request, key []byte, scratch *[]byte) []byte {
	if !req.Base64 {
		return key
	}
	k := protocol.RouteKey(req, key, *scratch)
	*scratch = k[:0]
	return k
}
