// Twemproxy: a nutcracker.yml given to --config is read as is.
//
// Each twemproxy pool becomes one shepherd pool. The first pool in the file
// is the default pool and its listen address is shepherd's main listener
// (so --listen or SHEPHERD_LISTEN moves that pool); every other pool keeps
// its own listener, as in twemproxy. timeout (whole milliseconds) sets both
// the request and the connect timeout, as twemproxy uses one value for both;
// server_connections sets connections per node; the client_connections of
// all pools add up to max_connections. Ejection maps onto shepherd's health
// settings: auto_eject_hosts: true is on_eject: rehash (twemproxy's
// behaviour), false or absent is on_eject: fail (the node's keys are not
// moved: reads miss, writes error); server_failure_limit is failure_limit
// and server_retry_timeout (ms) is retry_timeout. Keys shepherd does not act
// on are accepted and logged at start. redis: true is an error.

package main

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shepherd-proxy/shepherd/health"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// twemproxyIgnored are twemproxy pool keys accepted and logged, not acted on.
var twemproxyIgnored = []string{
	"preconnect", "backlog", "tcpkeepalive", "reuseport",
	"redis_auth", "redis_db", "command",
}

func parseTwemproxy(root *yaml.Node) (*fileConfig, error) {
	fc := &fileConfig{format: formatTwemproxy, scalars: map[string]any{}, pools: map[string]*proxy.PoolConfig{}}
	kvs, err := pairs(root, "top level")
	if err != nil {
		return nil, err
	}
	clientConns := 0
	for i, kv := range kvs {
		p, listen, conns, err := fc.parseTwemproxyPool(kv[0].Value, kv[1])
		if err != nil {
			return nil, err
		}
		clientConns += conns
		if i == 0 {
			fc.scalars["listen"] = listen
			fc.scalars["default_pool"] = p.Name
		} else {
			p.Listen = listen
		}
		fc.addPool(p)
	}
	if clientConns > 0 {
		fc.scalars["max_connections"] = clientConns
	}
	return fc, nil
}

// parseTwemproxyPool returns the pool, its listen address in shepherd's
// syntax and its client_connections.
func (fc *fileConfig) parseTwemproxyPool(name string, n *yaml.Node) (*proxy.PoolConfig, string, int, error) {
	p := &proxy.PoolConfig{Name: name}
	where := fmt.Sprintf("pool %q", name)
	var (
		listen      string
		redis       bool
		autoEject   bool
		timeout     time.Duration
		clientConns int
	)
	pf := fields{
		"listen":               str(&listen),
		"hash":                 oneOf(&p.Ring.Hash, ring.Hashes()...),
		"hash_tag":             hashTag(&p.Ring.HashTag),
		"distribution":         twemproxyDistribution(&p.Ring.Distribution),
		"timeout":              positiveMillis(&timeout, "shepherd's default, 250ms; twemproxy would wait forever"),
		"server_connections":   positive(&p.Connections, proxy.DefaultConnections),
		"client_connections":   nonNegInt(&clientConns),
		"redis":                boolean(&redis),
		"servers":              servers(&p.Servers),
		"auto_eject_hosts":     boolean(&autoEject),
		"server_failure_limit": positive(&p.FailureLimit, health.DefaultFailureLimit),
		"server_retry_timeout": positiveMillis(&p.RetryTimeout, "twemproxy's default, 30000"),
	}
	for _, key := range twemproxyIgnored {
		pf[key] = func(*yaml.Node) error {
			fc.notes = append(fc.notes, fmt.Sprintf("%s: twemproxy key %s is accepted but not used by shepherd yet", where, key))
			return nil
		}
	}
	if err := pf.decode(n, where); err != nil {
		return nil, "", 0, err
	}
	if redis {
		return nil, "", 0, fmt.Errorf("%s: redis: true is not supported: shepherd speaks only the memcached protocol", where)
	}
	if listen == "" {
		return nil, "", 0, fmt.Errorf("%s: listen: a twemproxy pool needs its listen address", where)
	}
	if len(p.Servers) == 0 {
		return nil, "", 0, fmt.Errorf("%s: servers: the pool lists no servers", where)
	}
	if p.Ring.Hash == "" {
		p.Ring.Hash = "fnv1a_64" // twemproxy's default hash (shepherd's own default is md5)
	}
	if p.RetryTimeout == 0 {
		p.RetryTimeout = 30 * time.Second // twemproxy's default server_retry_timeout
	}
	p.Timeout, p.ConnectTimeout = timeout, timeout // zero: shepherd's defaults, where twemproxy waits forever
	p.OnEject = proxy.EjectFail
	if autoEject {
		p.OnEject = proxy.EjectRehash
	}
	return p, fc.twemproxyListen(where, listen), clientConns, nil
}

// twemproxyListen turns "/path/to.sock [mode]" into "unix:/path/to.sock";
// host:port passes unchanged. A socket mode becomes socket_mode, which
// shepherd applies to every unix socket listener: the first pool's mode
// wins, and another pool's different mode is noted, not applied.
func (fc *fileConfig) twemproxyListen(where, listen string) string {
	if !strings.HasPrefix(listen, "/") {
		return listen
	}
	path, mode, hasMode := strings.Cut(listen, " ")
	if mode = strings.TrimSpace(mode); hasMode && mode != "" {
		switch was, set := fc.scalars["socket_mode"]; {
		case !set:
			fc.scalars["socket_mode"] = mode
			fc.notes = append(fc.notes, fmt.Sprintf("%s: listen: socket mode %s is shepherd's socket_mode, for every unix socket listener", where, mode))
		case was != mode:
			fc.notes = append(fc.notes, fmt.Sprintf("%s: listen: socket mode %s is not applied: shepherd has one socket_mode for every unix socket, %s from an earlier pool", where, mode, was))
		}
	}
	return "unix:" + path
}

// twemproxyDistribution accepts twemproxy's names, rejecting random clearly.
func twemproxyDistribution(dst *string) func(*yaml.Node) error {
	check := oneOf(dst, ring.Distributions()...)
	return func(n *yaml.Node) error {
		if n.Value == "random" {
			return fmt.Errorf("line %d: twemproxy's random distribution is not supported (it gives no stable placement); use ketama or modula", n.Line)
		}
		return check(n)
	}
}
