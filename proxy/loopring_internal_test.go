//go:build linux

// Unit tests of the loop's io_uring paths that a running proxy reaches
// only by timing: a queued send whose descriptor closes before the ring is
// entered (unqueue), and output that comes for a connection whose send is
// already queued (noSleep). The test's goroutine acts as the loop, on a
// real ring, epoll set and socket pair; no memcached.
package proxy

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shepherd-proxy/shepherd/ring"
)

// ringTestLoop returns a loop of a server that is never started, with its
// ring open on the calling goroutine's thread (closed at cleanup), and a
// connected socket pair: the loop's end registered as a client, and the
// peer's end.
func ringTestLoop(t *testing.T) (*eloop, *lclient, int) {
	t.Helper()
	if err := ringUsable(); err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	s, err := New(&Config{
		SpoolDir:    t.TempDir(),
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Pools:       map[string]*PoolConfig{"main": {Servers: []ring.Node{{Addr: "127.0.0.1:1", Weight: 1}}}}, // never dialled
		DefaultPool: "main",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	el, err := newLoop(s)
	if err != nil {
		t.Fatal(err)
	}
	el.openRing()
	if el.ring == nil {
		t.Fatal("openRing: no ring, though the probe passed")
	}
	el.ringOn = true
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fds[1])
		el.closeRing()
		unix.Close(el.epfd)
		unix.Close(el.wakefd)
	})
	s.wg.Add(1) // release's Done
	c := &lclient{el: el, fd: fds[0]}
	el.register(c)
	t.Cleanup(func() { // before the ring closes: cleanups run last first
		if !c.gone {
			el.closeClient(c)
		}
	})
	return el, c, fds[1]
}

// peerRead returns what the peer can read now, without waiting: nil when
// nothing, empty at EOF.
func peerRead(t *testing.T, fd int) []byte {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if errors.Is(err, unix.EAGAIN) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestRingUnqueue: a send queued for a client that is closed before the
// ring is entered never happens (its slot becomes a no-op), not even on a
// connection that took its descriptor number meanwhile, and leaves
// nothing to settle.
func TestRingUnqueue(t *testing.T) {
	// The check needs the closed number taken by the test's next socket; a
	// descriptor opened meanwhile elsewhere in the process (the lowest free
	// number goes to whoever asks first) spoils an attempt, not the test.
	for range 5 {
		if unqueueOnce(t) {
			return
		}
	}
	t.Fatal("the closed client's descriptor number was never reused in 5 attempts: the test could not check the cancel")
}

// unqueueOnce runs TestRingUnqueue's scenario; false if the closed
// descriptor number went elsewhere before the test's socket could take it.
func unqueueOnce(t *testing.T) bool {
	el, c, peer := ringTestLoop(t)
	c.out = []byte("VALUE k 0 1\r\nx\r\nEND\r\n")
	el.flushing = true
	if !el.sendLater(c.fd, c.out, c, nil) || !c.queued {
		t.Fatal("the client's whole output was not queued")
	}
	fd := c.fd
	el.closeClient(c)
	el.flushing = false
	if c.queued {
		t.Error("the closed client still has a send queued")
	}
	// The number is reused before the ring is entered.
	reuse, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(reuse[0])
	defer unix.Close(reuse[1])
	other := reuse[1]
	switch fd {
	case reuse[0]:
	case reuse[1]:
		other = reuse[0]
	default:
		el.wait(make([]unix.EpollEvent, 8), 0) // the cancelled entry goes out with the ring's next entry
		return false
	}
	events := make([]unix.EpollEvent, 8)
	if _, err := el.wait(events, 0); err != nil {
		t.Fatal(err)
	}
	if el.ring.Pending() != 0 {
		t.Errorf("%d ring entries not submitted", el.ring.Pending())
	}
	if got := peerRead(t, peer); len(got) > 0 { // "" is the EOF of the close
		t.Errorf("the peer of a closed client read %q: the cancelled send went out", got)
	}
	if got := peerRead(t, other); len(got) > 0 {
		t.Errorf("a connection that took the closed client's descriptor number got %q: its send went out", got)
	}
	if len(el.sends) != 0 {
		t.Errorf("%d sends left to settle", len(el.sends))
	}
	return true
}

// TestRingNoSleep: output that comes for a client whose send is queued in
// the same flush makes the wait after it return without sleeping, and the
// rest is written in the turn after: every byte arrives, in order.
func TestRingNoSleep(t *testing.T) {
	el, c, peer := ringTestLoop(t)
	first, second := "VALUE a 0 1\r\n1\r\nEND\r\n", "VALUE b 0 1\r\n2\r\nEND\r\n"
	c.out = []byte(first)
	el.flushing = true
	if !el.sendLater(c.fd, c.out, c, nil) {
		t.Fatal("the client's whole output was not queued")
	}
	c.out = append(c.out, second...)
	if !el.sendLater(c.fd, c.out[len(first):], c, nil) || !el.noSleep {
		t.Fatal("output after a queued send: not taken, or the wait would sleep")
	}
	el.flushing = false
	events := make([]unix.EpollEvent, 8)
	start := time.Now()
	// Without noSleep this wait sleeps until an event or the timeout: the
	// peer sends nothing, so that would be the whole 10 s.
	if _, err := el.wait(events, 10_000); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the wait slept %v with output unsent", d)
	}
	if c.unwritten() != len(second) || !c.blocked {
		t.Fatalf("after the first send: %d bytes unwritten, blocked %t; want %d, true (EPOLLOUT watched)", c.unwritten(), c.blocked, len(second))
	}
	for range 4 { // the turns a loop would take: EPOLLOUT, then the write
		n, err := el.wait(events, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events[:n] {
			if lc := el.fds[int(ev.Fd)]; lc != nil {
				el.ready(lc, ev.Events)
			}
		}
		el.flush()
		if c.unwritten() == 0 {
			break
		}
	}
	var got []byte
	for range 4 {
		got = append(got, peerRead(t, peer)...)
		if len(got) >= len(first)+len(second) {
			break
		}
		el.wait(events, 10) // a send queued by the last flush goes out with the next wait
	}
	if !bytes.Equal(got, []byte(first+second)) {
		t.Errorf("the peer read %q, want %q", got, first+second)
	}
}
