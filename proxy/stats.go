// Stats: shepherd's own counters in memcached's "STAT name value" format.
package proxy

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// statsReply answers "stats [group]".
func (s *Server) statsReply(args [][]byte) []byte {
	group := ""
	if len(args) > 0 {
		group = string(args[0])
	}
	var b []byte
	switch group {
	case "":
		b = s.appendGeneralStats(b)
	case "backends":
		b = s.appendBackendStats(b)
	case "herd":
		b = s.appendHerdStats(b)
	case "settings":
		b = s.appendSettingsStats(b)
	case "items", "slabs":
		// Summed over healthy nodes, slab class by slab class: nodes started
		// with the same -m/-f/-n share their slab classes.
		for _, st := range aggregate(s.nodeStats(group), keepAll) {
			b = stat(b, st.Name, st.Value)
		}
	case "detail", "sizes", "conns", "reset":
		// Per-node or per-connection internals with no meaning summed
		// (detail, sizes, conns) or a reset shepherd will not fan out.
	default:
		return replyError
	}
	return append(b, "END\r\n"...)
}

func stat(b []byte, name string, v any) []byte {
	return fmt.Appendf(b, "STAT %s %v\r\n", name, v)
}

func (s *Server) appendGeneralStats(b []byte) []byte {
	m := s.m
	now := time.Now()
	b = stat(b, "pid", os.Getpid())
	b = stat(b, "uptime", int64(now.Sub(s.started).Seconds()))
	b = stat(b, "time", now.Unix())
	b = stat(b, "version", ProtocolVersion())
	b = stat(b, "build_version", Version)
	b = stat(b, "pointer_size", 64)
	b = stat(b, "curr_connections", m.currConns.Load())
	b = stat(b, "max_connections", s.cfg().MaxConnections)
	for _, c := range serverCounters {
		if c.stat != "" {
			b = stat(b, c.stat, c.v(m).Load())
		}
	}
	b = stat(b, "threads", runtime.GOMAXPROCS(0))
	for _, c := range protocol.Commands() {
		if v := m.commands[c].Load(); v > 0 {
			b = stat(b, "cmd_"+c.String(), v)
		}
	}
	return s.appendSummedStats(b)
}

// appendSummedStats adds memcached's cache-content fields (summedStats)
// summed over the healthy nodes that answered, and how many did.
func (s *Server) appendSummedStats(b []byte) []byte {
	replies := s.nodeStats("")
	for _, st := range aggregate(replies, isSummedStat) {
		b = stat(b, st.Name, st.Value)
	}
	return stat(b, "nodes_summed", len(replies))
}

// appendSettingsStats answers "stats settings" with shepherd's settings,
// under memcached's names where memcached has one.
func (s *Server) appendSettingsStats(b []byte) []byte {
	cfg := s.cfg()
	b = stat(b, "maxconns", cfg.MaxConnections)
	b = stat(b, "item_size_max", cfg.MaxItemSize)
	b = stat(b, "listen", cfg.Listen)
	b = stat(b, "admin", orOff(cfg.Admin))
	b = stat(b, "spool_dir", cfg.SpoolDir)
	b = stat(b, "spool_limit", cfg.SpoolLimit)
	b = stat(b, "default_pool", cfg.DefaultPool)
	b = stat(b, "idle_timeout", int64(cfg.ClientIdleTimeout.Seconds())) // memcached's name; 0: off
	b = stat(b, "herd", cfg.Herd != nil)
	for _, name := range sortedNames(cfg.Pools) {
		b = appendPoolSettings(b, cfg.Pools[name])
	}
	return b
}

func appendPoolSettings(b []byte, p *PoolConfig) []byte {
	pfx := p.Name + ":"
	b = stat(b, pfx+"distribution", p.Ring.Distribution)
	b = stat(b, pfx+"hash", p.Ring.Hash)
	b = stat(b, pfx+"servers", len(p.Servers))
	b = stat(b, pfx+"timeout", p.Timeout.Seconds())
	b = stat(b, pfx+"connect_timeout", p.ConnectTimeout.Seconds())
	b = stat(b, pfx+"connections", p.Connections)
	b = stat(b, pfx+"max_inflight", p.MaxInflight)
	b = stat(b, pfx+"failure_limit", p.FailureLimit)
	b = stat(b, pfx+"retry_timeout", p.RetryTimeout.Seconds())
	b = stat(b, pfx+"retry_max", p.RetryMax.Seconds())
	b = stat(b, pfx+"on_eject", p.OnEject)
	if p.Gutter != "" {
		b = stat(b, pfx+"gutter", p.Gutter)
		b = stat(b, pfx+"gutter_ttl", p.GutterTTL.Seconds())
	}
	return b
}

func orOff(s string) string { return orDefaultName(s, "off") }

func orDefaultName(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *Server) appendBackendStats(b []byte) []byte {
	pools := s.pools()
	for _, name := range sortedNames(pools) {
		for _, n := range pools[name].members().nodes {
			pfx := name + ":" + n.addr + ":"
			b = stat(b, pfx+"state", n.h.State())
			b = stat(b, pfx+"resolve", strings.Fields(n.resolveState())[0]) // "ok" or "unresolved:"; the error is in the log
			b = stat(b, pfx+"transport", n.secureStateString())             // plain, untried, ok, tls_handshake_failed or auth_failed
			for _, c := range nodeNumbers {
				b = stat(b, pfx+c.stat, c.v(n))
			}
		}
	}
	return b
}

func (s *Server) appendHerdStats(b []byte) []byte {
	g := s.herd()
	if g == nil {
		return stat(b, "enabled", 0)
	}
	b = stat(b, "enabled", 1)
	mode := "fleet"
	if !g.Meta() {
		mode = "coalesce_only"
	}
	b = stat(b, "mode", mode)
	for _, c := range herdCounters {
		b = stat(b, c.stat, c.v(&g.Stats).Load())
	}
	return b
}
