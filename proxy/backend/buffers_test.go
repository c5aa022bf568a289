package backend

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// Buffers are kept for reuse up to a size, so that one burst does not pin
// memory for the life of a connection (or of the op pool).
func TestGatherKeepsTheBatchBuffer(t *testing.T) {
	t.Parallel()
	ops := []*Op{{Wire: []byte("get a\r\n")}, {Wire: []byte("set b 0 0 1\r\nx\r\n")}, {Wire: []byte("mn\r\n")}}
	batch := make([]byte, 0, maxBatch*4) // at the limit: kept
	if got := gather(ops, &batch); string(got) != "get a\r\nset b 0 0 1\r\nx\r\nmn\r\n" {
		t.Fatalf("gathered %q; want the requests in order", got)
	}
	if cap(batch) != maxBatch*4 {
		t.Fatalf("batch buffer of cap %d after a small write; want the %d kept", cap(batch), maxBatch*4)
	}
	big := []*Op{{Wire: bytes.Repeat([]byte("x"), maxBatch*4+1)}}
	if got := gather(big, &batch); len(got) != maxBatch*4+1 {
		t.Fatalf("gathered %d bytes; want %d", len(got), maxBatch*4+1)
	}
	if batch != nil {
		t.Fatalf("batch buffer of cap %d kept after a burst; want it dropped", cap(batch))
	}
}

func TestRecycleKeepsSmallQueues(t *testing.T) {
	t.Parallel()
	c := newConn(nil, 1, nil)
	c.recycle(make([]*Op, 3, 4096))
	if cap(c.spare) != 4096 || len(c.spare) != 0 {
		t.Fatalf("spare len %d cap %d; want an empty queue of cap 4096 kept", len(c.spare), cap(c.spare))
	}
	c.spare = nil
	c.recycle(make([]*Op, 3, 4097))
	if c.spare != nil {
		t.Fatalf("a queue of cap 4097 kept; want it dropped")
	}
}

// Not parallel: it looks at ops after PutOp, which no other test may
// take from the pool meanwhile.
func TestPutOpDropsLargeBuffers(t *testing.T) {
	o := GetOp(nil, protocol.ReplyLine)
	o.Reply.Raw = make([]byte, 0, 64<<10)
	o.Wire = make([]byte, 0, 64<<10)
	PutOp(o)
	if cap(o.Reply.Raw) != 64<<10 || cap(o.Wire) != 64<<10 {
		t.Fatalf("64 KiB buffers dropped: reply cap %d, wire cap %d; want them kept", cap(o.Reply.Raw), cap(o.Wire))
	}
	o = GetOp(nil, protocol.ReplyLine)
	o.Reply.Raw = make([]byte, 0, 64<<10+1)
	o.Wire = make([]byte, 0, 64<<10+1)
	PutOp(o)
	if o.Reply.Raw != nil || o.Wire != nil {
		t.Fatalf("buffers over 64 KiB kept: reply cap %d, wire cap %d; want them dropped", cap(o.Reply.Raw), cap(o.Wire))
	}
}

// Reading re-arms the deadline once every progressStep bytes, not on
// every read.
func TestProgressReaderRearmsEveryStep(t *testing.T) {
	t.Parallel()
	n := NewNode("pipe", Config{Connections: 1, MaxInflight: 1, Timeouts: func() (time.Duration, time.Duration) { return time.Second, time.Hour }})
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	w := newWireConn(n, client)
	p := &progressReader{w: w}
	go server.Write(make([]byte, 2*progressStep))
	buf := make([]byte, progressStep-1)
	read := func(k int) {
		t.Helper()
		for k > 0 {
			m, err := p.Read(buf[:min(k, len(buf))])
			if err != nil {
				t.Fatal(err)
			}
			k -= m
		}
	}
	read(progressStep - 1)
	if !w.armed.IsZero() {
		t.Fatalf("re-armed after %d bytes; want not before %d", progressStep-1, progressStep)
	}
	read(1)
	first := w.armed
	if first.IsZero() {
		t.Fatalf("not re-armed after %d bytes", progressStep)
	}
	read(progressStep - 1)
	if w.armed != first {
		t.Fatal("re-armed again before another progressStep bytes")
	}
}
