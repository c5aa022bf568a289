// Client tests: reply parsing, and pipelined requests against real nodes,
// direct (client-side ketama) and through one address.
package bench

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestValueLen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want int
		ok   bool
	}{
		{"VALUE k 0 5\r\n", 5, true},
		{"VALUE k 12 1024 99\r\n", 1024, true},
		{"VALUE k 0 0\r\n", 0, true},
		{"VALUE k 0\r\n", 0, false},
		{"VALUE k 0 -1\r\n", 0, false},
		{"VALUE k 0 1x\r\n", 0, false},
		{"VALUE k 0 99999999999999999999\r\n", 0, false},
		{"VALUE k 0 \r\n", 0, false},
	} {
		t.Run(tc.line, func(t *testing.T) {
			got, err := valueLen([]byte(tc.line))
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("valueLen(%q): got %d, %v; want %d, ok=%v", tc.line, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestSessionDirectAndProxy(t *testing.T) {
	t.Parallel()
	needBinary(t, "memcached")
	ps := NewProcs(nil)
	t.Cleanup(func() { ps.StopAll(time.Second) })
	nodes, err := ps.StartMemcacheds(context.Background(), findBinary("", "memcached"), 3)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := directTarget(nodes)
	if err != nil {
		t.Fatal(err)
	}
	ks := newKeyspace("t:", 300)
	if err := prefill(context.Background(), direct, ks, []byte("hello"), time.Second); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes { // ketama spreads 300 keys over all three
		if items := mustStat(t, n, "curr_items"); items < 50 {
			t.Errorf("node %d holds %d items; want a fair share of 300", i, items)
		}
	}
	sess := direct.session(time.Second, true)
	defer sess.close()
	ops := []op{
		{kind: opGet, keys: ks.keys[:300]},
		{kind: opGet, keys: ks.keys[7:8]},
		{kind: opDelete, keys: ks.keys[7:8]},
		{kind: opGet, keys: ks.keys[7:8]},
		{kind: opSet, keys: ks.keys[8:9], val: []byte("x")},
	}
	reps := make([]reply, len(ops))
	sess.do(ops, reps)
	for i, r := range reps {
		if r.err != nil {
			t.Fatalf("op %d: %v", i, r.err)
		}
	}
	if reps[0].hits != 300 || string(reps[1].val) != "hello" || !reps[2].stored || reps[3].misses != 1 || !reps[4].stored {
		t.Fatalf("replies: got %+v; want 300 hits, hello, DELETED, a miss, STORED", reps)
	}
	// Through one address: that node answers for its own keys only.
	one := proxyTarget("one", nodes[0].Addr).session(time.Second, false)
	defer one.close()
	one.do(ops[:1], reps[:1])
	if h := reps[0].hits; h == 0 || h == 300 {
		t.Fatalf("one node's hits: got %d; want some but not all", h)
	}
}

func TestSessionReportsDeadNode(t *testing.T) {
	t.Parallel()
	needBinary(t, "memcached")
	ps := NewProcs(nil)
	t.Cleanup(func() { ps.StopAll(time.Second) })
	n, err := ps.StartMemcached(context.Background(), findBinary("", "memcached"))
	if err != nil {
		t.Fatal(err)
	}
	sess := proxyTarget("one", n.Addr).session(200*time.Millisecond, false)
	defer sess.close()
	reps := make([]reply, 1)
	get := []op{{kind: opGet, keys: [][]byte{[]byte("k")}}}
	n.Pause()
	defer n.Resume()
	began := time.Now()
	sess.do(get, reps)
	if reps[0].err == nil || time.Since(began) > 2*time.Second {
		t.Fatalf("get from a hung node: got %v after %v; want a timeout within the deadline", reps[0].err, time.Since(began))
	}
	n.Resume()
	sess.do(get, reps) // redials
	if reps[0].err != nil || reps[0].misses != 1 {
		t.Fatalf("get after resume: got %+v; want a clean miss", reps[0])
	}
}

func mustStat(t *testing.T, n *Node, name string) int64 {
	t.Helper()
	st, err := n.Stats(time.Second)
	if err != nil {
		t.Fatal(fmt.Errorf("stats %s: %w", n.Addr, err))
	}
	return statInt(st, name)
}
