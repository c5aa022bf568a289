// Gutter: a key served by the gutter pool while its owner is out is
// written there with a capped TTL, so that whatever the gutter holds is
// short-lived.

package placement

import (
	"strconv"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// CapTTL rewrites req's expiration to at most ttl seconds (ttl >= 1): for
// the storage commands, touch, and ms (its T flag, added when absent). An
// expiration within the cap is left as sent.
func CapTTL(req *protocol.Request, ttl int64) {
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

// capped returns exptime, or ttl (at least 1) when exptime is 0 (never),
// longer than ttl, or an absolute time (memcached reads values over 30
// days so). A negative exptime (expired at once) stays.
func capped(exptime []byte, ttl int64) []byte {
	e, err := strconv.ParseInt(string(exptime), 10, 64)
	if err != nil || e == 0 || e > ttl {
		return strconv.AppendInt(nil, ttl, 10)
	}
	return exptime
}
