//go:build linux

// Unit test of pace, the loop's choice between its ring and write(2), on
// a loop that never runs: windows of turns and requests in, the choice out.
package proxy

import (
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/uring"
)

func TestPace(t *testing.T) {
	// window is one paceWindow of turns with events carrying reqs requests.
	type window struct {
		reqs int
		want bool // ringOn after the window
	}
	for _, tc := range []struct {
		name    string
		windows []window
	}{
		{"lockstep stays on write(2)", []window{{paceWindow / 2, false}, {paceWindow / 2, false}}},
		{"no requests", []window{{0, false}}},
		{"one request a turn takes the ring", []window{{paceWindow, true}}},
		{"just under one a turn does not", []window{{paceWindow - 1, false}}},
		{"pipelined takes the ring", []window{{50 * paceWindow, true}}},
		{"between the thresholds keeps the ring", []window{{paceWindow, true}, {3 * paceWindow / 4, true}}},
		{"between the thresholds keeps write(2)", []window{{3 * paceWindow / 4, false}, {paceWindow - 1, false}}},
		{"under three a quarter leaves the ring", []window{{paceWindow, true}, {3*paceWindow/4 - 1, false}}},
		{"and comes back", []window{{2 * paceWindow, true}, {0, false}, {paceWindow, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el := &eloop{ring: new(uring.Ring)}
			for i, w := range tc.windows {
				for turn := range paceWindow {
					if turn == 0 {
						el.reqs += w.reqs // the requests a window's turns started
					}
					if turn < paceWindow-1 && el.ringOn != (i > 0 && tc.windows[i-1].want) {
						t.Fatalf("window %d turn %d: the choice changed inside a window", i, turn)
					}
					el.pace()
				}
				if el.ringOn != w.want {
					t.Errorf("after window %d (%d requests in %d turns): ringOn %t, want %t", i, w.reqs, paceWindow, el.ringOn, w.want)
				}
			}
		})
	}
	t.Run("no ring", func(t *testing.T) {
		el := &eloop{}
		for range paceWindow {
			el.reqs += 10
			el.pace()
		}
		if el.ringOn {
			t.Error("a loop without a ring chose it")
		}
	})
}
