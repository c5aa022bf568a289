// Package herd coordinates readers of one key: coalescing inside a
// sidecar, fleet-wide stale-while-revalidate through memcached's meta
// protocol, lease holds, origin fills and fill-on-invalidate.
package herd

import (
	"fmt"
	"strings"
	"time"
)

// Rule says how keys with a prefix are protected. A zero field means the
// default noted beside it, which WithDefaults fills in.
type Rule struct {
	// Prefix: keys starting with it; "" only for the default rule. A "*"
	// stands for one segment, any bytes up to the next ':', so that a rule
	// can name keys after a framework's own prefix: Django's
	// KEY_PREFIX:VERSION:key is matched by "app:*:thread:".
	Prefix        string
	StaleTTL      time.Duration // how long an invalidated value may still be served stale; default 30s
	Hold          time.Duration // how long a non-winner waits on a cold miss; default 1s
	LeaseTTL      time.Duration // how long a win lasts before another reader may win; default 10s
	Origin        string        // optional URL template with {key}; shepherd fills from it
	TTL           time.Duration // TTL of values filled from the origin; default 0 (no expiry)
	OriginTimeout time.Duration // per origin request; default 2s
}

// Defaults for zero Rule fields.
const (
	DefaultStaleTTL      = 30 * time.Second
	DefaultHold          = time.Second
	DefaultLeaseTTL      = 10 * time.Second
	DefaultOriginTimeout = 2 * time.Second
	// MaxTTL is the longest relative TTL memcached accepts: above it a TTL
	// is read as an absolute unix time.
	MaxTTL = 30 * 24 * time.Hour
)

// WithDefaults returns r with each zero duration given its default (TTL
// stays: zero means no expiry). It is the one place a rule's defaults are
// decided: shepherd's proxy.Config.FillDefaults calls it, and a library
// user calls it before New. Negative values are kept, for Validate to
// refuse.
func (r Rule) WithDefaults() Rule {
	setDefault(&r.StaleTTL, DefaultStaleTTL)
	setDefault(&r.Hold, DefaultHold)
	setDefault(&r.LeaseTTL, DefaultLeaseTTL)
	setDefault(&r.OriginTimeout, DefaultOriginTimeout)
	return r
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Validate checks the rule as it will run, zero fields read as their
// defaults (WithDefaults); it changes nothing.
func (r Rule) Validate() error {
	r = r.WithDefaults()
	if r.Hold < 0 || r.OriginTimeout < 0 || r.TTL < 0 {
		return fmt.Errorf("herd: rule %q: hold, origin_timeout and ttl must not be negative", r.Prefix)
	}
	if r.Origin != "" && !strings.Contains(r.Origin, "{key}") {
		return fmt.Errorf("herd: rule %q: origin %q has no {key}", r.Prefix, r.Origin)
	}
	if r.StaleTTL < time.Second || r.LeaseTTL < time.Second {
		return fmt.Errorf("herd: rule %q: stale_ttl and lease_ttl must be at least 1s (memcached TTLs are whole seconds)", r.Prefix)
	}
	if r.TTL != 0 && r.TTL < time.Second {
		return fmt.Errorf("herd: rule %q: ttl %v: use 0 for no expiry or at least 1s (memcached TTLs are whole seconds)", r.Prefix, r.TTL)
	}
	for name, d := range map[string]time.Duration{"ttl": r.TTL, "stale_ttl": r.StaleTTL, "lease_ttl": r.LeaseTTL} {
		if d > MaxTTL {
			return fmt.Errorf("herd: rule %q: %s %v is over 30 days, which memcached would read as a unix time", r.Prefix, name, d)
		}
	}
	return nil
}

// matchPrefix reports whether key starts with pattern, where each "*" in
// pattern matches any bytes up to the next ':' (or the key's end).
func matchPrefix(pattern string, key []byte) bool {
	for {
		star := strings.IndexByte(pattern, '*')
		if star < 0 {
			return len(key) >= len(pattern) && string(key[:len(pattern)]) == pattern
		}
		if len(key) < star || string(key[:star]) != pattern[:star] {
			return false
		}
		key, pattern = key[star:], pattern[star+1:]
		for len(key) > 0 && key[0] != ':' {
			key = key[1:]
		}
	}
}
