// Config: the validated shape of a running shepherd, filled by cmd/shepherd.
package proxy

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/shepherd-proxy/shepherd/health"
	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/ring"
)

// Defaults that Config.FillDefaults gives zero fields.
const (
	DefaultListen         = "127.0.0.1:11211"
	DefaultMaxConnections = 4096
	DefaultMaxItemSize    = 1 << 20
	DefaultTimeout        = 250 * time.Millisecond
	DefaultConnectTimeout = 100 * time.Millisecond
	DefaultConnections    = 2
	DefaultMaxInflight    = 4096
	DefaultSpoolLimit     = 100000
	DefaultEventLoops     = 1
)

// EjectPolicies are the values of PoolConfig.OnEject, the default first.
var EjectPolicies = []string{EjectRehash, EjectGutter, EjectFail}

// Config is everything a Server needs. Zero fields mean the default, which
// FillDefaults writes in; negative ones are refused by Validate.
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
	// A running server locks it: no two shepherds share a spool, so two
	// servers in one process (tests) each need their own SpoolDir.
	SpoolDir string
	// SpoolLimit bounds spooled keys per node; past it the node is flushed
	// on return instead. Default 100,000.
	SpoolLimit int
	// Herd protects hot keys; nil or empty leaves every key unprotected.
	Herd *HerdConfig
	// Who may connect (listen.go). A TCP listener off loopback needs
	// ClientTLS or AllowUnauthenticatedRemote; Socket applies to unix
	// socket listeners. Only a restart changes them.
	ClientTLS                  *ClientTLSConfig // nil: plain TCP listeners
	AllowUnauthenticatedRemote bool
	Socket                     SocketConfig

	// ClientIdleTimeout closes a client connection that sent nothing for
	// this long with no request of its own in flight, as memcached's
	// idle_timeout does. Zero (the default) never closes idle clients.
	ClientIdleTimeout time.Duration

	// EventLoops is how many event loops serve plain client connections
	// (loop.go); default 1, -1 for none (every client on goroutines, as
	// TLS clients always are). Only a restart changes it.
	EventLoops int

	// NoLoopIOURing keeps the event loops on write(2) and epoll_wait
	// where the kernel would let them submit a turn's writes and wait in
	// one io_uring_enter (loopring.go; event_loop_io_uring: false). Only
	// a restart changes it.
	NoLoopIOURing bool
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

	// Secure transport to the nodes (tls.go); nil leaves it off.
	TLS  *TLSConfig
	Auth *AuthConfig
}

// Route sends keys starting with Prefix to Pool.
type Route struct {
	Prefix string
	Pool   string
}

// FillDefaults gives every zero field its default, in place: the one
// step that fills defaults (New and Reload call it, then Validate). It
// fills only zero fields, so a negative value stays for Validate to refuse.
// Each default has one owner: proxy's own settings are decided here; a
// pool's ring options, its failure settings and herd rules take theirs from
// ring.Options.WithDefaults, health.Config.WithDefaults and
// herd.Rule.WithDefaults, which also serve those packages' library users.
func (c *Config) FillDefaults() {
	setDefault(&c.Listen, DefaultListen)
	setDefault(&c.MaxConnections, DefaultMaxConnections)
	setDefault(&c.MaxItemSize, DefaultMaxItemSize)
	setDefault(&c.SpoolDir, DefaultSpoolDir(c.Listen))
	setDefault(&c.SpoolLimit, DefaultSpoolLimit)
	setDefault(&c.EventLoops, DefaultEventLoops)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DefaultPool == "" && len(c.Pools) == 1 {
		for name := range c.Pools {
			c.DefaultPool = name
		}
	}
	for name, p := range c.Pools {
		p.Name = name
		p.fillDefaults()
	}
	c.fillListenDefaults()
	if h := c.Herd; h != nil {
		if h.Default != nil {
			*h.Default = h.Default.WithDefaults() // herd owns a rule's defaults
		}
		for i := range h.Rules {
			h.Rules[i] = h.Rules[i].WithDefaults()
		}
	}
}

func (p *PoolConfig) fillDefaults() {
	p.Ring = p.Ring.WithDefaults() // ring owns its defaults
	setDefault(&p.Timeout, DefaultTimeout)
	setDefault(&p.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&p.Connections, DefaultConnections)
	setDefault(&p.MaxInflight, DefaultMaxInflight)
	setDefault(&p.OnEject, EjectPolicies[0])
	setDefault(&p.GutterTTL, DefaultGutterTTL)
	p.fillHealthDefaults()
	p.fillSecureDefaults()
}

// fillHealthDefaults takes the failure settings the file left out from
// package health, which owns them (health.Config.WithDefaults: a retry_max
// left out is at least retry_timeout). A value the file set, negative
// included, stays for Validate.
func (p *PoolConfig) fillHealthDefaults() {
	h := health.Config{FailureLimit: p.FailureLimit, RetryTimeout: p.RetryTimeout, RetryMax: p.RetryMax}.WithDefaults()
	setDefault(&p.FailureLimit, h.FailureLimit)
	setDefault(&p.RetryTimeout, h.RetryTimeout)
	setDefault(&p.RetryMax, h.RetryMax)
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// Validate checks a config that FillDefaults has completed, before any
// I/O, and changes nothing. Each error names the setting. Its only reads
// are of the user and group databases, for socket_owner and socket_group.
func (c *Config) Validate() error {
	if err := c.checkLimits(); err != nil {
		return err
	}
	if err := c.validateHerd(); err != nil {
		return err
	}
	if len(c.Pools) == 0 {
		return fmt.Errorf("proxy: config has no pools")
	}
	for _, name := range sortedNames(c.Pools) {
		if err := c.Pools[name].validate(name); err != nil {
			return err
		}
	}
	if c.DefaultPool == "" {
		return fmt.Errorf("proxy: default_pool is required with %d pools", len(c.Pools))
	}
	if c.Pools[c.DefaultPool] == nil {
		return fmt.Errorf("proxy: default_pool %q is not a pool", c.DefaultPool)
	}
	for _, name := range sortedNames(c.Pools) {
		if err := c.checkGutter(c.Pools[name]); err != nil {
			return err
		}
	}
	if err := c.checkListeners(); err != nil {
		return err
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

// checkLimits checks the server-wide settings.
func (c *Config) checkLimits() error {
	switch {
	case c.Listen == "":
		return fmt.Errorf("proxy: listen is empty")
	case c.MaxConnections < 1:
		return fmt.Errorf("proxy: max_connections %d: want at least 1", c.MaxConnections)
	case c.MaxItemSize < 1:
		return fmt.Errorf("proxy: max_item_size %d: want at least 1 byte", c.MaxItemSize)
	case c.SpoolDir == "":
		return fmt.Errorf("proxy: spool_dir is empty")
	case c.SpoolLimit < 1:
		return fmt.Errorf("proxy: spool_limit %d: want at least 1 key", c.SpoolLimit)
	case c.ClientIdleTimeout < 0:
		return fmt.Errorf("proxy: client_idle_timeout %v: want 0 (off) or more", c.ClientIdleTimeout)
	case c.EventLoops < -1 || c.EventLoops > 64:
		return fmt.Errorf("proxy: event_loops %d: want 1 to 64, or -1 for none", c.EventLoops)
	}
	return nil
}

func (p *PoolConfig) validate(name string) error {
	if p.Name != name {
		return fmt.Errorf("proxy: pool %q is named %q in its config", name, p.Name)
	}
	if len(p.Servers) == 0 {
		return fmt.Errorf("proxy: pool %q has no servers", p.Name)
	}
	if err := p.checkNumbers(); err != nil {
		return fmt.Errorf("proxy: pool %q: %w", p.Name, err)
	}
	if err := p.checkSecure(); err != nil {
		return fmt.Errorf("proxy: pool %q: %w", p.Name, err)
	}
	if !slices.Contains(EjectPolicies, p.OnEject) {
		return fmt.Errorf("proxy: pool %q: on_eject %q: want %s", p.Name, p.OnEject, strings.Join(EjectPolicies, ", "))
	}
	if _, err := ring.New(p.Servers, p.Ring); err != nil { // also refuses a server listed twice
		return fmt.Errorf("proxy: pool %q: %w", p.Name, err)
	}
	return nil
}

// checkNumbers refuses zero and negative counts and durations.
func (p *PoolConfig) checkNumbers() error {
	for _, d := range []struct {
		key string
		v   time.Duration
		min time.Duration
	}{
		{"timeout", p.Timeout, time.Nanosecond},
		{"connect_timeout", p.ConnectTimeout, time.Nanosecond},
		{"retry_timeout", p.RetryTimeout, time.Nanosecond},
		{"retry_max", p.RetryMax, p.RetryTimeout},
		{"gutter_ttl", p.GutterTTL, time.Second}, // memcached TTLs are whole seconds
	} {
		if d.v < d.min {
			return fmt.Errorf("%s %v: want at least %v", d.key, d.v, max(d.min, 0))
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"connections", p.Connections}, {"max_inflight", p.MaxInflight}, {"failure_limit", p.FailureLimit}} {
		if n.v < 1 {
			return fmt.Errorf("%s %d: want at least 1", n.key, n.v)
		}
	}
	return nil
}

func (c *Config) validateHerd() error {
	if c.Herd == nil {
		return nil
	}
	if d := c.Herd.Default; d != nil {
		if d.Prefix != "" {
			return fmt.Errorf("proxy: herd default rule has prefix %q; the default rule has none", d.Prefix)
		}
		if err := d.Validate(); err != nil {
			return err
		}
	}
	for i, r := range c.Herd.Rules {
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
	case p.Gutter != "" && p.OnEject != EjectGutter:
		return fmt.Errorf("proxy: pool %q: gutter %q is set but on_eject is %q; set on_eject: gutter", p.Name, p.Gutter, p.OnEject)
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
