//go:build linux

package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
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

// hungShepherd runs shepherd over one memcached, paused, with a short
// request timeout.
func hungShepherd(t *testing.T, timeout time.Duration) *fixture {
	f := startShepherd(t, mctest.StartN(t, 1), func(cfg *proxy.Config) {
		cfg.Pools["main"].Timeout = timeout
	})
	f.nodes[0].Pause()
	t.Cleanup(f.nodes[0].Resume)
	return f
}

// TestLoopHalfCloseInFlight: a client that sends its requests and shuts
// its side of the connection down still gets every reply (here the
// hung node's timeouts: misses and SERVER_ERROR), then EOF.
func TestLoopHalfCloseInFlight(t *testing.T) {
	t.Parallel()
	f := hungShepherd(t, 300*time.Millisecond)
	c := dial(t, f.addr)
	c.send("get a\r\nversion\r\ndelete a\r\nmn\r\n")
	c.nc.(*net.TCPConn).CloseWrite()
	c.expect("END", "VERSION "+proxy.ProtocolVersion())
	if l := c.line(); !strings.HasPrefix(l, "SERVER_ERROR") {
		t.Fatalf("got %q; want SERVER_ERROR", l)
	}
	c.expect("MN")
	if rest, err := io.ReadAll(c.br); err != nil || len(rest) > 0 {
		t.Fatalf("after the replies: got %q, %v; want EOF", rest, err)
	}
}

// TestLoopDrainInFlight: shepherd stops while a client waits on a hung
// node: the request times out, its reply is written, the client is
// closed and Stop returns, well before the drain deadline.
func TestLoopDrainInFlight(t *testing.T) {
	t.Parallel()
	f := hungShepherd(t, 300*time.Millisecond)
	c := dial(t, f.addr)
	c.send("get a\r\nversion\r\n")
	time.Sleep(50 * time.Millisecond) // the loop has read it
	start := time.Now()
	stopped := make(chan struct{})
	go func() { f.stop(); close(stopped) }()
	c.expect("END", "VERSION "+proxy.ProtocolVersion())
	if rest, err := io.ReadAll(c.br); err != nil || len(rest) > 0 {
		t.Fatalf("after the replies: got %q, %v; want EOF", rest, err)
	}
	select {
	case <-stopped:
	case <-time.After(proxy.DrainTimeout):
		t.Fatal("shepherd did not stop")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stop took %v; want about the request timeout", d)
	}
}

// TestLoopResetWhileNotReading: a client the loop is not reading (it
// half-closed, or sent a request it hands off, behind one on a hung
// node) resets its connection. The loop must close it then, not spin on
// the error event until the node times out.
func TestLoopResetWhileNotReading(t *testing.T) {
	for name, req := range map[string]string{
		"half-closed": "get a\r\n",
		"handoff":     "get a\r\nstats\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := hungShepherd(t, 1500*time.Millisecond)
			watch := dial(t, f.addr)
			c := dial(t, f.addr)
			c.send(req)
			if name == "half-closed" {
				c.nc.(*net.TCPConn).CloseWrite()
			}
			time.Sleep(100 * time.Millisecond) // the loop has read it
			c.nc.(*net.TCPConn).SetLinger(0)
			before := cpuTime(t)
			c.nc.Close() // RST
			time.Sleep(time.Second)
			if d := cpuTime(t) - before; d > 300*time.Millisecond {
				t.Errorf("%v of CPU in the second after the reset; want next to none", d)
			}
			if got := connections(watch); got != "1" {
				t.Errorf("curr_connections: got %s; want 1", got)
			}
		})
	}
}

// cpuTime is the CPU time this process used so far (shepherd runs in it).
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLoopResumeAfterFlushSends: a client the loop paused (a request
// pipelined behind 128 in flight) is resumed when its output is written
// at the end of a turn; the request it then reads must go to its node in
// that turn, not wait for the next event (here the request's timeout:
// the loop had nothing else to wake it).
func TestLoopResumeAfterFlushSends(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 2, "-I", "2m"), nil)
	c := dial(t, f.addr)
	a, b := keyOn(t, f, 0, "a"), keyOn(t, f, 1, "b")
	value := strings.Repeat("v", 600<<10) // a merged reply is held whole: 600 KiB at once
	c.send(fmt.Sprintf("set %s 0 0 %d\r\n%s\r\nset %s 0 0 1\r\nx\r\n", a, len(value), value, b))
	c.expect("STORED", "STORED")
	req := "get " + a + " " + b + "\r\n" + strings.Repeat("mn\r\n", 127) + "get " + b + "\r\n"
	for round := 0; round < 5; round++ {
		c.send(req)
		start := time.Now()
		c.expect("VALUE "+a+" 0 "+fmt.Sprint(len(value)), value, "VALUE "+b+" 0 1", "x", "END")
		for i := 0; i < 127; i++ {
			c.expect("MN")
		}
		c.expect("VALUE "+b+" 0 1", "x", "END")
		if d := time.Since(start); d > time.Second {
			t.Fatalf("round %d: answered after %v; want at once", round, d)
		}
	}
}

// TestLoopReleaseStopsWatchingOutput: a client that held a streaming
// backend connection (its output full) takes its output; while the node
// then pauses mid-reply, the loop must sleep, not spin on the client's
// writability (EPOLLOUT left watched with nothing to write).
func TestLoopReleaseStopsWatchingOutput(t *testing.T) {
	const size, first = 14 << 20, 12 << 20
	fake := startFake(t, func(w *bufio.Writer, line string) bool {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "get" {
			w.WriteString("VERSION fake\r\n")
			return true
		}
		fmt.Fprintf(w, "VALUE %s 0 %d\r\n", f[1], size)
		w.Write(bytes.Repeat([]byte{'x'}, first))
		w.Flush()
		time.Sleep(1500 * time.Millisecond)
		w.Write(bytes.Repeat([]byte{'x'}, size-first))
		w.WriteString("\r\nEND\r\n")
		return true
	})
	f := startShepherd(t, nil, func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Servers = []ring.Node{{Addr: fake.Addr, Weight: 1, Name: "fake"}}
		p.Timeout = 5 * time.Second
	})
	c := dial(t, f.addr)
	c.send("get k\r\n")
	time.Sleep(300 * time.Millisecond) // output past 1 MiB: the client holds the connection
	c.expect(fmt.Sprintf("VALUE k 0 %d", size))
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c.br, make([]byte, first)); err != nil {
		t.Fatal(err)
	}
	before := cpuTime(t)
	time.Sleep(time.Second) // the node pauses
	if d := cpuTime(t) - before; d > 300*time.Millisecond {
		t.Errorf("%v of CPU while the node paused; want next to none", d)
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c.br, make([]byte, size-first+2)); err != nil {
		t.Fatal(err)
	}
	c.expect("END")
}

// TestLoopIdleSlowReader: client_idle_timeout closes a client that sends
// nothing, not one still taking a reply: a merged get of 8 MiB (put in
// its output whole, more than the socket buffers hold) read slowly over
// longer than the idle timeout arrives whole, as on goroutines
// (idleReader counts from the last reply).
func TestLoopIdleSlowReader(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 2, "-I", "2m"), func(cfg *proxy.Config) {
		cfg.ClientIdleTimeout = 500 * time.Millisecond
	})
	a, b := keyOn(t, f, 0, "a"), keyOn(t, f, 1, "b")
	c := dial(t, f.addr)
	c.nc.(*net.TCPConn).SetReadBuffer(64 << 10) // the kernel holds little of the reply
	for _, k := range []string{a, b} {
		c.send(fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", k, bigSize, bigValue))
		c.expect("STORED")
	}
	keys := strings.Fields(strings.Repeat(a+" "+b+" ", 4))
	c.send("get " + strings.Join(keys, " ") + "\r\n")
	buf := make([]byte, 64<<10)
	for i, k := range keys {
		c.expect(fmt.Sprintf("VALUE %s 0 %d", k, bigSize))
		for left := bigSize + 2; left > 0; {
			c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := io.ReadFull(c.br, buf[:min(len(buf), left)])
			if err != nil {
				t.Fatalf("value %d, %d bytes from its end: %v", i, left, err)
			}
			left -= n
			time.Sleep(10 * time.Millisecond) // 8 MiB in over 1 s
		}
	}
	c.expect("END")
}

// TestLoopHeldBackendReset: a node resets the connection a client holds
// (its output full, mid-stream). epoll reports the reset every turn
// whatever it is asked to watch; the loop must not spin on it until the
// client's stall bound, and the client, once it reads, gets what the
// node sent (some or all of the value: the buffers on the way may hold
// it) and then EOF, never an END.
func TestLoopHeldBackendReset(t *testing.T) {
	const size = 12 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				line, err := bufio.NewReader(nc).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "get ") {
					fmt.Fprintf(nc, "VERSION fake\r\n")
					return
				}
				go func() {
					fmt.Fprintf(nc, "VALUE k 0 %d\r\n", size)
					nc.Write(bytes.Repeat([]byte{'x'}, size)) // blocks once the client holds the connection
				}()
				time.Sleep(500 * time.Millisecond)
				nc.(*net.TCPConn).SetLinger(0) // close with a reset
			}()
		}
	}()
	f := startShepherd(t, nil, func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Servers = []ring.Node{{Addr: l.Addr().String(), Weight: 1, Name: "fake"}}
		p.Timeout = 5 * time.Second
	})
	c := dial(t, f.addr)
	c.send("get k\r\n")
	time.Sleep(800 * time.Millisecond) // output past 1 MiB, then the reset
	before := cpuTime(t)
	time.Sleep(time.Second)
	if d := cpuTime(t) - before; d > 300*time.Millisecond {
		t.Errorf("%v of CPU while a held connection was reset; want next to none", d)
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l := c.line(); l != fmt.Sprintf("VALUE k 0 %d", size) {
		t.Fatalf("got %q; want the VALUE line", l)
	}
	n, err := io.Copy(io.Discard, c.br) // the node never sent the CRLF and END after the value
	if err != nil || n > size {
		t.Errorf("after the reset: read %d bytes, err %v; want at most the value's %d bytes, then EOF", n, err, size)
	}
}
