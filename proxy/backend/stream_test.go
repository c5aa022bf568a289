package backend

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/protocol"
)

// bigValue stores a value of size bytes under key and returns the get
// reply memcached will send for it.
func bigValue(t *testing.T, n *Node, key string, size int) string {
	t.Helper()
	v := strings.Repeat("v", size)
	if got := mustDo(t, n, protocol.ReplyLine, fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", key, size, v)); got != "STORED\r\n" {
		t.Fatalf("set: got %q", got)
	}
	return fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\nEND\r\n", key, size, v)
}

// A large reply to a streaming op arrives in parts, at most
// protocol.FlushSize each, that add up to the reply; the connection it
// came on takes no new requests and closes once drained.
func TestStreamedReply(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, mctest.Start(t).Addr, Config{})
	want := bigValue(t, n, "big", 3*protocol.FlushSize)
	o := GetOp(n, protocol.ReplyValues)
	o.Wire = append(o.Wire, "get big\r\n"...)
	o.Stream = true
	n.Send(o, 0)
	var got bytes.Buffer
	parts := 0
	for part := o.Next(); part != nil; part = o.Next() {
		if !o.Streamed() || !bytes.Equal(o.Part(), part) {
			t.Fatal("a part handed over but the op does not say so")
		}
		got.Write(part)
		parts++
		o.Release()
	}
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	got.Write(o.Reply.Raw)
	if got.String() != want {
		t.Fatalf("streamed reply of %d bytes differs from the %d sent", got.Len(), len(want))
	}
	if parts < 2 {
		t.Fatalf("%d parts; want the reply in several", parts)
	}
	PutOp(o)
	mustDo(t, n, protocol.ReplyLine, "version\r\n")
	if n.Dials() != 2 || n.ConnErrors() != 0 {
		t.Fatalf("dials %d conn errors %d; want 2 0 (the streaming connection was detached, and closed once drained)", n.Dials(), n.ConnErrors())
	}
	// Without Stream, the same reply is read whole.
	if got := mustDo(t, n, protocol.ReplyValues, "get big\r\n"); got != want {
		t.Fatalf("whole reply of %d bytes differs", len(got))
	}
}

// A waiter that does not take a part within the part wait loses the
// rest of the reply (ErrClientStalled), which is read and dropped, so the
// connection stays aligned for what is queued behind it.
func TestStalledWaiter(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, mctest.Start(t).Addr, Config{})
	n.partWait = 20 * time.Millisecond
	bigValue(t, n, "big", 3*protocol.FlushSize)
	mustDo(t, n, protocol.ReplyLine, "set small 0 0 1\r\ns\r\n")
	o := GetOp(n, protocol.ReplyValues)
	o.Wire = append(o.Wire, "get big\r\n"...)
	o.Stream = true
	n.Send(o, 0)
	behind := send(n, protocol.ReplyValues, "get small\r\n")
	if o.Next() == nil {
		t.Fatal("no part handed over")
	}
	<-o.done // never released: the reader gives up on the waiter and finishes
	if !errors.Is(o.Err, ErrClientStalled) {
		t.Fatalf("got %v; want ErrClientStalled", o.Err)
	}
	o.Release()
	PutOp(o)
	if err := behind.Wait(); err != nil || string(behind.Reply.Raw) != "VALUE small 0 1\r\ns\r\nEND\r\n" {
		t.Fatalf("request behind the stalled reply: got %q, %v", behind.Reply.Raw, err)
	}
}

// A slow reply is not a timeout while it makes progress: every
// progressStep bytes re-arm the read deadline, and a request queued
// behind the transfer waits from its last progress, not from when it was
// sent. The transfer takes 5 gaps, longer than the timeout; each gap is a
// quarter of the timeout, so a loaded machine slows the test, not fails it.
func TestProgressRearmsDeadline(t *testing.T) {
	t.Parallel()
	const chunks, gap = 6, 500 * time.Millisecond
	size := chunks*progressStep - 20
	reply := fmt.Sprintf("VALUE slow 0 %d\r\n%s\r\nEND\r\n", size, strings.Repeat("p", size))
	addr := fakeServer(t, func(nc net.Conn, br *bufio.Reader) {
		br.ReadString('\n')
		br.ReadString('\n') // the request behind, written before the reply starts
		for i := 0; i < len(reply); i += progressStep {
			if i > 0 {
				time.Sleep(gap)
			}
			nc.Write([]byte(reply[i:min(i+progressStep, len(reply))]))
		}
		nc.Write([]byte("VERSION 1\r\n"))
		script()(nc, br)
	})
	n := newTestNode(t, addr, Config{Timeouts: func() (time.Duration, time.Duration) { return testTimeout, 4 * gap }})
	slow := send(n, protocol.ReplyValues, "get slow\r\n")
	behind := send(n, protocol.ReplyLine, "version\r\n")
	if err := slow.Wait(); err != nil || string(slow.Reply.Raw) != reply {
		t.Fatalf("slow reply: %d bytes, %v; want %d bytes", len(slow.Reply.Raw), err, len(reply))
	}
	if err := behind.Wait(); err != nil || string(behind.Reply.Raw) != "VERSION 1\r\n" {
		t.Fatalf("request behind the slow reply: got %q, %v", behind.Reply.Raw, err)
	}
}
