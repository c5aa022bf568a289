// Replay: what bringing a node up to date writes on it for one key.

package placement

import (
	"fmt"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// CopyOf returns what a replay writes on a node for a key its stand-in
// answered with raw (err: the read failed) to "mg <key> v f t": the value
// and the flags of the meta set that copies it (its client flags and TTL;
// no expiry, t-1, is T0), and ok. Without a value to copy (a miss, an
// error, or a value herd marked stale, which a copy would turn fresh) ok
// is false: the key is deleted on the node instead.
func CopyOf(raw []byte, err error) (value []byte, flags string, ok bool) {
	var r protocol.MetaReply
	if err == nil {
		r, err = protocol.ParseMetaReply(raw)
	}
	if err != nil || r.Code != protocol.MetaValue || r.Stale {
		return nil, "", false
	}
	return r.Value, fmt.Sprintf("F%d T%d", r.Flags, max(r.TTL, 0)), true
}
