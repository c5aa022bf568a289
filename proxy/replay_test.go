// Replay's promise about stand-ins: once a node is readmitted, no stand-in
// keeps a copy of the keys written on it during the outage.
package proxy_test

import (
	"fmt"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// TestReplayRemovesStandInCopies: A's keys are written while A is
// ejected, so they land on its stand-ins; A returns, the replay copies
// them to A, and then no other node holds them. A stand-in's leftover
// copy is a value a later outage of A could serve again after A's own
// copy moved on.
func TestReplayRemovesStandInCopies(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 3)
	f := startShepherd(t, nodes, staleConfig(""))
	c := dial(t, f.addr)
	keys := make([]string, 8)
	for i := range keys {
		keys[i] = keyOn(t, f, 0, fmt.Sprintf("standin%d:", i))
		c.send("set " + keys[i] + " 0 0 2\r\nv1\r\n")
		c.expect("STORED")
	}
	ejectByTraffic(t, f, c, 0, keys[0])
	for _, k := range keys {
		c.send("set " + k + " 0 0 2\r\nv2\r\n") // on a stand-in
		c.expect("STORED")
	}
	nodes[0].Resume()
	waitState(t, f.srv, nodes[0].Addr, "healthy")

	a := dial(t, nodes[0].Addr)
	others := []*conn{dial(t, nodes[1].Addr), dial(t, nodes[2].Addr)}
	for _, k := range keys {
		a.send("get " + k + "\r\n")
		if got := readValue(t, a); got != "v2" {
			t.Errorf("A after the replay, %s: got %q; want \"v2\" (the stand-in's value)", k, got)
		}
		for i, o := range others {
			o.send("get " + k + "\r\n")
			if got := readValue(t, o); got != "" {
				t.Errorf("node %d after A's replay, %s: got %q; want a miss (the stand-in's copy removed)", i+1, k, got)
			}
		}
	}
}
