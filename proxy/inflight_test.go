package proxy_test

import (
	"bufio"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// TestMaxInflight: past max_inflight requests to a node, more are refused
// at once with SERVER_ERROR (never queued without bound), and counted. A
// refusal says the node is busy, not that it failed: with failure_limit 1
// the refusals must not eject it.
func TestMaxInflight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	fake := startFake(t, func(w *bufio.Writer, line string) bool {
		<-release // hold every request until the test lets go
		w.WriteString("STORED\r\n")
		return true
	})
	f := startShepherd(t, nil, func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Servers = []ring.Node{{Addr: fake.Addr, Weight: 1}}
		p.MaxInflight, p.Connections, p.FailureLimit = 2, 1, 1
	})
	var wg sync.WaitGroup
	replies := make(chan string, 4)
	for i := 0; i < 4; i++ {
		c := dial(t, f.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(fmt.Sprintf("set k%d 0 0 1\r\nx\r\n", i))
			replies <- c.line()
		}()
	}
	var busy []string
	for deadline := time.After(5 * time.Second); len(busy) < 2; {
		select {
		case r := <-replies:
			busy = append(busy, r)
		case <-deadline:
			t.Fatalf("got %d immediate replies; want 2 refused while 2 are in flight", len(busy))
		}
	}
	close(release)
	wg.Wait()
	close(replies)
	for _, r := range busy {
		if !strings.HasPrefix(r, "SERVER_ERROR") || !strings.Contains(r, "too many requests in flight") {
			t.Errorf("refused request: got %q; want SERVER_ERROR ... too many requests in flight", r)
		}
	}
	for r := range replies {
		if r != "STORED" {
			t.Errorf("admitted request: got %q; want STORED", r)
		}
	}
	st := f.srv.Backends()[0]
	if st.Rejected != 2 {
		t.Errorf("rejected counter: got %d; want 2", st.Rejected)
	}
	if st.Ejections != 0 || st.State != "healthy" {
		t.Errorf("after 2 refusals with failure_limit 1: %d ejections, state %s; want 0, healthy (refusals are not failures)", st.Ejections, st.State)
	}
}
