// Meta: the consumer-side view of a backend that speaks memcached's meta
// protocol.
package herd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// Backend runs one meta command for its key on the node that owns it. A
// request with Cmd protocol.CmdGets is a classic gets, for a backend
// without the meta protocol: it is answered as "mg <key> v f c" would be. An error
// line from memcached is a reply (Code "", Error set), not an error. The
// reply's Value belongs to the caller.
type Backend interface {
	Meta(ctx context.Context, req *protocol.MetaRequest) (protocol.MetaReply, error)
}

// BackendFunc adapts a function to Backend.
type BackendFunc func(ctx context.Context, req *protocol.MetaRequest) (protocol.MetaReply, error)

// Meta calls f.
func (f BackendFunc) Meta(ctx context.Context, req *protocol.MetaRequest) (protocol.MetaReply, error) {
	return f(ctx, req)
}

// ErrUnexpected is a backend reply herd does not understand.
var ErrUnexpected = errors.New("herd: unexpected backend reply")

// call runs req and turns an error line into an error.
func call(ctx context.Context, b Backend, req *protocol.MetaRequest) (protocol.MetaReply, error) {
	r, err := b.Meta(ctx, req)
	if err == nil && r.Code == "" {
		err = fmt.Errorf("%w: %s", ErrUnexpected, r.Error)
	}
	return r, err
}

// secs is d in whole seconds, at least 1, as memcached TTLs are given.
func secs(d time.Duration) int64 {
	return max(int64(d/time.Second), 1)
}
