//go:build linux

package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// TestLoopHandOffKeepsOrder: a client pipelines requests an event loop
// does itself around ones it hands to the goroutine path (flush_all,
// stats, a malformed line), in one write. Every reply comes in the order
// asked, with what each request saw of the ones before it, exactly as
// memcached answers the same bytes; the connection is handed over once.
func TestLoopHandOffKeepsOrder(t *testing.T) {
	t.Parallel()
	direct := mctest.Start(t)
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	req := "set a 0 0 2\r\nv1\r\nget a\r\nflush_all\r\nget a\r\nset b 0 0 2\r\nv2\r\n" +
		"get b\r\nbogus\r\nget b a\r\nincr n 1\r\nset n 0 0 1\r\n5\r\nincr n 2\r\nmn\r\n"
	want := []string{"STORED", "VALUE a 0 2", "v1", "END", "OK", "END", "STORED",
		"VALUE b 0 2", "v2", "END", "ERROR", "VALUE b 0 2", "v2", "END", "NOT_FOUND", "STORED", "7", "MN"}
	for _, addr := range []string{direct.Addr, f.addr} {
		c := dial(t, addr)
		c.send(req)
		c.expect(want...)
	}
	// flush_all handed the connection over, and it stayed; stats (asked
	// on a connection of its own) hands that one over too.
	if got := statValue(t, f.addr, "loop_handoffs"); got != "2" {
		t.Errorf("loop_handoffs: got %s; want 2", got)
	}
}

// TestLoopMidStreamBinaryByte: a line starting with 0x80 after text
// requests is an unknown command for memcached (it chose the text
// protocol at the first byte), not a binary opening; handed to the
// goroutine path, it must stay that.
func TestLoopMidStreamBinaryByte(t *testing.T) {
	t.Parallel()
	direct := mctest.Start(t)
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	for _, addr := range []string{direct.Addr, f.addr} {
		c := dial(t, addr)
		c.send("set k 0 0 1\r\nx\r\n\x80get k\r\nget k\r\n")
		c.expect("STORED", "ERROR", "VALUE k 0 1", "x", "END")
	}
}

// TestLoopPipelineBackpressure: a client pipelines more gets of a large
// value than a loop lets it have in flight (and more reply bytes than the
// socket buffers hold) before it reads anything. The loop stops reading
// it and resumes as it drains: every reply arrives whole and in order.
func TestLoopPipelineBackpressure(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	c := dial(t, f.addr)
	value := strings.Repeat("z", 64<<10)
	c.send("set big 0 0 65536\r\n" + value + "\r\n")
	c.expect("STORED")
	const gets = 600 // past pipelineDepth (128) in flight, ~38 MiB of replies
	var req strings.Builder
	for i := 0; i < gets; i++ {
		req.WriteString("get big\r\nget small" + strings.Repeat("x", i%7) + "\r\n")
	}
	go c.nc.Write([]byte(req.String()))
	for i := 0; i < gets; i++ {
		c.expect("VALUE big 0 65536", value, "END", "END")
	}
}

// statValue reads one stat of shepherd's own "stats".
func statValue(t *testing.T, addr, name string) string {
	t.Helper()
	c := dial(t, addr)
	c.send("stats\r\n")
	for {
		l := c.line()
		if l == "END" {
			t.Fatalf("stats has no %s", name)
		}
		if f := strings.Fields(l); len(f) == 3 && f[1] == name {
			return f[2]
		}
	}
}

// TestLoopHerdContinuation: commands on protected keys from loop clients
// run as continuations: a reader held on another's refill waits without
// holding the loop (a third client is answered meanwhile), is woken by
// the fill with its value, and its pipelined plain get answers after it;
// the refill set finds the lease its client's read won. No connection
// leaves the loop but the one that asks for stats.
func TestLoopHerdContinuation(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), func(cfg *proxy.Config) {
		cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "lh:", Hold: 20 * time.Second, LeaseTTL: 30 * time.Second}}}
	})
	filler, held, other := dial(t, f.addr), dial(t, f.addr), dial(t, f.addr)
	other.send("set plain 0 0 1\r\np\r\n")
	other.expect("STORED")
	filler.send("get lh:k\r\n")
	filler.expect("END") // the miss that wins the refill
	held.send("get lh:k\r\nget plain\r\n")
	for i := 0; i < 20; i++ { // the loop serves others while held waits
		other.send("get plain\r\nset lh:other 0 0 1\r\no\r\ndelete lh:other\r\n")
		other.expect("VALUE plain 0 1", "p", "END", "STORED", "DELETED")
	}
	filler.send("set lh:k 0 0 4\r\nfill\r\n")
	filler.expect("STORED")
	held.expect("VALUE lh:k 0 4", "fill", "END", "VALUE plain 0 1", "p", "END")
	if got := statValue(t, f.addr, "loop_handoffs"); got != "1" {
		t.Errorf("loop_handoffs: got %s; want 1 (the stats connection's own)", got)
	}
}

// TestLoopPipelinedMergedGets: a client pipelines more keys of
// multi-node gets than the loop lets it have in flight at once (their
// replies are held whole until every node answered); the rest wait
// their turn, and every reply comes whole and in order.
func TestLoopPipelinedMergedGets(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	c := dial(t, f.addr)
	var set, get strings.Builder
	var want []string
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&set, "set m%d 0 0 %d\r\n%s\r\n", i, len(fmt.Sprint(i)), fmt.Sprint(i))
		want = append(want, fmt.Sprintf("VALUE m%d 0 %d", i, len(fmt.Sprint(i))), fmt.Sprint(i))
	}
	c.send(set.String())
	for i := 0; i < 100; i++ {
		c.expect("STORED")
	}
	get.WriteString("get")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&get, " m%d", i)
	}
	get.WriteString(" absent\r\n")
	const gets = 40
	c.send(strings.Repeat(get.String()+"mn\r\n", gets))
	for g := 0; g < gets; g++ {
		c.expect(append(want, "END", "MN")...)
	}
}

// TestLoopSplicedInOrder: the data blocks of large one-node replies go
// from node to client by splice; requests pipelined behind them still
// come in order and whole, for a client that reads at once and for one
// that stops for a while (its socket fills and the pipe holds the rest,
// 4 MB in all, until it reads on).
func TestLoopSplicedInOrder(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1, "-I", "4m"), nil)
	c := dial(t, f.addr)
	const n = 4
	big := make([]byte, 1000000) // under max_item_size (1 MiB), over the 256 KiB a reply starts streaming at
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	get := "get"
	for k := 0; k < n; k++ {
		c.send(fmt.Sprintf("set b%d 0 0 %d\r\n%s\r\n", k, len(big), big))
		c.expect("STORED")
		get += fmt.Sprintf(" b%d", k)
	}
	c.send("set s 0 0 1\r\nx\r\n")
	c.expect("STORED")
	got := make([]byte, len(big)+2)
	for _, slow := range []bool{false, true} {
		c.send(get + "\r\nget s\r\n" + get + " s\r\nmn\r\n")
		for round := 0; round < 2; round++ {
			for k := 0; k < n; k++ {
				c.expect(fmt.Sprintf("VALUE b%d 0 %d", k, len(big)))
				if slow && k == 0 {
					time.Sleep(300 * time.Millisecond)
				}
				if _, err := io.ReadFull(c.br, got); err != nil || !bytes.Equal(got[:len(big)], big) || string(got[len(big):]) != "\r\n" {
					t.Fatalf("slow %v, round %d, value %d: err %v, or the bytes differ", slow, round, k, err)
				}
			}
			if round == 0 {
				c.expect("END", "VALUE s 0 1", "x", "END")
			}
		}
		c.expect("VALUE s 0 1", "x", "END", "MN")
	}
}

// TestLoopRing: a loop writes a turn's replies through io_uring, sleeping
// in the same system call (loopring.go), where the kernel passes the
// probe, and with write(2) when event_loop_io_uring is false. A client
// with a small receive buffer pipelines 4,000 gets (8 MB of replies) and reads nothing for
// a while, so sends come back short or with EAGAIN: every reply still
// arrives, whole and in order, either way.
func TestLoopRing(t *testing.T) {
	t.Parallel()
	for _, ring := range []bool{true, false} {
		t.Run(fmt.Sprintf("io_uring=%t", ring), func(t *testing.T) {
			t.Parallel()
			f := startShepherd(t, mctest.StartN(t, 3), func(cfg *proxy.Config) { cfg.NoLoopIOURing = !ring })
			c := dial(t, f.addr)
			const keys, gets, size = 40, 4000, 2000 // 8 MB of replies, more than the socket buffers hold
			for i := range keys {
				c.send(fmt.Sprintf("set ring:%d 0 0 %d\r\n%s\r\n", i, size, strings.Repeat(string(rune('a'+i%26)), size)))
				c.expect("STORED")
			}
			r := dial(t, f.addr)
			r.nc.(*net.TCPConn).SetReadBuffer(64 << 10)
			for i := 0; i < gets; i += 100 { // batches the loop takes whole (under pipelineDepth)
				var req strings.Builder
				for j := i; j < i+100; j++ {
					fmt.Fprintf(&req, "get ring:%d\r\n", j%keys)
				}
				r.send(req.String())
				time.Sleep(10 * time.Millisecond) // answered before the next: the replies pile up against a full socket
			}
			r.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
			for i := range gets {
				k := i % keys
				r.expect(fmt.Sprintf("VALUE ring:%d 0 %d", k, size), strings.Repeat(string(rune('a'+k%26)), size), "END")
			}
			enters := statValue(t, f.addr, "loop_ring_enters")
			switch {
			case ring && enters == "0":
				t.Errorf("loop_ring_enters is 0: the loop did not use io_uring (kernel too old, or refused: see uring.Probe)")
			case !ring && enters != "0":
				t.Errorf("loop_ring_enters is %s with event_loop_io_uring false", enters)
			}
		})
	}
}

// TestLoopPace: a loop writes with write(2) while its turns carry one
// request or fewer, and takes its ring once they carry more (pace in
// loopring.go). A client in lockstep (a turn reads its request, the next
// its reply) never brings the ring in; the same client sending 50 gets at
// a time does.
func TestLoopPace(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	c := dial(t, f.addr)
	c.send("set pace 0 0 1\r\nx\r\n")
	c.expect("STORED")
	for range 3 * 128 { // three windows of pace's at two turns a request
		c.send("get pace\r\n")
		c.expect("VALUE pace 0 1", "x", "END")
	}
	if enters := statValue(t, f.addr, "loop_ring_enters"); enters != "0" {
		t.Errorf("loop_ring_enters is %s after gets in lockstep: want 0, the ring does not pay there", enters)
	}
	batch := strings.Repeat("get pace\r\n", 50)
	for range 100 {
		c.send(batch)
		for range 50 {
			c.expect("VALUE pace 0 1", "x", "END")
		}
	}
	if enters := statValue(t, f.addr, "loop_ring_enters"); enters == "0" {
		t.Errorf("loop_ring_enters is 0 after 100 batches of 50 gets: the loop did not take its ring (kernel too old, or refused: see uring.Probe)")
	}
}
