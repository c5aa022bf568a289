// Stats: shepherd's own counters in memcached's "STAT name value" format.
package proxy

import (
	"fmt"
	"os"
	"sort"
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
	b = stat(b, "version", "shepherd-"+Version)
	b = stat(b, "pointer_size", 64)
	b = stat(b, "curr_connections", m.currConns.Load())
	b = stat(b, "total_connections", m.totalConns.Load())
	b = stat(b, "rejected_connections", m.rejectedConns.Load())
	b = stat(b, "max_connections", s.cfg.MaxConnections)
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
	names := make([]string, 0, len(s.pools))
	for name := range s.pools {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, n := range s.pools[name].nodes {
			pfx := name + ":" + n.addr + ":"
			b = stat(b, pfx+"requests", n.requests.Load())
			b = stat(b, pfx+"errors", n.errors.Load())
			b = stat(b, pfx+"connection_errors", n.connErrors.Load())
			b = stat(b, pfx+"dials", n.dials.Load())
			b = stat(b, pfx+"inflight", n.inflight.Load())
		}
	}
	return b
}
