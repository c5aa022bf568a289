// Test config: `shepherd --test-config` (twemproxy's -t) checks a config,
// prints it resolved, defaults included, with each node's share of its
// pool's ring, and exits non-zero when it is invalid.

package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// shareSamples is how many synthetic keys measure a node's ring share.
const shareSamples = 100000

// printConfig writes s's config as it will run: every default filled in.
func printConfig(w io.Writer, s *settings) {
	cfg := s.Config
	fmt.Fprintf(w, "# %s: valid %s config, as shepherd %s will run it (defaults filled in)\n", s.File, s.Format, proxy.Version)
	fmt.Fprintf(w, "listen: %s\nadmin: %q\nlog_level: %s\n", cfg.Listen, orDefault(cfg.Admin, "off"), strings.ToLower(s.LogLevel.String()))
	fmt.Fprintf(w, "max_connections: %d\nmax_item_size: %d\n", cfg.MaxConnections, cfg.MaxItemSize)
	fmt.Fprintf(w, "spool_dir: %s\nspool_limit: %d\n", cfg.SpoolDir, cfg.SpoolLimit)
	printListenAccess(w, cfg)
	fmt.Fprintf(w, "event_loops: %d\n", cfg.EventLoops)
	fmt.Fprintf(w, "event_loop_io_uring: %t\n", !cfg.NoLoopIOURing)
	fmt.Fprintf(w, "client_idle_timeout: %s\ndefault_pool: %s\npools:\n", durationOrOff(cfg.ClientIdleTimeout), cfg.DefaultPool)
	for _, name := range s.Order {
		printPool(w, cfg.Pools[name])
	}
	if len(cfg.Routes) > 0 {
		fmt.Fprintln(w, "routes:")
		for _, r := range cfg.Routes {
			fmt.Fprintf(w, "  - {prefix: %q, pool: %s}\n", r.Prefix, r.Pool)
		}
	}
	if h := cfg.Herd; h != nil {
		fmt.Fprintln(w, "herd:")
		if h.Default != nil {
			fmt.Fprintf(w, "  default: {%s}\n", ruleFieldsLine(*h.Default))
		}
		if len(h.Rules) > 0 {
			fmt.Fprintln(w, "  rules:")
			for _, r := range h.Rules {
				fmt.Fprintf(w, "    - {prefix: %q, %s}\n", r.Prefix, ruleFieldsLine(r))
			}
		}
	}
}

func printPool(w io.Writer, p *proxy.PoolConfig) {
	fmt.Fprintf(w, "  %s:\n", p.Name)
	if p.Listen != "" {
		fmt.Fprintf(w, "    listen: %s\n", p.Listen)
	}
	fmt.Fprintf(w, "    distribution: %s\n    hash: %s\n", p.Ring.Distribution, p.Ring.Hash)
	if p.Ring.HashTag != "" {
		fmt.Fprintf(w, "    hash_tag: %q\n", p.Ring.HashTag)
	}
	fmt.Fprintf(w, "    ketama_compat: %s\n", p.Ring.Compat)
	fmt.Fprintf(w, "    timeout: %s\n    connect_timeout: %s\n    connections: %d\n    max_inflight: %d\n",
		p.Timeout, p.ConnectTimeout, p.Connections, p.MaxInflight)
	fmt.Fprintf(w, "    failure_limit: %d\n    retry_timeout: %s\n    retry_max: %s\n    on_eject: %s\n",
		p.FailureLimit, p.RetryTimeout, p.RetryMax, p.OnEject)
	if p.Gutter != "" {
		fmt.Fprintf(w, "    gutter: %s\n    gutter_ttl: %s\n", p.Gutter, p.GutterTTL)
	}
	printSecure(w, p)
	fmt.Fprintf(w, "    servers:                     # share of %d sample keys\n", shareSamples)
	shares := ringShares(p)
	for i, n := range p.Servers {
		entry := n.Addr + ":" + strconv.Itoa(n.Weight)
		if n.Name != "" {
			entry += " " + n.Name
		}
		fmt.Fprintf(w, "      - %-30s # %5.1f%%\n", entry, shares[i])
	}
}

// ringShares returns the percentage of shareSamples keys each server of p
// owns while every node is up.
func ringShares(p *proxy.PoolConfig) []float64 {
	shares := make([]float64, len(p.Servers))
	r, err := ring.New(p.Servers, p.Ring)
	if err != nil { // Validate built this ring already
		return shares
	}
	var key []byte
	for i := 0; i < shareSamples; i++ {
		key = strconv.AppendInt(append(key[:0], "key:"...), int64(i), 10)
		shares[r.Lookup(key)]++
	}
	for i := range shares {
		shares[i] *= 100.0 / shareSamples
	}
	return shares
}

// ruleFieldsLine is a rule's settings as YAML flow-mapping entries.
func ruleFieldsLine(r herd.Rule) string {
	line := fmt.Sprintf("stale_ttl: %s, hold: %s, lease_ttl: %s, ttl: %s", r.StaleTTL, r.Hold, r.LeaseTTL, r.TTL)
	if r.Origin != "" {
		line += fmt.Sprintf(", origin: %q, origin_timeout: %s", r.Origin, r.OriginTimeout)
	}
	return line
}

func durationOrOff(d time.Duration) string {
	if d == 0 {
		return "0s                # off"
	}
	return d.String()
}
