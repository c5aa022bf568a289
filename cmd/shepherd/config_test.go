package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// TestMain clears SHEPHERD_* from the environment so that a developer's
// shell cannot change what the tests load; see also TestMain in main_test.go.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "" {
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SHEPHERD_") {
				os.Unsetenv(k)
			}
		}
	}
	runChildOrTests(m)
}

// load writes yaml to a file and loads it with args after --config FILE.
func load(t *testing.T, yaml string, args ...string) (*settings, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shepherd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet(io.Discard)
	if err := fs.Parse(append([]string{"--config", path}, args...)); err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	return loadSettings(fs)
}

func mustLoad(t *testing.T, yaml string, args ...string) *settings {
	t.Helper()
	s, err := load(t, yaml, args...)
	if err != nil {
		t.Fatalf("load: got error %v; want none\nconfig:\n%s", err, yaml)
	}
	return s
}

const fullShepherd = `
listen: 127.0.0.1:11211          # or unix:/path/to.sock
admin: 127.0.0.1:9150            # /metrics and /healthz
max_connections: 4096
max_item_size: 1048576
log_level: debug
spool_dir: /var/lib/shepherd/spool
spool_limit: 5000
herd:
  default:
    stale_ttl: 20s
  rules:
    - prefix: "thread:"
      stale_ttl: 60s
      hold: 500ms
      lease_ttl: 5s
      origin: http://127.0.0.1:8080/fill?key={key}
      ttl: 300s
      origin_timeout: 1s
pools:
  main:
    distribution: ketama         # ketama | jump | modula
    hash: md5                    # twemproxy's names
    hash_tag: "{}"               # optional
    ketama_compat: twemproxy     # or libmemcached
    timeout: 250ms               # per backend request
    connect_timeout: 100ms
    connections: 2               # pipelined connections per node
    max_inflight: 100
    failure_limit: 3
    retry_timeout: 2s
    retry_max: 30s
    on_eject: gutter
    gutter: gutter
    gutter_ttl: 5s
    servers:                     # twemproxy style: host:port:weight [name]
      - 127.0.0.1:21211:1 cache-a
      - 127.0.0.1:21212:1
  users:
    listen: 127.0.0.1:11311
    distribution: jump
    hash: fnv1a_64
    timeout: 1s
    servers:
      - 127.0.0.1:21213:3
  gutter:
    on_eject: fail
    servers:
      - 127.0.0.1:21214:1
routes:                          # optional: key prefix -> pool
  - prefix: "user:"
    pool: users
default_pool: main
`

func TestLoadShepherdFull(t *testing.T) {
	t.Parallel()
	s := mustLoad(t, fullShepherd)
	cfg := s.Config
	if s.Format != formatShepherd {
		t.Errorf("format: got %q; want %q", s.Format, formatShepherd)
	}
	if s.LogLevel != slog.LevelDebug {
		t.Errorf("log level: got %v; want debug", s.LogLevel)
	}
	checkEq(t, "listen", cfg.Listen, "127.0.0.1:11211")
	checkEq(t, "admin", cfg.Admin, "127.0.0.1:9150")
	checkEq(t, "max_connections", cfg.MaxConnections, 4096)
	checkEq(t, "max_item_size", cfg.MaxItemSize, 1048576)
	checkEq(t, "default_pool", cfg.DefaultPool, "main")
	checkEq(t, "routes", cfg.Routes, []proxy.Route{{Prefix: "user:", Pool: "users"}})
	checkEq(t, "order", s.Order, []string{"main", "users", "gutter"})
	checkEq(t, "spool_dir", cfg.SpoolDir, "/var/lib/shepherd/spool")
	checkEq(t, "spool_limit", cfg.SpoolLimit, 5000)
	if cfg.Herd == nil || cfg.Herd.Default == nil || len(cfg.Herd.Rules) != 1 {
		t.Fatalf("herd: got %+v; want a default and one rule", cfg.Herd)
	}
	checkEq(t, "herd default stale_ttl", cfg.Herd.Default.StaleTTL, 20*time.Second)
	checkEq(t, "herd default hold (default)", cfg.Herd.Default.Hold, herd.DefaultHold)
	checkEq(t, "herd rule", cfg.Herd.Rules[0], herd.Rule{
		Prefix: "thread:", StaleTTL: time.Minute, Hold: 500 * time.Millisecond, LeaseTTL: 5 * time.Second,
		Origin: "http://127.0.0.1:8080/fill?key={key}", TTL: 300 * time.Second, OriginTimeout: time.Second,
	})
	main := cfg.Pools["main"]
	checkEq(t, "main ring", main.Ring, ring.Options{Distribution: "ketama", Hash: "md5", HashTag: "{}", Compat: "twemproxy"})
	checkEq(t, "main timeout", main.Timeout, 250*time.Millisecond)
	checkEq(t, "main connect_timeout", main.ConnectTimeout, 100*time.Millisecond)
	checkEq(t, "main connections", main.Connections, 2)
	checkEq(t, "main max_inflight", main.MaxInflight, 100)
	checkEq(t, "main failure_limit", main.FailureLimit, 3)
	checkEq(t, "main retry_timeout", main.RetryTimeout, 2*time.Second)
	checkEq(t, "main retry_max", main.RetryMax, 30*time.Second)
	checkEq(t, "main on_eject", main.OnEject, "gutter")
	checkEq(t, "main gutter", main.Gutter, "gutter")
	checkEq(t, "main gutter_ttl", main.GutterTTL, 5*time.Second)
	checkEq(t, "main servers", main.Servers, []ring.Node{
		{Addr: "127.0.0.1:21211", Weight: 1, Name: "cache-a"},
		{Addr: "127.0.0.1:21212", Weight: 1},
	})
	users := cfg.Pools["users"]
	checkEq(t, "users name", users.Name, "users")
	checkEq(t, "users listen", users.Listen, "127.0.0.1:11311")
	checkEq(t, "users ring (compat named by FillDefaults)", users.Ring, ring.Options{Distribution: "jump", Hash: "fnv1a_64", Compat: "twemproxy"})
	checkEq(t, "users timeout", users.Timeout, time.Second)
	checkEq(t, "users connect_timeout (default)", users.ConnectTimeout, proxy.DefaultConnectTimeout)
	checkEq(t, "users servers", users.Servers, []ring.Node{{Addr: "127.0.0.1:21213", Weight: 3}})
}

const minimal = `
pools:
  cache:
    servers: [127.0.0.1:21211:1]
`

func TestLoadShepherdDefaults(t *testing.T) {
	t.Parallel()
	s := mustLoad(t, minimal)
	cfg := s.Config
	checkEq(t, "listen", cfg.Listen, "127.0.0.1:11211")
	checkEq(t, "admin", cfg.Admin, DefaultAdmin)
	checkEq(t, "max_connections", cfg.MaxConnections, proxy.DefaultMaxConnections)
	checkEq(t, "max_item_size", cfg.MaxItemSize, proxy.DefaultMaxItemSize)
	checkEq(t, "default_pool", cfg.DefaultPool, "cache")
	checkEq(t, "log level", s.LogLevel, slog.LevelInfo)
	p := cfg.Pools["cache"]
	checkEq(t, "timeout", p.Timeout, proxy.DefaultTimeout)
	checkEq(t, "connections", p.Connections, proxy.DefaultConnections)
	if cfg.Herd != nil {
		t.Errorf("herd: got %+v; want nil (no herd: section)", cfg.Herd)
	}
}

func TestLoadShepherdVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, cfg *proxy.Config)
	}{
		{"admin empty disables", "admin: \"\"\n" + minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "admin", cfg.Admin, "")
		}},
		{"admin off disables", "admin: \"off\"\n" + minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "admin", cfg.Admin, "")
		}},
		{"unix listen", "listen: unix:/tmp/shepherd.sock\n" + minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "listen", cfg.Listen, "unix:/tmp/shepherd.sock")
		}},
		{"server without weight", "pools:\n  p:\n    servers: [\"10.0.0.1:11211\"]\n", func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "servers", cfg.Pools["p"].Servers, []ring.Node{{Addr: "10.0.0.1:11211", Weight: 1}})
		}},
		{"libmemcached compat", "pools:\n  p:\n    ketama_compat: libmemcached\n    servers: [\"10.0.0.1:11211:2\"]\n", func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "compat", cfg.Pools["p"].Ring.Compat, "libmemcached")
		}},
		{"fractional duration", "pools:\n  p:\n    timeout: 1.5s\n    servers: [\"10.0.0.1:11211\"]\n", func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "timeout", cfg.Pools["p"].Timeout, 1500*time.Millisecond)
		}},
		{"event loops default", minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "event_loops", cfg.EventLoops, proxy.DefaultEventLoops)
		}},
		{"two event loops", "event_loops: 2\n" + minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "event_loops", cfg.EventLoops, 2)
		}},
		{"no event loops", "event_loops: -1\n" + minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "event_loops", cfg.EventLoops, -1)
		}},
		{"io_uring by default", minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "NoLoopIOURing", cfg.NoLoopIOURing, false)
		}},
		{"io_uring off", "event_loop_io_uring: false\n" + minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "NoLoopIOURing", cfg.NoLoopIOURing, true)
		}},
		{"io_uring on", "event_loop_io_uring: true\n" + minimal, func(t *testing.T, cfg *proxy.Config) {
			checkEq(t, "NoLoopIOURing", cfg.NoLoopIOURing, false)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, mustLoad(t, tt.yaml).Config)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	pool := func(lines ...string) string {
		return "pools:\n  main:\n    " + strings.Join(lines, "\n    ") + "\n"
	}
	const srv = "servers: [127.0.0.1:21211:1]"
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"empty file", "", []string{"empty"}},
		{"zero event loops", "event_loops: 0\n" + minimal, []string{"line 1", "1 to 64 event loops, or -1"}},
		{"too many event loops", "event_loops: 65\n" + minimal, []string{"1 to 64 event loops"}},
		{"comment only", "# nothing\n", []string{"empty"}},
		{"yaml syntax", "pools: [\n", []string{"yaml"}},
		{"top level list", "- a\n- b\n", []string{"top level", "a list"}},
		{"duplicate key", "listen: a:1\nlisten: b:2\n" + minimal, []string{`top level: line 2: key "listen" already defined at line 1`}},
		{"duplicate pool", "pools:\n  a:\n    servers: [\"127.0.0.1:1\"]\n  a:\n    servers: [\"127.0.0.1:2\"]\n", []string{`pools: line 4: key "a" already defined`}},
		{"duplicate pool key", pool(srv, "timeout: 1s", "timeout: 2s"), []string{`pool "main": line 5: key "timeout" already defined at line 4`}},
		{"unknown top key", "lisen: 127.0.0.1:1\nadmn: x\n" + minimal, []string{`unknown key "lisen" (line 1), "admn" (line 2)`, "known keys: admin"}},
		{"unknown pool key", pool(srv, "timout: 1s"), []string{`pool "main": unknown key "timout" (line 4)`}},
		{"unknown route key", minimal + "routes:\n  - prefix: a\n    pol: cache\n", []string{`routes[0]: unknown key "pol"`}},
		{"routes not a list", minimal + "routes: {a: b}\n", []string{"routes", "want a list"}},
		{"no pools", "listen: 127.0.0.1:1\n", []string{"no pools"}},
		{"pools not a mapping", "pools: [a, b]\n", []string{"pools", "want a mapping"}},
		{"pool not a mapping", "pools:\n  main: 3\n", []string{`pool "main"`, "want a mapping"}},
		{"no servers", pool("timeout: 1s"), []string{`pool "main": servers: the pool lists no servers`}},
		{"servers not a list", pool("servers: 127.0.0.1:1:1"), []string{`pool "main": servers:`, "want a list"}},
		{"bad duration", pool(srv, "timeout: fast"), []string{`pool "main": timeout: line 4: "fast" is not a duration`}},
		{"duration without unit", pool(srv, "timeout: 250"), []string{`pool "main": timeout:`, "250 has no unit", "250ms"}},
		{"negative duration", pool(srv, "connect_timeout: -1s"), []string{`pool "main": connect_timeout:`, `"-1s"`}},
		{"connections not a number", pool(srv, "connections: two"), []string{`pool "main": connections: line 4: "two" is not a whole number`}},
		{"negative connections", pool(srv, "connections: -2"), []string{`pool "main": connections:`, `"-2"`}},
		{"max_connections text", "max_connections: lots\n" + minimal, []string{"top level: max_connections", `"lots"`}},
		{"bad weight", pool("servers: [\"127.0.0.1:21211:x\"]"), []string{`pool "main": servers: [0] "127.0.0.1:21211:x"`, "weight"}},
		{"zero weight", pool("servers:", "  - 127.0.0.1:21211:1", "  - 127.0.0.1:21212:0"), []string{`pool "main": servers: [1] "127.0.0.1:21212:0"`, "weight"}},
		{"bad server syntax", pool("servers: [\"127.0.0.1:21211:1 a b\"]"), []string{`pool "main": servers: [0]`}},
		{"server list item not scalar", pool("servers: [[a]]"), []string{`pool "main": servers: [0]`}},
		{"duplicate server", pool("servers: [\"127.0.0.1:1:1\", \"127.0.0.1:1:2\"]"), []string{`pool "main"`, "twice"}},
		{"unknown distribution", pool(srv, "distribution: random"), []string{`pool "main": distribution: line 4: "random" is not supported`, "ketama, jump, modula"}},
		{"unknown compat", pool(srv, "ketama_compat: spymemcached"), []string{`pool "main": ketama_compat: line 4: "spymemcached" is not supported`, "twemproxy, libmemcached"}},
		{"unknown hash", pool(srv, "hash: sha1"), []string{`pool "main": hash: line 4: "sha1" is not supported`, "md5, murmur, one_at_a_time"}},
		{"bare hash tag", pool(srv, "hash_tag: {}"), []string{`pool "main": hash_tag:`, `quote it`}},
		{"short hash tag", pool(srv, `hash_tag: "{"`), []string{`pool "main": hash_tag:`, "two characters"}},
		{"route to unknown pool", minimal + "routes:\n  - prefix: \"a:\"\n    pool: nope\n", []string{`"nope"`}},
		{"route without prefix", minimal + "routes:\n  - pool: cache\n", []string{"empty prefix"}},
		{"two pools no default", "pools:\n  a:\n    servers: [\"127.0.0.1:1\"]\n  b:\n    servers: [\"127.0.0.1:2\"]\n", []string{"default_pool is required"}},
		{"unknown default pool", "default_pool: nope\n" + minimal, []string{`default_pool "nope"`}},
		{"listen clash", "listen: 127.0.0.1:5000\npools:\n  a:\n    listen: 127.0.0.1:5000\n    servers: [\"127.0.0.1:1\"]\n", []string{`pool "a": listen 127.0.0.1:5000 is also listen`}},
		{"admin clash", "listen: 127.0.0.1:5000\nadmin: 127.0.0.1:5000\n" + minimal, []string{"admin 127.0.0.1:5000 is also listen"}},
		{"bad log level", "log_level: loud\n" + minimal, []string{`log_level: "loud"`}},
		{"unknown on_eject", pool(srv, "on_eject: retry"), []string{`pool "main": on_eject: line 4: "retry" is not supported; want one of rehash, gutter, fail`}},
		{"gutter without name", pool(srv, "on_eject: gutter"), []string{`pool "main": on_eject: gutter needs gutter: <pool name>`}},
		{"gutter name without policy", pool(srv, "gutter: other"), []string{`pool "main": gutter "other" is set but on_eject is "rehash"`}},
		{"gutter unknown pool", pool(srv, "on_eject: gutter", "gutter: other"), []string{`pool "main": gutter: "other" is not a pool`}},
		{"gutter self", pool(srv, "on_eject: gutter", "gutter: main"), []string{`pool "main": gutter: a pool cannot be its own gutter`}},
		{"bad retry_timeout", pool(srv, "retry_timeout: 5"), []string{`pool "main": retry_timeout:`, "5 has no unit"}},
		{"herd not a mapping", minimal + "herd: [a]\n", []string{"herd: line 5: want a mapping"}},
		{"herd unknown key", minimal + "herd:\n  rule: []\n", []string{`herd: unknown key "rule"`}},
		{"herd default unknown key", minimal + "herd:\n  default:\n    stale: 1s\n", []string{`herd: default: unknown key "stale"`}},
		{"herd rule without prefix", minimal + "herd:\n  rules:\n    - stale_ttl: 5s\n", []string{`herd: rules[0]: prefix: a rule needs a key prefix`}},
		{"herd rule bad duration", minimal + "herd:\n  rules:\n    - prefix: a\n      hold: soon\n", []string{`herd: rules[0]: hold: line 8: "soon" is not a duration`}},
		{"herd rule duplicate prefix", minimal + "herd:\n  rules:\n    - prefix: a\n    - prefix: a\n", []string{`herd: rules[1]: prefix "a" is also rules[0]`}},
		{"herd origin without key", minimal + "herd:\n  rules:\n    - prefix: a\n      origin: http://x/\n", []string{`herd: rules[0]:`, "{key}"}},
		{"herd stale_ttl under 1s", minimal + "herd:\n  default:\n    stale_ttl: 500ms\n", []string{`herd: default:`, "at least 1s"}},
		{"herd rules not a list", minimal + "herd:\n  rules: {a: b}\n", []string{"herd: rules: line 6: want a list"}},
		{"spool_limit negative", "spool_limit: -1\n" + minimal, []string{"top level: spool_limit"}},
		// A zero that would mean nothing is an error naming the key and its
		// line, never a silent default (leave the key out for that).
		{"zero timeout", pool(srv, "timeout: 0s"), []string{`pool "main": timeout: line 4: 0s is not allowed`, "default, 250ms"}},
		{"zero connect_timeout", pool(srv, "connect_timeout: 0ms"), []string{`pool "main": connect_timeout: line 4: 0ms is not allowed`}},
		{"zero connections", pool(srv, "connections: 0"), []string{`pool "main": connections: line 4: 0 is not allowed`, "default, 2"}},
		{"zero max_inflight", pool(srv, "max_inflight: 0"), []string{`pool "main": max_inflight: line 4: 0 is not allowed`}},
		{"zero failure_limit", pool(srv, "failure_limit: 0"), []string{`pool "main": failure_limit: line 4: 0 is not allowed`, "default, 2"}},
		{"zero retry_timeout", pool(srv, "retry_timeout: 0s"), []string{`pool "main": retry_timeout: line 4: 0s is not allowed`}},
		{"retry_max under retry_timeout", pool(srv, "retry_timeout: 10s", "retry_max: 5s"), []string{`pool "main": retry_max 5s: want at least 10s`}},
		{"zero gutter_ttl", pool(srv, "gutter_ttl: 0s"), []string{`pool "main": gutter_ttl: line 4: 0s is not allowed`}},
		{"gutter_ttl under 1s", pool(srv, "on_eject: gutter", "gutter: g", "gutter_ttl: 500ms") + "  g:\n    servers: [127.0.0.1:21212:1]\n", []string{`pool "main": gutter_ttl 500ms: want at least 1s`}},
		{"zero max_connections", "max_connections: 0\n" + minimal, []string{"top level: max_connections: line 1: 0 is not allowed", "default, 4096"}},
		{"zero max_item_size", "max_item_size: 0\n" + minimal, []string{"top level: max_item_size: line 1: 0 is not allowed"}},
		{"zero spool_limit", "spool_limit: 0\n" + minimal, []string{"top level: spool_limit: line 1: 0 is not allowed"}},
		{"negative client_idle_timeout", "client_idle_timeout: -1s\n" + minimal, []string{"top level: client_idle_timeout: line 1"}},
		{"herd zero hold", minimal + "herd:\n  rules:\n    - prefix: a\n      hold: 0s\n", []string{`herd: rules[0]: hold: line 8: 0s is not allowed`}},
		{"pool value is null", "pools:\n  main:\n", []string{`pool "main"`, "want a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.yaml)
			if err == nil {
				t.Fatalf("load: got no error; want one containing %q\nconfig:\n%s", tt.want, tt.yaml)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error: got %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

// twemproxyREADME is the example configuration from twemproxy's README
// (conf/nutcracker.yml): five pools, two of them redis.
const twemproxyREADME = `alpha:
  listen: 127.0.0.1:22121
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  redis: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:6379:1

beta:
  listen: 127.0.0.1:22122
  hash: fnv1a_64
  hash_tag: "{}"
  distribution: ketama
  auto_eject_hosts: false
  timeout: 400
  redis: true
  servers:
   - 127.0.0.1:6380:1 server1
   - 127.0.0.1:6381:1 server2
   - 127.0.0.1:6382:1 server3
   - 127.0.0.1:6383:1 server4
`

// twemproxyMemcached is the memcached part of the same example.
const twemproxyMemcached = `gamma:
  listen: 127.0.0.1:22123
  hash: fnv1a_64
  distribution: ketama
  timeout: 400
  backlog: 1024
  preconnect: true
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 3
  servers:
   - 127.0.0.1:11212:1
   - 127.0.0.1:11213:1

delta:
  listen: 127.0.0.1:22124
  hash: fnv1a_64
  distribution: ketama
  timeout: 100
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:11214:1
   - 127.0.0.1:11215:1
   - 127.0.0.1:11216:1
   - 127.0.0.1:11217:1
   - 127.0.0.1:11218:1
   - 127.0.0.1:11219:1
   - 127.0.0.1:11220:1
   - 127.0.0.1:11221:1
   - 127.0.0.1:11222:1
   - 127.0.0.1:11223:1

omega:
  listen: /tmp/gamma 0666
  hash: hsieh
  distribution: ketama
  auto_eject_hosts: false
  servers:
   - 127.0.0.1:11214:100000
   - 127.0.0.1:11215:1
`

func TestLoadTwemproxyREADMERejectsRedis(t *testing.T) {
	t.Parallel()
	_, err := load(t, twemproxyREADME+"\n"+twemproxyMemcached)
	want := `pool "alpha": redis: true is not supported`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("load: got error %v; want one containing %q", err, want)
	}
}

func TestLoadTwemproxy(t *testing.T) {
	t.Parallel()
	s := mustLoad(t, twemproxyMemcached)
	cfg := s.Config
	checkEq(t, "format", s.Format, formatTwemproxy)
	checkEq(t, "order", s.Order, []string{"gamma", "delta", "omega"})
	checkEq(t, "listen (first pool's)", cfg.Listen, "127.0.0.1:22123")
	checkEq(t, "default_pool (first pool)", cfg.DefaultPool, "gamma")
	checkEq(t, "admin", cfg.Admin, DefaultAdmin)
	gamma, delta, omega := cfg.Pools["gamma"], cfg.Pools["delta"], cfg.Pools["omega"]
	checkEq(t, "gamma listen (served by the main listener)", gamma.Listen, "")
	checkEq(t, "gamma ring (compat named by FillDefaults)", gamma.Ring, ring.Options{Distribution: "ketama", Hash: "fnv1a_64", Compat: "twemproxy"})
	checkEq(t, "gamma timeout", gamma.Timeout, 400*time.Millisecond)
	checkEq(t, "gamma connect_timeout", gamma.ConnectTimeout, 400*time.Millisecond)
	checkEq(t, "gamma servers", gamma.Servers, []ring.Node{{Addr: "127.0.0.1:11212", Weight: 1}, {Addr: "127.0.0.1:11213", Weight: 1}})
	checkEq(t, "delta listen", delta.Listen, "127.0.0.1:22124")
	checkEq(t, "delta timeout", delta.Timeout, 100*time.Millisecond)
	checkEq(t, "delta nodes", len(delta.Servers), 10)
	checkEq(t, "omega listen", omega.Listen, "unix:/tmp/gamma")
	checkEq(t, "socket_mode (omega's listen)", cfg.Socket.Mode, os.FileMode(0o666))
	checkEq(t, "omega hash", omega.Ring.Hash, "hsieh")
	checkEq(t, "omega timeout (default)", omega.Timeout, proxy.DefaultTimeout)
	checkEq(t, "omega weight", omega.Servers[0].Weight, 100000)
	checkEq(t, "gamma on_eject (auto_eject_hosts: true)", gamma.OnEject, "rehash")
	checkEq(t, "gamma failure_limit", gamma.FailureLimit, 3)
	checkEq(t, "gamma retry_timeout", gamma.RetryTimeout, 2*time.Second)
	checkEq(t, "delta failure_limit", delta.FailureLimit, 1)
	checkEq(t, "omega on_eject (auto_eject_hosts: false)", omega.OnEject, "fail")
	notes := strings.Join(s.Notes, "\n")
	for _, w := range []string{
		`pool "gamma": twemproxy key backlog`, `pool "gamma": twemproxy key preconnect`,
		`pool "omega": listen: socket mode 0666`,
	} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes: got\n%s\nwant a line containing %q", notes, w)
		}
	}
}

func TestLoadTwemproxyVariants(t *testing.T) {
	t.Parallel()
	const named = `beta:
  listen: 127.0.0.1:22122
  hash: fnv1a_64
  hash_tag: "{}"
  distribution: ketama
  auto_eject_hosts: false
  timeout: 400
  redis: false
  server_connections: 4
  client_connections: 100
  servers:
   - 127.0.0.1:6380:1 server1
   - 127.0.0.1:6381:1 server2
other:
  listen: 127.0.0.1:22125
  client_connections: 50
  servers:
   - 127.0.0.1:6390:1
`
	s := mustLoad(t, named)
	beta := s.Config.Pools["beta"]
	checkEq(t, "servers", beta.Servers, []ring.Node{{Addr: "127.0.0.1:6380", Weight: 1, Name: "server1"}, {Addr: "127.0.0.1:6381", Weight: 1, Name: "server2"}})
	checkEq(t, "hash_tag", beta.Ring.HashTag, "{}")
	checkEq(t, "connections (server_connections)", beta.Connections, 4)
	checkEq(t, "max_connections (sum of client_connections)", s.Config.MaxConnections, 150)
	// twemproxy's defaults where the file is silent: fnv1a_64, 30 s retry.
	checkEq(t, "default hash", s.Config.Pools["other"].Ring.Hash, "fnv1a_64")
	checkEq(t, "default retry", s.Config.Pools["other"].RetryTimeout, 30*time.Second)

	// --listen replaces the first pool's address; the others keep theirs.
	s = mustLoad(t, named, "--listen", "127.0.0.1:11211")
	checkEq(t, "listen override", s.Config.Listen, "127.0.0.1:11211")
	checkEq(t, "beta listen", s.Config.Pools["beta"].Listen, "")
	checkEq(t, "other listen", s.Config.Pools["other"].Listen, "127.0.0.1:22125")
}

func TestLoadTwemproxyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"random distribution", "a:\n  listen: 127.0.0.1:1\n  distribution: random\n  servers: [\"127.0.0.1:2:1\"]\n", `pool "a": distribution: line 3: twemproxy's random distribution is not supported`},
		{"unknown hash", "a:\n  listen: 127.0.0.1:1\n  hash: sha1\n  servers: [\"127.0.0.1:2:1\"]\n", `pool "a": hash: line 3: "sha1" is not supported; want one of crc16`},
		{"timeout with unit", "a:\n  listen: 127.0.0.1:1\n  timeout: 400ms\n  servers: [\"127.0.0.1:2:1\"]\n", `pool "a": timeout: line 3: "400ms" is not a whole number ≥ 0 (twemproxy durations are whole milliseconds)`},
		{"unknown key", "a:\n  listen: 127.0.0.1:1\n  hash_tags: \"{}\"\n  servers: [\"127.0.0.1:2:1\"]\n", `pool "a": unknown key "hash_tags" (line 3)`},
		{"redis in second pool", "a:\n  listen: 127.0.0.1:1\n  servers: [\"127.0.0.1:2:1\"]\nb:\n  listen: 127.0.0.1:3\n  redis: true\n  servers: [\"127.0.0.1:4:1\"]\n", `pool "b": redis: true is not supported`},
		{"no listen", "a:\n  listen: 127.0.0.1:1\n  servers: [\"127.0.0.1:2:1\"]\nb:\n  servers: [\"127.0.0.1:4:1\"]\n", `pool "b": listen: a twemproxy pool needs its listen address`},
		{"no servers", "a:\n  listen: 127.0.0.1:1\n", `pool "a": servers: the pool lists no servers`},
		{"bad weight", "a:\n  listen: 127.0.0.1:1\n  servers: [\"127.0.0.1:2:-1\"]\n", `pool "a": servers: [0] "127.0.0.1:2:-1"`},
		{"auto_eject_hosts not a bool", "a:\n  listen: 127.0.0.1:1\n  auto_eject_hosts: yes please\n  servers: [\"127.0.0.1:2:1\"]\n", `pool "a": auto_eject_hosts: line 3: "yes please" is not true or false`},
		{"server_retry_timeout with unit", "a:\n  listen: 127.0.0.1:1\n  server_retry_timeout: 2s\n  servers: [\"127.0.0.1:2:1\"]\n", `pool "a": server_retry_timeout: line 3: "2s" is not a whole number`},
		{"redis not a bool", "a:\n  listen: 127.0.0.1:1\n  redis: maybe\n  servers: [\"127.0.0.1:2:1\"]\n", `pool "a": redis: line 3: "maybe" is not true or false`},
		{"same listen twice", "a:\n  listen: 127.0.0.1:1\n  servers: [\"127.0.0.1:2:1\"]\nb:\n  listen: 127.0.0.1:1\n  servers: [\"127.0.0.1:4:1\"]\n", `pool "b": listen 127.0.0.1:1 is also listen`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("load: got error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

// TestPrecedence: flags over environment over file over defaults. It sets
// environment variables, so it does not run in parallel.
func TestPrecedence(t *testing.T) {
	const file = "listen: 127.0.0.1:1001\nadmin: 127.0.0.1:1002\nmax_connections: 10\nlog_level: warn\n" + minimal

	s := mustLoad(t, file)
	checkEq(t, "file listen", s.Config.Listen, "127.0.0.1:1001")

	t.Setenv("SHEPHERD_LISTEN", "127.0.0.1:2001")
	t.Setenv("SHEPHERD_ADMIN", "127.0.0.1:2002")
	t.Setenv("SHEPHERD_MAX_CONNECTIONS", "20")
	t.Setenv("SHEPHERD_MAX_ITEM_SIZE", "2097152")
	t.Setenv("SHEPHERD_LOG_LEVEL", "error")
	t.Setenv("SHEPHERD_SPOOL_DIR", "/tmp/spool")
	t.Setenv("SHEPHERD_SPOOL_LIMIT", "7")
	s = mustLoad(t, file)
	checkEq(t, "env spool_dir", s.Config.SpoolDir, "/tmp/spool")
	checkEq(t, "env spool_limit", s.Config.SpoolLimit, 7)
	checkEq(t, "env listen", s.Config.Listen, "127.0.0.1:2001")
	checkEq(t, "env admin", s.Config.Admin, "127.0.0.1:2002")
	checkEq(t, "env max_connections", s.Config.MaxConnections, 20)
	checkEq(t, "env max_item_size", s.Config.MaxItemSize, 2097152)
	checkEq(t, "env log level", s.LogLevel, slog.LevelError)

	s = mustLoad(t, file, "--listen", "127.0.0.1:3001", "--admin", "off", "--log-level", "debug")
	checkEq(t, "flag listen", s.Config.Listen, "127.0.0.1:3001")
	checkEq(t, "flag admin off", s.Config.Admin, "")
	checkEq(t, "flag log level", s.LogLevel, slog.LevelDebug)
	checkEq(t, "env max_connections under flags", s.Config.MaxConnections, 20)

	t.Setenv("SHEPHERD_ADMIN", "")
	s = mustLoad(t, file)
	checkEq(t, "empty env admin disables", s.Config.Admin, "")

	t.Setenv("SHEPHERD_MAX_CONNECTIONS", "0")
	if _, err := load(t, file); err == nil || !strings.Contains(err.Error(), `max_connections: "0" is not a whole number ≥ 1 (env SHEPHERD_MAX_CONNECTIONS`) {
		t.Fatalf("SHEPHERD_MAX_CONNECTIONS=0: got error %v; want one naming max_connections and its variable", err)
	}
	t.Setenv("SHEPHERD_MAX_CONNECTIONS", "lots")
	if _, err := load(t, file); err == nil || !strings.Contains(err.Error(), `max_connections: "lots"`) {
		t.Fatalf("bad SHEPHERD_MAX_CONNECTIONS: got error %v; want one naming max_connections", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHEPHERD_CONFIG", path)
	t.Setenv("SHEPHERD_DEFAULT_POOL", "cache")
	fs := newFlagSet(io.Discard)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(fs)
	if err != nil {
		t.Fatalf("SHEPHERD_CONFIG: got error %v; want none", err)
	}
	checkEq(t, "file", s.File, path)
}

func TestNoConfig(t *testing.T) {
	t.Parallel()
	fs := newFlagSet(io.Discard)
	if _, err := loadSettings(fs); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("no config: got error %v; want one mentioning --config", err)
	}
	fs = newFlagSet(io.Discard)
	fs.Parse([]string{"-c", filepath.Join(t.TempDir(), "missing.yaml")})
	if _, err := loadSettings(fs); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: got error %v; want one naming the file", err)
	}
}

// TestExampleConfigs loads the files shipped in configs/.
func TestExampleConfigs(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"shepherd.yaml", "nutcracker.yml", "quickstart.yaml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fs := newFlagSet(io.Discard)
			fs.Parse([]string{"--config", filepath.Join("..", "..", "configs", name)})
			s, err := loadSettings(fs)
			if err != nil {
				t.Fatalf("load: got error %v; want none", err)
			}
			if len(s.Config.Pools) == 0 {
				t.Fatal("pools: got none; want at least one")
			}
		})
	}
}

// TestExampleNutcrackerIsTwemproxy checks configs/nutcracker.yml with
// twemproxy's own config test, so the example stays a real twemproxy file.
func TestExampleNutcrackerIsTwemproxy(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("nutcracker")
	if err != nil {
		if path, err = exec.LookPath("/usr/sbin/nutcracker"); err != nil {
			t.Skip("nutcracker not installed: apt-get install nutcracker (CI installs it)")
		}
	}
	out, err := exec.Command(path, "--test-conf", "--conf-file", filepath.Join("..", "..", "configs", "nutcracker.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("nutcracker --test-conf: got %v; want success\n%s", err, out)
	}
}

// TestExampleK8s loads the shepherd config inside configs/k8s-sidecar.yaml's
// ConfigMap and checks that the Pod mounts it where --config points.
func TestExampleK8s(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "k8s-sidecar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var conf, args string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind string
			Data map[string]string
			Spec struct {
				InitContainers []struct {
					Name string
					Args []string
				} `yaml:"initContainers"`
			}
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("k8s-sidecar.yaml: %v", err)
		}
		switch doc.Kind {
		case "ConfigMap":
			conf = doc.Data["shepherd.yaml"]
		case "Pod":
			for _, c := range doc.Spec.InitContainers {
				if c.Name == "shepherd" {
					args = strings.Join(c.Args, " ")
				}
			}
		}
	}
	if args != "--config /etc/shepherd/shepherd.yaml" {
		t.Errorf("shepherd args: got %q; want --config /etc/shepherd/shepherd.yaml", args)
	}
	s := mustLoad(t, conf)
	checkEq(t, "listen", s.Config.Listen, "127.0.0.1:11211")
	checkEq(t, "nodes", len(s.Config.Pools["main"].Servers), 3)
}

func checkEq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %+v; want %+v", what, got, want)
	}
}

// event_loop_io_uring comes from the environment as text too; a value that
// is not a boolean is an error naming the setting.
func TestLoopIOURingEnv(t *testing.T) {
	t.Setenv("SHEPHERD_EVENT_LOOP_IO_URING", "false")
	checkEq(t, "NoLoopIOURing", mustLoad(t, "event_loop_io_uring: true\n"+minimal).Config.NoLoopIOURing, true)
	t.Setenv("SHEPHERD_EVENT_LOOP_IO_URING", "maybe")
	if _, err := load(t, minimal); err == nil || !strings.Contains(err.Error(), "event_loop_io_uring") {
		t.Errorf("SHEPHERD_EVENT_LOOP_IO_URING=maybe: got %v; want an error naming event_loop_io_uring", err)
	}
}
