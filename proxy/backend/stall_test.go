package backend

import (
	"testing"
	"time"
)

// TestStallBounds states the bounds the README documents for streamed
// replies: a client that takes no part for 10 s is closed, and a backend
// reader waits 5 s longer for its part to be taken, so the client's own
// writer gives up first (and closes the client) before the reader drops
// the rest of the reply and frees the backend connection.
func TestStallBounds(t *testing.T) {
	if ClientStall != 10*time.Second {
		t.Errorf("ClientStall = %v; want 10s (README: a client that stalls for 10 s is closed)", ClientStall)
	}
	if PartWait != 15*time.Second {
		t.Errorf("PartWait = %v; want 15s (README: a backend reader waits up to 15 s for a part to be taken)", PartWait)
	}
	if PartWait <= ClientStall {
		t.Errorf("PartWait %v <= ClientStall %v: the backend reader would give up before the client's writer", PartWait, ClientStall)
	}
}
