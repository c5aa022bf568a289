package proxy_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/health"
	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

func minimalConfig() *proxy.Config {
	return &proxy.Config{
		Pools: map[string]*proxy.PoolConfig{"main": {Servers: []ring.Node{{Addr: "127.0.0.1:1", Weight: 1}}}},
		Herd:  &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "h:"}}},
	}
}

// TestFillDefaultsThenValidate: FillDefaults writes every default in one
// step; Validate then passes and changes nothing.
func TestFillDefaultsThenValidate(t *testing.T) {
	t.Parallel()
	cfg := minimalConfig()
	cfg.FillDefaults()
	p := cfg.Pools["main"]
	for name, got := range map[string]any{
		"listen": cfg.Listen, "max_connections": cfg.MaxConnections, "default_pool": cfg.DefaultPool,
		"timeout": p.Timeout, "failure_limit": p.FailureLimit, "retry_max": p.RetryMax, "on_eject": p.OnEject,
		"gutter_ttl": p.GutterTTL, "herd hold": cfg.Herd.Rules[0].Hold,
	} {
		if reflect.ValueOf(got).IsZero() {
			t.Errorf("%s: got the zero value after FillDefaults; want its default", name)
		}
	}
	before := *p
	rule := cfg.Herd.Rules[0]
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !reflect.DeepEqual(*p, before) || !reflect.DeepEqual(cfg.Herd.Rules[0], rule) {
		t.Errorf("Validate changed the config: pool %+v → %+v, rule %+v → %+v", before, *p, rule, cfg.Herd.Rules[0])
	}
}

// TestValidateRefuses: zero fields Validate sees (FillDefaults not run) and
// negative ones (FillDefaults leaves them) are errors naming the setting.
func TestValidateRefuses(t *testing.T) {
	t.Parallel()
	if err := minimalConfig().Validate(); err == nil || !strings.Contains(err.Error(), "listen is empty") {
		t.Errorf("Validate without FillDefaults: got %v; want listen is empty", err)
	}
	for name, tweak := range map[string]func(*proxy.Config){
		"timeout":             func(c *proxy.Config) { c.Pools["main"].Timeout = -time.Second },
		"connections":         func(c *proxy.Config) { c.Pools["main"].Connections = -1 },
		"failure_limit":       func(c *proxy.Config) { c.Pools["main"].FailureLimit = -2 },
		"max_connections":     func(c *proxy.Config) { c.MaxConnections = -1 },
		"client_idle_timeout": func(c *proxy.Config) { c.ClientIdleTimeout = -time.Second },
		"stale_ttl":           func(c *proxy.Config) { c.Herd.Rules[0].StaleTTL = -time.Second },
		"hold":                func(c *proxy.Config) { c.Herd.Rules[0].Hold = -time.Second },
		"127.0.0.1:1 appears twice": func(c *proxy.Config) {
			c.Pools["main"].Servers = append(c.Pools["main"].Servers, ring.Node{Addr: "127.0.0.1:1", Weight: 1})
		},
	} {
		cfg := minimalConfig()
		tweak(cfg)
		cfg.FillDefaults()
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v; want an error naming %s", name, err, name)
		}
	}
}

// TestFillHealthDefaults: a pool's failure settings left out take package
// health's values (health owns them), a retry_max left out is at least
// retry_timeout, and set values, negative included, stay.
func TestFillHealthDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		in, want proxy.PoolConfig
	}{
		{"left out", proxy.PoolConfig{},
			proxy.PoolConfig{FailureLimit: health.DefaultFailureLimit, RetryTimeout: health.DefaultRetryTimeout, RetryMax: health.DefaultRetryMax}},
		{"long retry_timeout raises the default retry_max", proxy.PoolConfig{RetryTimeout: 2 * time.Minute},
			proxy.PoolConfig{FailureLimit: health.DefaultFailureLimit, RetryTimeout: 2 * time.Minute, RetryMax: 2 * time.Minute}},
		{"set values stay", proxy.PoolConfig{FailureLimit: 5, RetryTimeout: time.Second, RetryMax: 2 * time.Second},
			proxy.PoolConfig{FailureLimit: 5, RetryTimeout: time.Second, RetryMax: 2 * time.Second}},
		{"negative values stay for Validate", proxy.PoolConfig{FailureLimit: -1, RetryTimeout: -time.Second},
			proxy.PoolConfig{FailureLimit: -1, RetryTimeout: -time.Second, RetryMax: health.DefaultRetryMax}},
	} {
		cfg := minimalConfig()
		p := cfg.Pools["main"]
		p.FailureLimit, p.RetryTimeout, p.RetryMax = tc.in.FailureLimit, tc.in.RetryTimeout, tc.in.RetryMax
		cfg.FillDefaults()
		if p.FailureLimit != tc.want.FailureLimit || p.RetryTimeout != tc.want.RetryTimeout || p.RetryMax != tc.want.RetryMax {
			t.Errorf("%s: got failure_limit %d, retry_timeout %v, retry_max %v; want %d, %v, %v", tc.name,
				p.FailureLimit, p.RetryTimeout, p.RetryMax, tc.want.FailureLimit, tc.want.RetryTimeout, tc.want.RetryMax)
		}
	}
}

// TestStatsSettingsShowFilledRing: stats settings names the ring options
// the pool runs with, filled by ring's defaults: under libmemcached compat
// the default hash is one_at_a_time (it used to say md5).
func TestStatsSettingsShowFilledRing(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), func(c *proxy.Config) {
		for _, p := range c.Pools {
			p.Ring = ring.Options{Compat: "libmemcached"}
		}
	})
	settings := statsOf(t, dial(t, f.addr), "settings")
	for key, want := range map[string]string{"distribution": "ketama", "hash": "one_at_a_time"} {
		var got string
		for k, v := range settings {
			if strings.HasSuffix(k, ":"+key) {
				got = v
			}
		}
		if got != want {
			t.Errorf("stats settings <pool>:%s: got %q; want %q", key, got, want)
		}
	}
}
