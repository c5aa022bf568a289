//go:build linux

package uring

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The event loop writes through a ring only where Probe passes; here it
// must, or the loop's io_uring path goes untested (CI's kernel is this
// machine's kind).
func TestProbe(t *testing.T) {
	if err := Probe(); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	o, err := observe()
	if err != nil {
		t.Fatal(err)
	}
	if o.shortSent <= 0 || o.shortSent >= probeBig || o.shortGot != o.shortSent ||
		o.wholeSent != probeSmall || o.wholeGot != probeSmall || o.fullSent != -int(unix.EAGAIN) || !o.polled {
		t.Errorf("observed %+v: want a short send of 1 to %d bytes read whole, %d of %d, -EAGAIN and the poll", o, probeBig-1, probeSmall, probeSmall)
	}
}

// check refuses every way a kernel could break Send's promise.
func TestProbeCheck(t *testing.T) {
	good := observed{shortSent: 1000, shortGot: 1000, wholeSent: probeSmall, wholeGot: probeSmall, fullSent: -int(unix.EAGAIN), polled: true}
	if err := good.check(); err != nil {
		t.Fatalf("good: %v", err)
	}
	for name, bad := range map[string]func(*observed){
		"short send reported 0":             func(o *observed) { o.shortSent, o.shortGot = 0, 0 },
		"short send reported whole":         func(o *observed) { o.shortSent, o.shortGot = probeBig, probeBig },
		"short send reported -EAGAIN":       func(o *observed) { o.shortSent = -int(unix.EAGAIN) },
		"short send read differs":           func(o *observed) { o.shortGot = 999 },
		"short send of 1 byte, read 2":      func(o *observed) { o.shortSent, o.shortGot = 1, 2 },
		"short send of all but 1, read all": func(o *observed) { o.shortSent, o.shortGot = probeBig-1, probeBig },
		"whole send reported short":         func(o *observed) { o.wholeSent = probeSmall - 1 },
		"whole send read short":             func(o *observed) { o.wholeGot = probeSmall - 1 },
		"full socket reported 0":            func(o *observed) { o.fullSent = 0 },
		"full socket reported whole":        func(o *observed) { o.fullSent = probeSmall },
		"poll never woke":                   func(o *observed) { o.polled = false },
	} {
		o := good
		bad(&o)
		if o.check() == nil {
			t.Errorf("%s: %+v passed the check", name, o)
		}
	}
	for _, edge := range []observed{
		{shortSent: 1, shortGot: 1, wholeSent: probeSmall, wholeGot: probeSmall, fullSent: -int(unix.EAGAIN), polled: true},
		{shortSent: probeBig - 1, shortGot: probeBig - 1, wholeSent: probeSmall, wholeGot: probeSmall, fullSent: -int(unix.EAGAIN), polled: true},
	} {
		if err := edge.check(); err != nil {
			t.Errorf("%+v: %v", edge, err)
		}
	}
}

// Probe fails when observing fails, or what it observed breaks the
// promise: the kernel here does neither, so these are handed in.
func TestProbeFails(t *testing.T) {
	refused := errors.New("io_uring_setup: operation not permitted")
	if err := probe(func() (observed, error) { return observed{}, refused }); !errors.Is(err, refused) {
		t.Errorf("observing failed: Probe returned %v", err)
	}
	if err := probe(func() (observed, error) { return observed{shortSent: 5}, nil }); err == nil {
		t.Error("a short send read short passed")
	}
}

// A ring of 1024 slots takes 1024 entries and refuses the next; each
// failed send posts its -errno, all 1024 of them readable in the
// completion ring (whose memory must be mapped whole).
func TestRingFullAndEveryCompletion(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := New(1024)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := []byte("x")
	for i := range 1024 {
		if _, ok := r.Send(-1, p, uint64(i)); !ok {
			t.Fatalf("entry %d refused; want 1024 taken", i)
		}
	}
	if _, ok := r.Send(-1, p, 1024); ok {
		t.Fatal("entry 1025 taken by a ring of 1024")
	}
	if err := r.Enter(false, 0, false); err != nil || r.Pending() != 0 {
		t.Fatalf("Enter: %v, %d left", err, r.Pending())
	}
	seen := make([]bool, 1024)
	r.Reap(func(c CQE) {
		if c.Res != -int32(unix.EBADF) || c.UserData >= 1024 || seen[c.UserData] {
			t.Errorf("completion %+v", c)
			return
		}
		seen[c.UserData] = true
	})
	for i, ok := range seen {
		if !ok {
			t.Fatalf("no completion for send %d", i)
		}
	}
}

// A wait with a zero timeout returns at once.
func TestEnterZeroTimeout(t *testing.T) {
	r, fds := ringAndPair(t)
	r.PollIn(fds[1], 1)                                                           // nothing to read: it stays armed
	wake := time.AfterFunc(time.Second, func() { unix.Write(fds[0], []byte{1}) }) // a wait without the timeout ends too
	defer wake.Stop()
	start := time.Now()
	if err := r.Enter(true, 0, false); err != nil && err != unix.ETIME && err != unix.EINTR {
		t.Fatalf("Enter: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a wait with a zero timeout took %v", d)
	}
}

func TestEnterTimesOutAndCancelPostsNothing(t *testing.T) {
	r, fds := ringAndPair(t)

	// A cancelled send sends nothing and posts nothing.
	slot, _ := r.Send(fds[0], []byte("abc"), 3)
	r.Cancel(slot)
	if !r.PollIn(fds[1], 9) { // nothing to read: the poll stays armed
		t.Fatal("ring full")
	}
	start := time.Now()
	if err := r.Enter(true, 50*time.Millisecond, false); err != nil && err != unix.ETIME && err != unix.EINTR {
		t.Fatalf("Enter: %v", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("a wait with nothing to wake it returned after %v, want about 50ms", d)
	}
	n := 0
	r.Reap(func(c CQE) { n++; t.Errorf("unexpected completion %+v", c) })
	if _, err := unix.Read(fds[1], make([]byte, 8)); err != unix.EAGAIN {
		t.Errorf("the cancelled send's bytes arrived (read: %v)", err)
	}

	// A send then wakes the armed poll.
	if _, ok := r.Send(fds[0], []byte("xyz"), 4); !ok {
		t.Fatal("ring full")
	}
	if err := r.Enter(true, time.Second, false); err != nil && err != unix.EINTR {
		t.Fatalf("Enter: %v", err)
	}
	var got []CQE
	r.Reap(func(c CQE) { got = append(got, c) })
	if len(got) != 1 || got[0].UserData != 9 || got[0].Res&unix.POLLIN == 0 {
		t.Errorf("completions %+v, want only the poll's, readable", got)
	}
}

// ringAndPair gives a test a ring of 8 on its locked thread and a
// loopback connection, released when it ends.
func ringAndPair(t *testing.T) (*Ring, [2]int) {
	t.Helper()
	runtime.LockOSThread()
	r, err := New(8)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	fds, err := loopbackPair()
	if err != nil {
		r.Close()
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fds[0])
		unix.Close(fds[1])
		r.Close()
		runtime.UnlockOSThread()
	})
	return r, fds
}

// EpollWait hands back the ready events with its completion (Linux 6.15).
func TestEpollWait(t *testing.T) {
	r, fds := ringAndPair(t)
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fds[1], &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fds[1])}); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	if !r.EpollWait(epfd, events, 5) {
		t.Fatal("ring full")
	}
	wake := time.AfterFunc(50*time.Millisecond, func() { unix.Write(fds[0], []byte{1}) })
	defer wake.Stop()
	var got []CQE
	for deadline := time.Now().Add(5 * time.Second); len(got) == 0 && time.Now().Before(deadline); {
		if err := r.Enter(true, time.Second, false); err != nil && err != unix.EINTR && err != unix.ETIME {
			t.Fatalf("Enter: %v", err)
		}
		r.Reap(func(c CQE) { got = append(got, c) })
	}
	if len(got) == 1 && got[0].Res == -int32(unix.EINVAL) {
		t.Skip("IORING_OP_EPOLL_WAIT refused: the kernel is older than 6.15")
	}
	if len(got) != 1 || got[0].UserData != 5 || got[0].Res != 1 {
		t.Fatalf("completions %+v; want one, tagged 5, with 1 event", got)
	}
	if events[0].Fd != int32(fds[1]) || events[0].Events&unix.EPOLLIN == 0 {
		t.Errorf("event %+v; want fd %d readable", events[0], fds[1])
	}
}
