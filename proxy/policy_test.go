package proxy_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// whereIs returns the index of the node holding key with value v, or -1.
func whereIs(t *testing.T, conns []*conn, key, v string) int {
	at := -1
	for i, c := range conns {
		c.send("get " + key + "\r\n")
		if readValue(t, c) == v {
			at = i
		}
	}
	return at
}

// TestGutter: with on_eject: gutter, an ejected node's keys are served
// from the gutter pool with TTL at most gutter_ttl, and no other key moves.
func TestGutter(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 3)
	gutterNode := mctest.Start(t)
	const gutterTTL = 10 * time.Second
	f := startShepherd(t, nodes, func(cfg *proxy.Config) {
		staleConfig("")(cfg)
		main := cfg.Pools["main"]
		main.OnEject, main.Gutter, main.GutterTTL = proxy.EjectGutter, "gutter", gutterTTL
		cfg.Pools["gutter"] = &proxy.PoolConfig{Servers: []ring.Node{{Addr: gutterNode.Addr, Weight: 1}}}
		cfg.DefaultPool = "main"
	})
	c := dial(t, f.addr)
	ejectByTraffic(t, f, c, 0, keyOn(t, f, 0, "g:"))
	direct := []*conn{dial(t, nodes[0].Addr), dial(t, nodes[1].Addr), dial(t, nodes[2].Addr), dial(t, gutterNode.Addr)}
	moved, onA := 0, 0
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("gk:%d", i)
		c.send(fmt.Sprintf("set %s 0 3600 3\r\nnew\r\n", k))
		c.expect("STORED")
		c.send("get " + k + "\r\n")
		if got := readValue(t, c); got != "new" {
			t.Fatalf("get %s while A is out: got %q; want new", k, got)
		}
		owner, at := f.owner(t, k), whereIs(t, direct[1:], k, "new")+1
		switch {
		case owner == 0 && at != 3:
			t.Errorf("%s (A's key) is on node %d; want the gutter", k, at)
		case owner == 0:
			onA++
			checkGutterTTL(t, direct[3], k, gutterTTL)
		case at != owner:
			moved++
		}
	}
	t.Logf("gutter: %d of 300 keys were A's and went to the gutter; %d other keys moved", onA, moved)
	if moved != 0 || onA == 0 {
		t.Errorf("got %d of the other nodes' keys moved, %d of A's in the gutter; want 0 moved and some in the gutter", moved, onA)
	}
}

// checkGutterTTL asks the gutter node for k's remaining TTL.
func checkGutterTTL(t *testing.T, g *conn, k string, max time.Duration) {
	t.Helper()
	g.send("mg " + k + " t\r\n")
	l := g.line()
	ttl, err := strconv.Atoi(strings.TrimPrefix(strings.Fields(l)[1], "t"))
	if err != nil || ttl <= 0 || time.Duration(ttl)*time.Second > max {
		t.Errorf("gutter TTL of %s: got %q; want 1..%v seconds", k, l, max.Seconds())
	}
}

// TestRehashRemap: ejecting 1 of 4 nodes under rehash moves only that
// node's keys: about 1/4 of all keys, none from the surviving nodes.
func TestRehashRemap(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 4)
	f := startShepherd(t, nodes, staleConfig(""))
	c := dial(t, f.addr)
	const n = 2000
	direct := make([]*conn, len(nodes))
	for i, nd := range nodes {
		direct[i] = dial(t, nd.Addr)
	}
	before := make([]int, n)
	for i := range before {
		c.send(fmt.Sprintf("set rm:%d 0 0 3\r\nold\r\n", i))
		c.expect("STORED")
	}
	for i := range before {
		before[i] = whereIs(t, direct, fmt.Sprintf("rm:%d", i), "old")
	}
	ejectByTraffic(t, f, c, 3, keyOn(t, f, 3, "rm-eject:"))
	moved, fromSurvivors := 0, 0
	for i := range before {
		k := fmt.Sprintf("rm:%d", i)
		c.send("set " + k + " 0 0 3\r\nnew\r\n")
		c.expect("STORED")
		after := whereIs(t, direct[:3], k, "new")
		if after != before[i] {
			moved++
			if before[i] != 3 {
				fromSurvivors++
			}
		}
	}
	share := float64(moved) / n
	t.Logf("rehash: ejecting 1 of 4 nodes moved %d of %d keys (%.3f; ideal 0.25), %d from surviving nodes", moved, n, share, fromSurvivors)
	if fromSurvivors != 0 || share < 0.15 || share > 0.35 {
		t.Errorf("got %.3f of keys moved, %d from survivors; want about 1/4, none from survivors", share, fromSurvivors)
	}
}
