// Gutter: while a node is out under on_eject: gutter, its keys live in a
// small gutter pool, written there with a capped TTL so that whatever the
// gutter holds is short-lived.
package proxy

import (
	"strconv"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// DefaultGutterTTL caps the TTL of values written to a gutter pool.
const DefaultGutterTTL = 10 * time.Second

// gutterTTL returns the TTL cap, in seconds, for keys of from written to p.
func (p *pool) gutterTTL(from *pool) int64 {
	return max(int64(from.settings().GutterTTL/time.Second), 1) // FillDefaults set it
}

// capTTL rewrites req's expiration to at most ttl seconds: for the storage
// commands, touch, and ms (its T flag).
func capTTL(req *protocol.Request, ttl int64) {
	switch {
	case req.Cmd.IsStorage():
		req.Args[1] = capped(req.Args[1], ttl)
	case req.Cmd == protocol.CmdTouch:
		req.Args[0] = capped(req.Args[0], ttl)
	case req.Cmd == protocol.CmdMetaSet:
		for i, a := range req.Args {
			if i > 0 && len(a) > 0 && a[0] == 'T' {
				req.Args[i] = append([]byte("T"), capped(a[1:], ttl)...)
				return
			}
		}
		req.Args = append(req.Args, strconv.AppendInt([]byte("T"), ttl, 10))
	}
}

// capped returns exptime, or ttl when exptime is 0 (never), longer than
// ttl, or an absolute time (memcached reads values over 30 days so).
func capped(exptime []byte, ttl int64) []byte {
	e, err := strconv.ParseInt(string(exptime), 10, 64)
	if err == nil && e < 0 {
		return exptime
	}
	if err != nil || e == 0 || e > ttl {
		return strconv.AppendInt(nil, ttl, 10)
	}
	return exptime
}
