// Node stats: memcached's own counters, asked of every healthy node and
// added up, for `stats`, `stats items` and `stats slabs`.
package proxy

import (
	"bufio"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// summedStats are the fields of a node's plain `stats` that shepherd's
// `stats` reports as the sum over healthy nodes: what the cache holds and
// loses. Everything else in shepherd's `stats` is shepherd's own.
var summedStats = []string{
	"curr_items", "total_items", "bytes", "limit_maxbytes",
	"evictions", "reclaimed", "expired_unfetched", "evicted_unfetched",
	"evicted_active", "get_expired", "get_flushed",
}

// statLine is one "STAT name value" line.
type statLine = protocol.Stat

// healthyNodeList returns every pool's healthy nodes, pools in name order.
func (s *Server) healthyNodeList() []*node {
	pools := s.pools()
	names := make([]string, 0, len(pools))
	for name := range pools {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*node
	for _, name := range names {
		for _, n := range pools[name].members().nodes {
			if n.h.Healthy() {
				out = append(out, n)
			}
		}
	}
	return out
}

// nodeStats asks every healthy node for "stats <group>" at once and
// returns the replies of those that answered.
func (s *Server) nodeStats(group string) [][]statLine {
	nodes := s.healthyNodeList()
	replies := make([][]statLine, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], _ = n.stats(group) // a node that fails to answer is left out
		}()
	}
	wg.Wait()
	var out [][]statLine
	for _, r := range replies {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// stats asks the node for "stats <group>" on a fresh connection (as the
// probe does: a multi-line reply never shares a pipelined connection),
// within connect_timeout + timeout.
func (n *node) stats(group string) ([]statLine, error) {
	nc, err := n.io.Connect()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	cfg := n.pool.settings()
	nc.SetDeadline(time.Now().Add(cfg.ConnectTimeout + cfg.Timeout))
	if _, err := fmt.Fprintf(nc, "stats %s\r\n", group); err != nil {
		return nil, err
	}
	out, err := protocol.ReadStats(bufio.NewReader(nc))
	if err != nil {
		return nil, fmt.Errorf("proxy: stats %s from %s: %w", group, n.addr, err)
	}
	return out, nil
}

// aggregate merges node replies name by name, in the order the names
// first appear, keeping those keep accepts: numbers are added, except
// sizes and ages (the same on every node, or a "how old"), which take the
// largest; text takes the first node's value.
func aggregate(replies [][]statLine, keep func(name string) bool) []statLine {
	var order []string
	merged := map[string]string{}
	for _, r := range replies {
		for _, st := range r {
			if !keep(st.Name) {
				continue
			}
			prev, seen := merged[st.Name]
			if !seen {
				order = append(order, st.Name)
				merged[st.Name] = st.Value
				continue
			}
			merged[st.Name] = combine(st.Name, prev, st.Value)
		}
	}
	out := make([]statLine, len(order))
	for i, name := range order {
		out[i] = statLine{Name: name, Value: merged[name]}
	}
	return out
}

// combine merges two nodes' values of one field.
func combine(name, a, b string) string {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil {
		return a
	}
	if takesMax(name) {
		return strconv.FormatInt(max(x, y), 10)
	}
	return strconv.FormatInt(x+y, 10)
}

// takesMax reports whether a field is a size or an age, not a count.
func takesMax(name string) bool {
	field := name[strings.LastIndexByte(name, ':')+1:]
	return strings.HasSuffix(field, "chunk_size") || field == "chunks_per_page" ||
		field == "age" || strings.HasPrefix(field, "age_") || strings.HasSuffix(field, "_time")
}

func isSummedStat(name string) bool {
	for _, s := range summedStats {
		if s == name {
			return true
		}
	}
	return false
}

func keepAll(string) bool { return true }
