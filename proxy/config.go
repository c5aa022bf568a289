// Config: the validated shape of a running shepherd, filled by cmd/shepherd.
package proxy

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/ring"
)

// Defaults applied by Config.Validate to zero fields.
const (
	DefaultMaxConnections = 4096
	DefaultMaxItemSize    = 1 << 20
	DefaultTimeout        = 250 * time.Millisecond
	DefaultConnectTimeout = 100 * time.Millisecond
	DefaultConnections    = 2
	DefaultMaxInflight    = 4096
	DefaultSpoolLimit     = 100000
)

// Config is everything a Server needs. Zero fields mean the default.
type Config struct {
	Listen         string // "127.0.0.1:11211" or "unix:/path/to.sock"
	Admin          string // /metrics and /healthz; empty disables
	MaxConnections int    // client connections; default 4096
	MaxItemSize    int    // largest value accepted from clients; default 1 MiB
	Pools          map[string]*PoolConfig
	Routes         []Route // key prefix → pool, longest prefix wins
	DefaultPool    string  // pool for keys no route names; required with >1 pool
	Logger         *slog.Logger

	// SpoolDir keeps, per ejected node, the keys written elsewhere while it
	// was out (replayed as deletes before it returns). Default:
	// DefaultSpoolDir(Listen), one per instance under the state directory.
	// A running server locks it: no two shepherds share a spool.
	SpoolDir string
	// SpoolLimit bounds spooled keys per node; past it the node is flushed
	// on return instead. Default 100,000.
	SpoolLimit int
	// Herd protects hot keys; nil or empty leaves every key unprotected.
	Herd *HerdConfig
}

// HerdConfig lists the herd rules. Default applies to keys no rule names;
// nil leaves those keys unprotected.
type HerdConfig struct {
	Default *herd.Rule
	Rules   []herd.Rule
}

// PoolConfig is one pool of backend memcached nodes.
type PoolConfig struct {
	Name           string
	Listen         string // optional extra listener whose keys all go to this pool (twemproxy style)
	Ring           ring.Options
	Timeout        time.Duration // per backend request; default 250ms
	ConnectTimeout time.Duration // default 100ms
	Connections    int           // pipelined connections per node; default 2
	MaxInflight    int           // requests in flight per node before rejecting; default 4096
	Servers        []ring.Node

	// Failure handling (see package health). Zero means the default.
	FailureLimit int           // consecutive failures before ejection; default 2
	RetryTimeout time.Duration // first probe after ejection; default 5s
	RetryMax     time.Duration // probe backoff cap; default 60s
	OnEject      string        // "rehash" (default), "gutter" or "fail"
	Gutter       string        // gutter pool name, with OnEject "gutter"
	GutterTTL    time.Duration // TTL cap of values written to the gutter; default 10s
}

// Route sends keys starting with Prefix to Pool.
type Route struct {
	Prefix string
	Pool   string
}

// Validate fills defaults and checks the config once, before any I/O.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:11211"
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxItemSize <= 0 {
		c.MaxItemSize = DefaultMaxItemSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SpoolDir == "" {
		c.SpoolDir = DefaultSpoolDir(c.Listen)
	}
	if c.SpoolLimit <= 0 {
		c.SpoolLimit = DefaultSpoolLimit
	}
	if err := c.validateHerd(); err != nil {
		return err
	}
	if len(c.Pools) == 0 {
		return fmt.Errorf("proxy: config has no pools")
	}
	for name, p := range c.Pools {
		p.Name = name
		if err := p.validate(); err != nil {
			return err
		}
	}
	if c.DefaultPool == "" {
		if len(c.Pools) > 1 {
			return fmt.Errorf("proxy: default_pool is required with %d pools", len(c.Pools))
		}
		for name := range c.Pools {
			c.DefaultPool = name
		}
	}
	if c.Pools[c.DefaultPool] == nil {
		return fmt.Errorf("proxy: default_pool %q is not a pool", c.DefaultPool)
	}
	for _, p := range c.Pools {
		if err := c.checkGutter(p); err != nil {
			return err
		}
	}
	for _, r := range c.Routes {
		if r.Prefix == "" {
			return fmt.Errorf("proxy: route to %q has an empty prefix", r.Pool)
		}
		if c.Pools[r.Pool] == nil {
			return fmt.Errorf("proxy: route %q names unknown pool %q", r.Prefix, r.Pool)
		}
	}
	return nil
}

func (p *PoolConfig) validate() error {
	if len(p.Servers) == 0 {
		return fmt.Errorf("proxy: pool %q has no servers", p.Name)
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = DefaultConnectTimeout
	}
	if p.Connections <= 0 {
		p.Connections = DefaultConnections
	}
	if p.MaxInflight <= 0 {
		p.MaxInflight = DefaultMaxInflight
	}
	switch p.OnEject {
	case "":
		p.OnEject = EjectRehash
	case EjectRehash, EjectGutter, EjectFail:
	default:
		return fmt.Errorf("proxy: pool %q: on_eject %q: want rehash, gutter or fail", p.Name, p.OnEject)
	}
	if p.GutterTTL <= 0 {
		p.GutterTTL = DefaultGutterTTL
	}
	if p.FailureLimit < 0 || p.RetryTimeout < 0 || p.RetryMax < 0 {
		return fmt.Errorf("proxy: pool %q: failure_limit, retry_timeout and retry_max must not be negative", p.Name)
	}
	seen := map[string]bool{}
	for _, s := range p.Servers {
		if seen[s.Addr] {
			return fmt.Errorf("proxy: pool %q lists %s twice", p.Name, s.Addr)
		}
		seen[s.Addr] = true
		if strings.HasPrefix(s.Addr, "unix:") {
			continue
		}
	}
	if _, err := ring.New(p.Servers, p.Ring); err != nil {
		return fmt.Errorf("proxy: pool %q: %w", p.Name, err)
	}
	return nil
}

func (c *Config) validateHerd() error {
	if c.Herd == nil {
		return nil
	}
	if c.Herd.Default != nil {
		c.Herd.Default.Prefix = ""
		if err := c.Herd.Default.Validate(); err != nil {
			return err
		}
	}
	for i := range c.Herd.Rules {
		r := &c.Herd.Rules[i]
		if r.Prefix == "" {
			return fmt.Errorf("proxy: herd rule %d has no prefix (use herd.default for every key)", i)
		}
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) checkGutter(p *PoolConfig) error {
	switch {
	case p.OnEject != EjectGutter:
		return nil
	case p.Gutter == "":
		return fmt.Errorf("proxy: pool %q: on_eject: gutter needs gutter: <pool name>", p.Name)
	case p.Gutter == p.Name:
		return fmt.Errorf("proxy: pool %q: gutter: a pool cannot be its own gutter", p.Name)
	case c.Pools[p.Gutter] == nil:
		return fmt.Errorf("proxy: pool %q: gutter: %q is not a pool", p.Name, p.Gutter)
	}
	return nil
}
