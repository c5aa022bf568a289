// File: shepherd's own YAML config file, and detection of the twemproxy shape.

package main

import (
	"errors"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shepherd-proxy/shepherd/health"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// fileConfig is what a config file says, before environment and flags.
type fileConfig struct {
	format    string         // formatShepherd or formatTwemproxy
	scalars   map[string]any // top-level settings that SHEPHERD_* and flags may override
	pools     map[string]*proxy.PoolConfig
	order     []string // pool names in file order
	routes    []proxy.Route
	herd      *proxy.HerdConfig
	clientTLS *proxy.ClientTLSConfig // client_tls, from the file only
	notes     []string               // keys accepted but ignored, logged once at start
}

const (
	formatShepherd  = "shepherd"
	formatTwemproxy = "twemproxy"
)

// parseFile reads either config shape from data.
func parseFile(data []byte) (*fileConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of keys at the top level, got %s", root.Line, kindName(root))
	}
	if isTwemproxy(root) {
		return parseTwemproxy(root)
	}
	return parseShepherd(root)
}

// isTwemproxy reports whether every top-level value is a mapping holding
// "servers" or "listen": twemproxy's pool-per-key shape. shepherd's own
// top-level keys are scalars, lists, or (pools) a mapping of mappings.
func isTwemproxy(root *yaml.Node) bool {
	for i := 1; i < len(root.Content); i += 2 {
		v := root.Content[i]
		if v.Kind != yaml.MappingNode || !(hasKey(v, "servers") || hasKey(v, "listen")) {
			return false
		}
	}
	return len(root.Content) > 0
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// parseShepherd reads shepherd's own shape (see configs/shepherd.yaml).
func parseShepherd(root *yaml.Node) (*fileConfig, error) {
	fc := &fileConfig{format: formatShepherd, scalars: map[string]any{}, pools: map[string]*proxy.PoolConfig{}}
	var listen, admin, logLevel, defaultPool, spoolDir string
	var socketMode, socketOwner, socketGroup string
	var allowRemote bool
	ioURing := true
	var maxConns, maxItem, spoolLimit, loops int
	var idle time.Duration // 0: off, as memcached's idle_timeout
	var poolsNode, routesNode, herdNode *yaml.Node
	top := fields{
		"listen":                       str(&listen),
		"admin":                        str(&admin),
		"log_level":                    str(&logLevel),
		"default_pool":                 str(&defaultPool),
		"max_connections":              positive(&maxConns, proxy.DefaultMaxConnections),
		"max_item_size":                positive(&maxItem, proxy.DefaultMaxItemSize),
		"spool_dir":                    str(&spoolDir),
		"spool_limit":                  positive(&spoolLimit, proxy.DefaultSpoolLimit),
		"client_idle_timeout":          duration(&idle),
		"event_loops":                  loopCount(&loops),
		"event_loop_io_uring":          boolean(&ioURing),
		"socket_mode":                  str(&socketMode),
		"socket_owner":                 str(&socketOwner),
		"socket_group":                 str(&socketGroup),
		"allow_unauthenticated_remote": boolean(&allowRemote),
		"client_tls":                   clientTLSSettings(&fc.clientTLS),
		"pools":                        capture(&poolsNode),
		"routes":                       capture(&routesNode),
		"herd":                         capture(&herdNode),
	}
	if err := top.decode(root, "top level"); err != nil {
		return nil, err
	}
	setScalars(fc.scalars, root, map[string]any{
		"listen": listen, "admin": admin, "log_level": logLevel, "default_pool": defaultPool,
		"max_connections": maxConns, "max_item_size": maxItem,
		"spool_dir": spoolDir, "spool_limit": spoolLimit, "client_idle_timeout": idle,
		"event_loops": loops, "event_loop_io_uring": ioURing,
		"socket_mode": socketMode, "socket_owner": socketOwner, "socket_group": socketGroup,
		"allow_unauthenticated_remote": allowRemote,
	})
	if poolsNode == nil {
		return nil, errors.New("no pools: add a pools: section with at least one pool and its servers")
	}
	if err := fc.parsePools(poolsNode); err != nil {
		return nil, err
	}
	if routesNode != nil {
		if err := fc.parseRoutes(routesNode); err != nil {
			return nil, err
		}
	}
	if herdNode != nil {
		h, err := parseHerd(herdNode)
		if err != nil {
			return nil, err
		}
		fc.herd = h
	}
	return fc, nil
}

// capture keeps a value node to parse after the mapping around it.
func capture(dst **yaml.Node) func(*yaml.Node) error {
	return func(n *yaml.Node) error { *dst = n; return nil }
}

// setScalars copies into dst only the keys the file actually has, so that
// absent keys fall through to viper's defaults.
func setScalars(dst map[string]any, root *yaml.Node, values map[string]any) {
	for k, v := range values {
		if hasKey(root, k) {
			dst[k] = v
		}
	}
}

func (fc *fileConfig) parsePools(n *yaml.Node) error {
	kvs, err := pairs(n, "pools")
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		name := kv[0].Value
		p := &proxy.PoolConfig{Name: name}
		where := fmt.Sprintf("pool %q", name)
		pf := fields{
			"listen":          str(&p.Listen),
			"distribution":    oneOf(&p.Ring.Distribution, ring.Distributions()...),
			"hash":            oneOf(&p.Ring.Hash, ring.Hashes()...),
			"hash_tag":        hashTag(&p.Ring.HashTag),
			"ketama_compat":   oneOf(&p.Ring.Compat, ring.Compats()...),
			"timeout":         positiveDuration(&p.Timeout, proxy.DefaultTimeout),
			"connect_timeout": positiveDuration(&p.ConnectTimeout, proxy.DefaultConnectTimeout),
			"connections":     positive(&p.Connections, proxy.DefaultConnections),
			"max_inflight":    positive(&p.MaxInflight, proxy.DefaultMaxInflight),
			"servers":         servers(&p.Servers),
			"failure_limit":   positive(&p.FailureLimit, health.DefaultFailureLimit),
			"retry_timeout":   positiveDuration(&p.RetryTimeout, health.DefaultRetryTimeout),
			"retry_max":       positiveDuration(&p.RetryMax, health.DefaultRetryMax),
			"on_eject":        oneOf(&p.OnEject, proxy.EjectPolicies...),
			"gutter":          str(&p.Gutter),
			"gutter_ttl":      positiveDuration(&p.GutterTTL, proxy.DefaultGutterTTL),
			"tls":             tlsSettings(&p.TLS),
			"auth":            authSettings(&p.Auth, name),
		}
		if err := pf.decode(kv[1], where); err != nil {
			return err
		}
		if len(p.Servers) == 0 {
			return fmt.Errorf("%s: servers: the pool lists no servers", where)
		}
		fc.addPool(p)
	}
	return nil
}

func (fc *fileConfig) addPool(p *proxy.PoolConfig) {
	fc.pools[p.Name] = p
	fc.order = append(fc.order, p.Name)
}

func (fc *fileConfig) parseRoutes(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("routes: line %d: want a list of {prefix, pool}, got %s", n.Line, kindName(n))
	}
	for i, rn := range n.Content {
		var r proxy.Route
		rf := fields{"prefix": str(&r.Prefix), "pool": str(&r.Pool)}
		if err := rf.decode(rn, fmt.Sprintf("routes[%d]", i)); err != nil {
			return err
		}
		fc.routes = append(fc.routes, r)
	}
	return nil
}
