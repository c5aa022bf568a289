// Streaming: a large get reply reaches the client whole, as it arrives,
// through bounded buffers; a backend failure after part of it was sent
// closes the client connection instead of inventing an END.
package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

const bigSize = 1 << 20 // memcached's default item size limit; -I 2m leaves room for the item header

// bigValue is the value stored under "big": a pattern that shows a
// misplaced byte.
var bigValue = func() []byte {
	b := make([]byte, bigSize)
	for i := range b {
		b[i] = 'a' + byte(i%23)
	}
	return b
}()

// bigNode starts one memcached that can hold a 1 MiB value and stores it
// under "big".
func bigNode(t testing.TB) *mctest.Server {
	n := mctest.Start(t, "-I", "2m")
	nc, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "set big 0 0 %d\r\n%s\r\n", bigSize, bigValue)
	if l, _ := bufio.NewReader(nc).ReadString('\n'); l != "STORED\r\n" {
		t.Fatalf("set big: got %q; want STORED", l)
	}
	return n
}

// getBig asks for "big" n times in one get.
func getBig(n int) string { return "get" + strings.Repeat(" big", n) + "\r\n" }

// readBig reads a reply of n copies of "big" and checks every byte; pace,
// if set, runs between reads of 64 KiB (a slow reader).
func readBig(br *bufio.Reader, n int, pace func()) error {
	hdr := fmt.Sprintf("VALUE big 0 %d\r\n", bigSize)
	buf := make([]byte, bigSize+2)
	for i := 0; i < n; i++ {
		l, err := br.ReadString('\n')
		if err != nil || l != hdr {
			return fmt.Errorf("value %d: got %q, %v; want %q", i, l, err, hdr)
		}
		for off := 0; off < len(buf); {
			m := min(64<<10, len(buf)-off)
			if _, err := io.ReadFull(br, buf[off:off+m]); err != nil {
				return fmt.Errorf("value %d at byte %d: %v", i, off, err)
			}
			off += m
			if pace != nil {
				pace()
			}
		}
		if !bytes.Equal(buf[:bigSize], bigValue) || string(buf[bigSize:]) != "\r\n" {
			return fmt.Errorf("value %d: got different bytes; want the stored value", i)
		}
	}
	if l, err := br.ReadString('\n'); l != "END\r\n" {
		return fmt.Errorf("after %d values: got %q, %v; want END", n, l, err)
	}
	return nil
}

// bigTimeout is the pool timeout of the streaming tests: far less than a
// 100 MiB reply takes here, twice the default for a loaded CI machine.
const bigTimeout = 2 * proxy.DefaultTimeout

// bigShepherd runs shepherd over one big node with bigTimeout.
func bigShepherd(t testing.TB, n *mctest.Server, conns int) *fixture {
	return startShepherd(t, []*mctest.Server{n}, func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Timeout, p.Connections = bigTimeout, conns
	})
}

// TestLargeMultiGetWhole: 100 x 1 MiB in one get arrives whole, twice
// over one connection, and the node stays in.
func TestLargeMultiGetWhole(t *testing.T) {
	// Not parallel: it moves 100 MiB, and run alone it cannot push the
	// parallel tests' requests past their timeouts on a small machine.
	n := bigNode(t)
	f := bigShepherd(t, n, 2)
	c := dial(t, f.addr)
	for round := 0; round < 2; round++ {
		start := time.Now()
		c.send(getBig(100))
		c.nc.SetReadDeadline(time.Now().Add(2 * time.Minute)) // catches a hang only
		if err := readBig(c.br, 100, nil); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		t.Logf("round %d: 100 MiB in %v with a %v timeout", round, time.Since(start), bigTimeout)
	}
	c.send("get big nothere big\r\n")
	if err := readBig(c.br, 2, nil); err != nil {
		t.Fatal(err)
	}
	for _, st := range f.srv.Backends() {
		if st.State != "healthy" {
			t.Errorf("node %s: got %s; want healthy", st.Addr, st.State)
		}
	}
}

// TestStreamDoesNotHoldOthers: while one client leaves a 100 MiB reply
// unread, another client's gets to the same node (over the same one
// backend connection) are answered: the streaming wire connection was
// detached and new requests took a fresh one.
func TestStreamDoesNotHoldOthers(t *testing.T) {
	// Not parallel: it moves 100 MiB, and run alone it cannot push the
	// parallel tests' requests past their timeouts on a small machine.
	n := bigNode(t)
	f := bigShepherd(t, n, 1)
	slow := dial(t, f.addr)
	slow.send(getBig(100))
	if l := slow.line(); l != fmt.Sprintf("VALUE big 0 %d", bigSize) {
		t.Fatalf("slow client: got %q; want the first VALUE", l) // the stream has begun
	}
	other := dial(t, f.addr)
	other.send("set small 0 0 2\r\nok\r\n")
	other.expect("STORED")
	for i := 0; i < 50; i++ {
		other.send("get small\r\n")
		other.expect("VALUE small 0 2", "ok", "END")
	}
	slow.nc.SetReadDeadline(time.Now().Add(2 * time.Minute))
	rest := bufio.NewReader(io.MultiReader(strings.NewReader(fmt.Sprintf("VALUE big 0 %d\r\n", bigSize)), slow.br))
	if err := readBig(rest, 100, nil); err != nil {
		t.Fatalf("slow client: %v", err)
	}
}

// TestStreamCutClosesClient: a node that fails after part of a large
// reply reached the client (it drops the connection, or stalls past the
// timeout) gets the client connection closed: no END, no miss invented.
// Alone, and as one of two nodes in a fanned-out get, on an event loop
// and on goroutines. An event loop holds a fanned-out get's replies
// whole (it answers gets of up to 128 keys itself), so there no part
// reaches the client before the node fails: the fake node's key is a
// miss, the reply whole.
func TestStreamCutClosesClient(t *testing.T) {
	t.Parallel()
	for name, after := range map[string]func(){
		"drop":  func() {},
		"stall": func() { time.Sleep(2 * time.Second) },
	} {
		for _, real := range []int{0, 1} {
			for _, loops := range []int{1, -1} {
				t.Run(fmt.Sprintf("%s/%d-real-nodes/event_loops=%d", name, real, loops), func(t *testing.T) {
					t.Parallel()
					streamCut(t, after, real, loops)
				})
			}
		}
	}
}

func streamCut(t *testing.T, after func(), real, loops int) {
	fake := startFake(t, func(w *bufio.Writer, line string) bool {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "get" {
			w.WriteString("VERSION fake\r\n")
			return true
		}
		fmt.Fprintf(w, "VALUE %s 0 %d\r\n", f[1], 4<<20)
		w.Write(bytes.Repeat([]byte{'x'}, 1<<20)) // a quarter of it
		w.Flush()
		after()
		return false
	})
	f := startShepherd(t, mctest.StartN(t, real), func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Servers = append([]ring.Node{{Addr: fake.Addr, Weight: 1, Name: "fake"}}, p.Servers...)
		p.Timeout = 300 * time.Millisecond
		cfg.EventLoops = loops
	})
	c := dial(t, f.addr)
	c.send("get k0 k1 k2 k3 k4 k5 k6 k7 k8 k9\r\n")
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if real > 0 && loops > 0 {
		c.expect("END") // k0..k9 were never set: every key a miss, the fake's too
		return
	}
	got, err := io.ReadAll(c.br)
	if err != nil {
		t.Fatalf("got %v after %d bytes; want the connection closed", err, len(got))
	}
	if bytes.HasSuffix(got, []byte("END\r\n")) || len(got) < 256<<10 {
		t.Errorf("got %d bytes ending %q; want part of the value and no END", len(got), got[max(0, len(got)-8):])
	}
}

// TestStreamMemoryBounded: shepherd's resident memory grows by less than
// 16 MiB while a client reads a 400 MiB reply slowly. shepherd runs in
// this test process, so the figure is the process's VmRSS (shepherd plus
// a test client that holds 1 MiB at a time), sampled while the reply
// flows, minus the figure before the get.
func TestStreamMemoryBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory would be measured too; make scenarios runs this")
	}
	n := bigNode(t)
	f := bigShepherd(t, n, 2)
	c := dial(t, f.addr)
	c.send(getBig(2)) // warm the connections and buffers
	if err := readBig(c.br, 2, nil); err != nil {
		t.Fatal(err)
	}
	before := vmRSS(t)
	peak := before
	reads := 0
	c.send(getBig(400))
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Minute))
	err := readBig(c.br, 400, func() {
		if reads++; reads%16 == 0 {
			peak = max(peak, vmRSS(t))
		}
		time.Sleep(100 * time.Microsecond) // slower than memcached sends
	})
	if err != nil {
		t.Fatal(err)
	}
	grew := peak - before
	t.Logf("RSS before %d KiB, peak while reading 400 MiB slowly %d KiB: grew %d KiB", before>>10, peak>>10, grew>>10)
	if grew >= 16<<20 {
		t.Errorf("RSS grew by %d KiB; want < 16 MiB", grew>>10)
	}
}

// vmRSS returns this process's resident set size in bytes.
func vmRSS(t testing.TB) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb << 10
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkLargeMultiGet: one get of 100 x 1 MiB, memcached direct,
// through shepherd (the one-node path) and through nutcracker, in MB/s.
//
//	go test -run=NONE -bench=LargeMultiGet -benchtime=20x ./proxy/
func BenchmarkLargeMultiGet(b *testing.B) {
	n := bigNode(b)
	f := bigShepherd(b, n, 2)
	nut := mctest.Nutcracker(b, mctest.NutcrackerPool([]*mctest.Server{n}, "ketama", "md5"))
	for name, addr := range map[string]string{"direct": n.Addr, "shepherd": f.addr, "nutcracker": nut} {
		b.Run(name, func(b *testing.B) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			br := bufio.NewReaderSize(nc, 64<<10)
			b.SetBytes(100 * bigSize)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				io.WriteString(nc, getBig(100))
				if err := readBig(br, 100, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readValues reads a get reply that must hold bigValue under each of keys,
// in that order, and END.
func readValues(br *bufio.Reader, keys []string) error {
	buf := make([]byte, bigSize+2)
	for i, k := range keys {
		hdr := fmt.Sprintf("VALUE %s 0 %d\r\n", k, bigSize)
		if l, err := br.ReadString('\n'); err != nil || l != hdr {
			return fmt.Errorf("value %d: got %q, %v; want %q", i, l, err, hdr)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("value %d: %v", i, err)
		}
		if !bytes.Equal(buf[:bigSize], bigValue) || string(buf[bigSize:]) != "\r\n" {
			return fmt.Errorf("value %d (%s): got different bytes; want the stored value", i, k)
		}
	}
	if l, err := br.ReadString('\n'); l != "END\r\n" {
		return fmt.Errorf("after %d values: got %q, %v; want END", len(keys), l, err)
	}
	return nil
}

// TestLargeFanOutWhole: a get of 1 MiB values spread over three nodes,
// with repeats and misses, arrives whole and in request order.
func TestLargeFanOutWhole(t *testing.T) {
	// Not parallel: it moves 100 MiB, and run alone it cannot push the
	// parallel tests' requests past their timeouts on a small machine.
	f := startShepherd(t, mctest.StartN(t, 3, "-I", "2m"), func(cfg *proxy.Config) {
		cfg.Pools["main"].Timeout = bigTimeout
	})
	c := dial(t, f.addr)
	var keys, want []string
	for i := 0; i < 12; i++ {
		k := fmt.Sprintf("fan%d", i)
		c.send(fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", k, bigSize, bigValue))
		c.expect("STORED")
		keys = append(keys, k, "nothere")
		want = append(want, k)
	}
	keys, want = append(keys, keys...), append(want, want...)
	keys, want = append(keys, keys...), append(want, want...) // 48 MiB
	for round := 0; round < 2; round++ {
		c.send("get " + strings.Join(keys, " ") + "\r\n")
		c.nc.SetReadDeadline(time.Now().Add(2 * time.Minute))
		if err := readValues(c.br, want); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	c.send("get fan1 fan2\r\n") // small again: the fast path
	if err := readValues(c.br, []string{"fan1", "fan2"}); err != nil {
		t.Fatal(err)
	}
}

// TestStalledClientClosed: a client that stops reading a large reply has
// its connection closed after the client write bound (10 s without
// progress), the rest of the reply is drained from the backend, and the
// node stays in and serves on.
func TestStalledClientClosed(t *testing.T) {
	t.Parallel()
	n := bigNode(t)
	f := bigShepherd(t, n, 1)
	stalled := dial(t, f.addr)
	stalled.send(getBig(40)) // far more than socket buffers hold
	watch := dial(t, f.addr)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if connections(watch) == "1" { // only the watcher's own
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stalled client's connection is still open after a minute; want it closed after 10 s")
		}
	}
	stalled.nc.SetReadDeadline(time.Now().Add(time.Minute))
	got, err := io.ReadAll(stalled.br)
	if err != nil || bytes.HasSuffix(got, []byte("END\r\n")) || len(got) >= 40*bigSize {
		t.Errorf("stalled client: got %d bytes, %v; want a part of the reply, no END, then EOF", len(got), err)
	}
	watch.send(getBig(2))
	if err := readBig(watch.br, 2, nil); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
	for _, st := range f.srv.Backends() {
		if st.State != "healthy" {
			t.Errorf("node %s: got %s; want healthy", st.Addr, st.State)
		}
	}
}

// TestStalledClientClosedFanOut: the same over three nodes, where the
// merge holds the later nodes' replies while it waits on the client.
func TestStalledClientClosedFanOut(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3, "-I", "2m"), func(cfg *proxy.Config) {
		cfg.Pools["main"].Timeout = bigTimeout
	})
	watch := dial(t, f.addr)
	var keys []string
	for i := 0; i < 8; i++ {
		k := fmt.Sprintf("fan%d", i)
		watch.send(fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", k, bigSize, bigValue))
		watch.expect("STORED")
		keys = append(keys, k)
	}
	stalled := dial(t, f.addr)
	stalled.send("get " + strings.Repeat(strings.Join(keys, " ")+" ", 5) + "\r\n") // 40 MiB
	// First see shepherd serve it: the watcher connected first, so until
	// shepherd accepts the stalled client (late on a loaded machine) the
	// count is 1 already, and the test would read a reply nobody stalled on.
	for deadline := time.Now().Add(time.Minute); connections(watch) != "2"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("shepherd did not take the stalled client within a minute")
		}
	}
	for deadline := time.Now().Add(time.Minute); connections(watch) != "1"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stalled client's connection is still open after a minute; want it closed after 10 s")
		}
	}
	stalled.nc.SetReadDeadline(time.Now().Add(time.Minute))
	got, err := io.ReadAll(stalled.br)
	if err != nil || bytes.HasSuffix(got, []byte("END\r\n")) || len(got) >= 40*bigSize {
		t.Errorf("stalled client: got %d bytes, %v; want a part of the reply, no END, then EOF", len(got), err)
	}
	watch.send("get fan1 fan2 fan3\r\n")
	if err := readValues(watch.br, []string{"fan1", "fan2", "fan3"}); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
	for _, st := range f.srv.Backends() {
		if st.State != "healthy" {
			t.Errorf("node %s: got %s; want healthy", st.Addr, st.State)
		}
	}
}

// connections returns shepherd's curr_connections.
func connections(c *conn) string {
	c.send("stats\r\n")
	v := ""
	for l := c.line(); l != "END"; l = c.line() {
		if f := strings.Fields(l); len(f) == 3 && f[1] == "curr_connections" {
			v = f[2]
		}
	}
	return v
}

// TestStreamPipelinedBehind: requests pipelined behind a large reply on
// the same backend connection (one client's, and another client's) each
// get their own reply, in order.
func TestStreamPipelinedBehind(t *testing.T) {
	t.Parallel()
	n := bigNode(t)
	f := bigShepherd(t, n, 1)
	setup := dial(t, f.addr)
	setup.send("set small 0 0 2\r\nok\r\n")
	setup.expect("STORED")
	done := make(chan error, 1)
	go func() {
		c := dial(t, f.addr)
		for i := 0; i < 20; i++ {
			io.WriteString(c.nc, "get small nothere small\r\n")
			c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			want := "VALUE small 0 2\r\nok\r\nVALUE small 0 2\r\nok\r\nEND\r\n"
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c.br, got); err != nil || string(got) != want {
				done <- fmt.Errorf("other client, get %d: got %q, %v; want %q", i, got, err, want)
				return
			}
		}
		done <- nil
	}()
	c := dial(t, f.addr)
	c.send(getBig(20) + "get small\r\n" + getBig(3) + "get small\r\n")
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if err := readBig(c.br, 20, nil); err != nil {
		t.Fatal(err)
	}
	c.expect("VALUE small 0 2", "ok", "END")
	if err := readBig(c.br, 3, nil); err != nil {
		t.Fatal(err)
	}
	c.expect("VALUE small 0 2", "ok", "END")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLargeMultiGetRatio alternates one get of 100 x 1 MiB from
// memcached direct and one through shepherd, so that both see the same
// load on a shared machine, and reports shepherd's speed as a fraction of
// direct's (direct time / shepherd time, summed over the run).
//
//	go test -run=NONE -bench=LargeMultiGetRatio -benchtime=40x -count=3 ./proxy/
func BenchmarkLargeMultiGetRatio(b *testing.B) {
	n := bigNode(b)
	f := bigShepherd(b, n, 2)
	direct, shep := benchBigConn(b, n.Addr), benchBigConn(b, f.addr)
	var td, ts time.Duration
	b.SetBytes(2 * 100 * bigSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		td += direct(b)
		ts += shep(b)
	}
	b.ReportMetric(td.Seconds()/ts.Seconds(), "shepherd/direct")
}

// benchBigConn returns a function that times one get of 100 x "big" on
// its own connection to addr.
func benchBigConn(b *testing.B, addr string) func(*testing.B) time.Duration {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	br := bufio.NewReaderSize(nc, 64<<10)
	return func(b *testing.B) time.Duration {
		start := time.Now()
		io.WriteString(nc, getBig(100))
		if err := readBig(br, 100, nil); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
}

// TestTimeoutBoundsProgress: a node that sends a reply in steps every
// 100 ms, for 1.5 to 3 s in all, more than the pool's 1 s timeout, gets
// it to the client whole: the timeout bounds each wait for progress, not
// the transfer. Both for a reply small enough to be held whole (240 KiB)
// and for one that streams (3.75 MiB).
func TestTimeoutBoundsProgress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ step, steps int }{{16 << 10, 15}, {128 << 10, 30}} {
		t.Run(fmt.Sprintf("%dKiB", tc.step*tc.steps>>10), func(t *testing.T) {
			t.Parallel()
			trickle(t, tc.step, tc.steps)
		})
	}
}

func trickle(t *testing.T, step, steps int) {
	fake := startFake(t, func(w *bufio.Writer, line string) bool {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "get" {
			w.WriteString("VERSION fake\r\n")
			return true
		}
		fmt.Fprintf(w, "VALUE %s 0 %d\r\n", f[1], step*steps)
		for i := 0; i < steps; i++ {
			w.Write(bytes.Repeat([]byte{'a' + byte(i%26)}, step))
			w.Flush()
			time.Sleep(100 * time.Millisecond)
		}
		w.WriteString("\r\nEND\r\n")
		return true
	})
	f := startShepherd(t, nil, func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Servers = []ring.Node{{Addr: fake.Addr, Weight: 1}}
		p.Timeout = time.Second
	})
	c := dial(t, f.addr)
	start := time.Now()
	c.send("get slow\r\n")
	c.nc.SetReadDeadline(time.Now().Add(time.Minute))
	if l, err := c.br.ReadString('\n'); l != fmt.Sprintf("VALUE slow 0 %d\r\n", step*steps) {
		t.Fatalf("got %q, %v; want the VALUE line", l, err)
	}
	data := make([]byte, step*steps+2)
	if _, err := io.ReadFull(c.br, data); err != nil {
		t.Fatalf("got %v; want the whole value", err)
	}
	for i := 0; i < steps; i++ {
		if want := bytes.Repeat([]byte{'a' + byte(i%26)}, step); !bytes.Equal(data[i*step:(i+1)*step], want) {
			t.Fatalf("step %d: got different bytes; want %q...", i, want[:4])
		}
	}
	c.expect("END")
	t.Logf("%d KiB in %v with a 1s timeout", step*steps>>10, time.Since(start))
}

// TestStreamMemoryBoundedMerged: an event loop holds a multi-node get's
// reply whole until every node answered, so what one client may have in
// flight of them is bounded (loopMaxKeys keys). A client that pipelines
// 10 gets of 100 values of 256 KiB over 3 nodes (250 MiB) and reads
// slowly must not have them all held at once: without the bound RSS grew
// 1.1 GiB with 16 such gets; with it, one get's 25 MiB is in the nodes'
// read buffers, copied out of them and in the client's output at once
// (about 100 MiB with the buffers' growth), and Go's collector lets the
// heap reach twice what is live.
func TestStreamMemoryBoundedMerged(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory would be measured too; make scenarios runs this")
	}
	const keys, size, gets = 100, 256 << 10, 10
	f := startShepherd(t, mctest.StartN(t, 3), func(cfg *proxy.Config) {
		cfg.Pools["main"].Timeout = bigTimeout
	})
	c := dial(t, f.addr)
	value := bytes.Repeat([]byte{'m'}, size)
	get := "get"
	for i := 0; i < keys; i++ {
		c.send(fmt.Sprintf("set mm%d 0 0 %d\r\n%s\r\n", i, size, value))
		c.expect("STORED")
		get += fmt.Sprintf(" mm%d", i)
	}
	get += "\r\n"
	before := vmRSS(t)
	peak := before
	c.send(strings.Repeat(get, gets))
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Minute))
	buf := make([]byte, size+2)
	for g := 0; g < gets; g++ {
		for i := 0; i < keys; i++ {
			if l := c.line(); l != fmt.Sprintf("VALUE mm%d 0 %d", i, size) {
				t.Fatalf("get %d, value %d: got %q", g, i, l)
			}
			if _, err := io.ReadFull(c.br, buf); err != nil || !bytes.Equal(buf[:size], value) {
				t.Fatalf("get %d, value %d: %v", g, i, err)
			}
			if i%10 == 0 {
				peak = max(peak, vmRSS(t))
				time.Sleep(time.Millisecond) // slower than the nodes send
			}
		}
		c.expect("END")
	}
	grew := peak - before
	t.Logf("RSS before %d KiB, peak while reading %d MiB slowly %d KiB: grew %d KiB", before>>10, gets*keys*size>>20, peak>>10, grew>>10)
	if grew >= 320<<20 {
		t.Errorf("RSS grew by %d MiB; want < 320 MiB (about one get's reply at a time)", grew>>20)
	}
}
