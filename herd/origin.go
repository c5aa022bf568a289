// Origin: filling a key from an HTTP origin on a win, with bounded
// concurrency, a timeout, and retries that keep the stale value served.
package herd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// ErrOriginNotFound is an origin's 404: the key has no value.
var ErrOriginNotFound = errors.New("herd: origin has no value for key")

// maxOriginBody bounds a value fetched from an origin.
const maxOriginBody = 16 << 20

type origin struct {
	client *http.Client
	slots  chan struct{}
}

func newOrigin(concurrency int) *origin {
	return &origin{client: &http.Client{}, slots: make(chan struct{}, concurrency)}
}

// fetch GETs the rule's origin URL for key: 200 is the value, 404 is
// ErrOriginNotFound, anything else an error.
func (o *origin) fetch(ctx context.Context, rule *Rule, key []byte) ([]byte, error) {
	select {
	case o.slots <- struct{}{}:
		defer func() { <-o.slots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, rule.OriginTimeout)
	defer cancel()
	u := strings.ReplaceAll(rule.Origin, "{key}", url.QueryEscape(string(key)))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return io.ReadAll(io.LimitReader(resp.Body, maxOriginBody))
	case http.StatusNotFound:
		return nil, ErrOriginNotFound
	}
	return nil, fmt.Errorf("herd: origin %s: %s", u, resp.Status)
}

// fillFromOrigin fetches key and stores it with the win's CAS. On a 404
// the empty item is removed and the reader gets a miss; on other failures
// it retries with backoff while the lease lasts (readers keep the stale
// value meanwhile).
func (g *Group) fillFromOrigin(ctx context.Context, key []byte, rule *Rule, cas uint64) Result {
	deadline := g.now().Add(rule.LeaseTTL)
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		g.Stats.OriginFetches.Add(1)
		val, err := g.origin.fetch(ctx, rule, key)
		switch {
		case err == nil:
			return g.storeFill(ctx, key, rule, cas, val)
		case errors.Is(err, ErrOriginNotFound):
			g.cfg.Fill.Meta(ctx, &protocol.MetaRequest{Cmd: protocol.CmdMetaDelete, Key: key, CAS: cas})
			g.Filled(key)
			return Result{}
		}
		g.Stats.OriginFailures.Add(1)
		g.cfg.Logf("origin fill of %q failed: %v", key, err)
		if g.now().Add(wait).After(deadline) {
			return Result{}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return Result{}
		}
	}
}

func (g *Group) storeFill(ctx context.Context, key []byte, rule *Rule, cas uint64, val []byte) Result {
	req := protocol.MetaRequest{Cmd: protocol.CmdMetaSet, Key: key, Value: val, CAS: cas, TTL: int64(rule.TTL / time.Second), SetTTL: true}
	r, err := call(ctx, g.cfg.Fill, &req)
	if err != nil || r.Code != protocol.MetaOK {
		g.Stats.LateFillsRejected.Add(1)
	} else {
		g.Filled(key)
	}
	return Result{Found: true, Value: val}
}
