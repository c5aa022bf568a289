package proxy_test

import (
	"fmt"
	"testing"
	"time"
)

// TestLoopStreamHolderDoesNotBlockOthers: a client that leaves a large
// one-node reply unread holds the loop's backend connection it streams
// from (loopMaxOut). Another client's requests to the same node must not
// wait behind it for the stall bound (10 s): they are answered at once,
// on another connection, as on goroutines (wireConn.detach).
func TestLoopStreamHolderDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	n := bigNode(t)
	f := bigShepherd(t, n, 1)
	slow := dial(t, f.addr)
	slow.send(getBig(40)) // far more than the socket buffers hold
	if l := slow.line(); l != fmt.Sprintf("VALUE big 0 %d", bigSize) {
		t.Fatalf("slow client: got %q; want the first VALUE", l)
	}
	other := dial(t, f.addr)
	start := time.Now()
	other.nc.SetDeadline(time.Now().Add(3 * time.Second))
	other.send("set small 0 0 2\r\nok\r\nget small\r\n")
	other.expect("STORED", "VALUE small 0 2", "ok", "END")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("other client answered after %v; want at once", d)
	}
	slow.nc.Close() // mid-stream, while it holds the connection
	for deadline := time.Now().Add(5 * time.Second); connections(other) != "1"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the closed client is still counted")
		}
	}
	other.send("get small\r\n")
	other.expect("VALUE small 0 2", "ok", "END")
	for _, st := range f.srv.Backends() {
		if st.State != "healthy" {
			t.Errorf("node %s: got %s; want healthy", st.Addr, st.State)
		}
	}
}
