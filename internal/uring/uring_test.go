//go:build linux

package uring

import (
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
}

func TestEnterTimesOutAndCancelPostsNothing(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := New(8)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fds, err := loopbackPair()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

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
