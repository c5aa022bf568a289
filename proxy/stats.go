// Stats: shepherd's own counters in memcached's "STAT name value" format.
package proxy

import (
	"fmt"
	"os"
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
	case "detail", "settings", "items", "slabs", "sizes", "conns", "reset":
		// Per-node memcached internals are not merged; ask nodes directly.
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
	b = stat(b, "total_connections", m.totalConns.Load())
	b = stat(b, "rejected_connections", m.rejectedConns.Load())
	b = stat(b, "max_connections", s.cfg().MaxConnections)
	b = stat(b, "get_hits", m.hits.Load())
	b = stat(b, "get_misses", m.misses.Load())
	b = stat(b, "get_failed_keys", m.failedKeys.Load())
	b = stat(b, "client_errors", m.clientErrors.Load())
	b = stat(b, "server_errors", m.serverErrors.Load())
	for _, c := range protocol.Commands() {
		if v := m.commands[c].Load(); v > 0 {
			b = stat(b, "cmd_"+c.String(), v)
		}
	}
	return b
}

func (s *Server) appendBackendStats(b []byte) []byte {
	for _, st := range s.Backends() {
		pfx := st.Pool + ":" + st.Addr + ":"
		b = stat(b, pfx+"state", st.State)
		b = stat(b, pfx+"requests", st.Requests)
		b = stat(b, pfx+"errors", st.Errors)
		b = stat(b, pfx+"ejections", st.Ejections)
		b = stat(b, pfx+"probes", st.Probes)
		b = stat(b, pfx+"probe_failures", st.ProbeFailures)
		b = stat(b, pfx+"spooled", st.Spooled)
		b = stat(b, pfx+"spooled_total", st.SpooledTotal)
		b = stat(b, pfx+"replayed", st.Replayed)
		b = stat(b, pfx+"flushes", st.Flushes)
		b = stat(b, pfx+"failovers", st.Failovers)
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
	st := &g.Stats
	b = stat(b, "wins", st.Wins.Load())
	b = stat(b, "stale_served", st.StaleServed.Load())
	b = stat(b, "holds", st.Holds.Load())
	b = stat(b, "hold_wakeups", st.HoldWakeups.Load())
	b = stat(b, "hold_timeouts", st.HoldTimeouts.Load())
	b = stat(b, "coalesced", st.Coalesced.Load())
	b = stat(b, "invalidations", st.Invalidations.Load())
	b = stat(b, "origin_fetches", st.OriginFetches.Load())
	b = stat(b, "origin_failures", st.OriginFailures.Load())
	b = stat(b, "late_fills_rejected", st.LateFillsRejected.Load())
	return b
}
