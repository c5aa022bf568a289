package proxy_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// statsOf sends "stats <group>" and returns the STAT lines by name.
func statsOf(t *testing.T, c *conn, group string) map[string]string {
	t.Helper()
	c.send(strings.TrimSpace("stats "+group) + "\r\n")
	out := map[string]string{}
	for l := c.line(); l != "END"; l = c.line() {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 || f[0] != "STAT" {
			t.Fatalf("stats %s: got %q; want STAT lines", group, l)
		}
		out[f[1]] = f[2]
	}
	return out
}

func atoi(t *testing.T, what, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: got %q; want a number", what, s)
	}
	return n
}

// TestStatsSummedOverNodes: stats carries curr_items, bytes,
// limit_maxbytes and evictions summed over the nodes (checked against
// each node's own stats); stats items and stats slabs are summed per slab
// class; stats settings shows shepherd's settings.
func TestStatsSummedOverNodes(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	c := dial(t, f.addr)
	for i := 0; i < 60; i++ {
		c.send(fmt.Sprintf("set s:%d 0 0 3\r\nabc\r\n", i))
		c.expect("STORED")
	}
	got := statsOf(t, c, "")
	var direct []map[string]string
	for _, n := range f.nodes {
		direct = append(direct, statsOf(t, dial(t, n.Addr), ""))
	}
	for _, name := range []string{"curr_items", "total_items", "bytes", "limit_maxbytes", "evictions"} {
		var want int64
		for i, d := range direct {
			want += atoi(t, fmt.Sprintf("node %d %s", i, name), d[name])
		}
		if g := atoi(t, name, got[name]); g != want {
			t.Errorf("stats %s: got %d; want %d, the nodes' sum", name, g, want)
		}
	}
	if got["curr_items"] != "60" || got["nodes_summed"] != "3" {
		t.Errorf("stats: got curr_items %s over %s nodes; want 60 over 3", got["curr_items"], got["nodes_summed"])
	}
	items := statsOf(t, c, "items")
	var numbers int64
	for name, v := range items {
		if strings.HasSuffix(name, ":number") {
			numbers += atoi(t, name, v)
		}
	}
	if numbers != 60 {
		t.Errorf("stats items: items:*:number add up to %d; want 60 (%v)", numbers, items)
	}
	slabs := statsOf(t, c, "slabs")
	if slabs["active_slabs"] == "" || !strings.HasSuffix(firstKey(slabs, ":chunk_size"), ":chunk_size") {
		t.Errorf("stats slabs: got %v; want active_slabs and per-class chunk_size", slabs)
	}
	settings := statsOf(t, c, "settings")
	if settings["maxconns"] != "4096" || settings["item_size_max"] != "1048576" || settings["main:servers"] != "3" {
		t.Errorf("stats settings: got maxconns %q, item_size_max %q, main:servers %q; want 4096, 1048576, 3",
			settings["maxconns"], settings["item_size_max"], settings["main:servers"])
	}
}

func firstKey(m map[string]string, suffix string) string {
	for k := range m {
		if strings.HasSuffix(k, suffix) {
			return k
		}
	}
	return ""
}
