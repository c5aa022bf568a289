// Cache: the memcached client (pointed at the local shepherd), the key
// scheme, and fill leases; every request sent is counted in Stats.

package comments

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// TTLs of cached values, in seconds. Invalidation is explicit; the TTLs
// only bound how long a lost delete can leave a stale value.
const (
	objectTTL = 24 * 3600 // post:{id}, user:{id}
	threadTTL = 3600      // thread:{id}
	pageTTL   = 3600      // thread:{id}:page:{n}:{order}
	leaseTTL  = 5         // a fill lease whose holder died expires
)

// leasePrefix marks a value that is a fill lease, not data.
var leasePrefix = []byte("\x00lease ")

func threadKey(id int64) string { return fmt.Sprintf("thread:%d", id) }
func postKey(id int64) string   { return fmt.Sprintf("post:%d", id) }
func userKey(id int64) string   { return fmt.Sprintf("user:%d", id) }

func pageKey(thread int64, n int, order Order) string {
	return fmt.Sprintf("thread:%d:page:%d:%s", thread, n, order)
}

// Cache is a memcached client for the service, normally pointed at the
// shepherd sidecar on 127.0.0.1:11211. It is safe for concurrent use. A nil
// *Cache is valid: every get misses and every write is dropped.
type Cache struct {
	mc   *memcache.Client
	pipe *pipe // batches of sets; nil with several addresses
	log  *slog.Logger
}

// NewCache returns a Cache over the memcached (or shepherd) servers at addrs.
func NewCache(log *slog.Logger, addrs ...string) *Cache {
	mc := memcache.New(addrs...)
	mc.Timeout = time.Second
	mc.MaxIdleConns = 64
	if log == nil {
		log = slog.Default()
	}
	c := &Cache{mc: mc, log: log}
	if len(addrs) == 1 {
		c.pipe = &pipe{addr: addrs[0], timeout: mc.Timeout}
	}
	return c
}

// Close closes the idle connections.
func (c *Cache) Close() error {
	if c == nil {
		return nil
	}
	if c.pipe != nil {
		c.pipe.close()
	}
	return c.mc.Close()
}

// do sends one request, counting and timing it in ctx's Stats. A miss is
// not an error; anything else is logged and returned.
func (c *Cache) do(ctx context.Context, op string, fn func() error) error {
	start := time.Now()
	err := fn()
	d := time.Since(start)
	if ctx.Value(concurrentKey{}) != nil {
		d = 0 // the caller times the batch as a whole
	}
	statsFrom(ctx).addCacheOp(op, d)
	if err != nil && !expected(err) {
		c.log.Warn("comments: cache request failed", "op", op, "err", err)
	}
	return err
}

// concurrentKey marks a context whose cache requests run concurrently:
// each is counted, but time is taken once for the batch (wall clock).
type concurrentKey struct{}

// expected errors are answers, not failures.
func expected(err error) bool {
	return errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrNotStored) || errors.Is(err, memcache.ErrCASConflict)
}

// getMulti fetches keys in one request. Failures read as misses; leases
// are returned as they are (see isLease).
func (c *Cache) getMulti(ctx context.Context, keys []string) map[string]*memcache.Item {
	if c == nil || len(keys) == 0 {
		return nil
	}
	var got map[string]*memcache.Item
	c.do(ctx, "get "+strings.Join(keys, " "), func() (err error) {
		got, err = c.mc.GetMulti(keys)
		return err
	})
	hits := 0
	for _, it := range got {
		if !isLease(it.Value) {
			hits++
		}
	}
	statsFrom(ctx).addLookups(hits, len(keys)-hits)
	return got
}

// set stores value under key unconditionally.
func (c *Cache) set(ctx context.Context, key string, value []byte, ttl int32) {
	if c == nil {
		return
	}
	c.do(ctx, "set "+key, func() error {
		return c.mc.Set(&memcache.Item{Key: key, Value: value, Expiration: ttl})
	})
}

// delete invalidates key; a missing key is not an error.
func (c *Cache) delete(ctx context.Context, key string) error {
	if c == nil {
		return nil
	}
	err := c.do(ctx, "delete "+key, func() error { return c.mc.Delete(key) })
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil
	}
	return err
}

// lease claims the right to fill an absent key, before the filler reads
// the database: it adds a placeholder that a writer's delete removes. ok
// is false when the key exists (a value or someone else's lease).
func (c *Cache) lease(ctx context.Context, key string) (token []byte, ok bool) {
	if c == nil {
		return nil, false
	}
	token = newLeaseToken()
	err := c.do(ctx, "add "+key, func() error {
		return c.mc.Add(&memcache.Item{Key: key, Value: token, Expiration: leaseTTL})
	})
	return token, err == nil
}

// fill replaces our lease on key with value, only if the lease is still
// there: if a writer deleted it meanwhile, what we read from the database
// may predate the write, and we must not cache it.
func (c *Cache) fill(ctx context.Context, key string, token, value []byte, ttl int32) {
	var it *memcache.Item
	err := c.do(ctx, "gets "+key, func() (err error) {
		it, err = c.mc.Get(key)
		return err
	})
	if err != nil || !bytes.Equal(it.Value, token) {
		return
	}
	it.Value, it.Expiration = value, ttl
	c.do(ctx, "cas "+key, func() error { return c.mc.CompareAndSwap(it) })
}

func newLeaseToken() []byte {
	var b [8]byte
	rand.Read(b[:])
	return append(append([]byte{}, leasePrefix...), hex.EncodeToString(b[:])...)
}

// isLease reports whether a cached value is a fill lease, which readers
// treat as a miss.
func isLease(v []byte) bool { return bytes.HasPrefix(v, leasePrefix) }
