//go:build linux

// A turn's writes and the next wait in one system call, on io_uring.
//
// Where the kernel allows (uring.Probe), a loop queues the end-of-turn
// writes of flush as io_uring sends and submits them with a poll of its
// epoll descriptor in one io_uring_enter, which sleeps until the poll
// fires. With write(2) and epoll_wait the loop made a system call per
// write and one to wait, and on a busy machine it was switched out twice
// a turn: a write that wakes the reader on the loop's CPU has the loop
// preempted when the write returns (this kernel preempts only at the
// return to user space), and epoll_wait then sleeps. In one system call
// the reschedule the writes asked for is the sleep: one context switch.
//
// The sends do not wait (MSG_DONTWAIT) and are done when io_uring_enter
// returns. One that sent all of its bytes posts nothing
// (IOSQE_CQE_SKIP_SUCCESS); one cut short posts what it sent, or -EAGAIN,
// which ends the sleep at once: a short write must be followed by
// watching for EPOLLOUT before the loop may sleep. So a send is queued
// only where taking in its result later changes nothing but buffers: all
// of a client's output (not a loopWriteMax part of it) when the client is
// not paused, handing off, closing, blocked or streaming; a backend's when
// it is neither parked nor held. Every other write stays write(2).
//
// The ring is used only while it pays, which is while the loop's turns
// carry more than one request (pace).
package proxy

import (
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shepherd-proxy/shepherd/internal/uring"
)

// lsend is one queued send: whose output, which bytes (kept referenced
// until the send is done: the kernel reads them), its ring slot.
type lsend struct {
	fd     int
	slot   uint32
	p      []byte
	c      *lclient
	b      *lback
	res    int32
	posted bool // a completion came: res holds bytes sent or -errno
	dead   bool // its descriptor closed before submission; cancelled
}

// ringSlots is each loop's ring size: sends of one turn beyond it are
// written with write(2).
const ringSlots = 1024

const pollTag = 1 << 63

var (
	ringProbe    sync.Once
	ringProbeErr error
)

// ringUsable reports whether loops may use io_uring here (probed once).
func ringUsable() error {
	ringProbe.Do(func() { ringProbeErr = uring.Probe() })
	return ringProbeErr
}

// loopRing reports whether the loops are to use io_uring, saying once in
// the log which way they write.
func (s *Server) loopRing() bool {
	if s.cfg().NoLoopIOURing {
		return false
	}
	if err := ringUsable(); err != nil {
		s.loopRingOnce.Do(func() {
			s.log.Info("event loops write with write(2): io_uring is unavailable", "err", err)
		})
		return false
	}
	return true
}

// openRing gives the loop its ring, on its own thread: the ring takes
// submissions from the thread that made it only, so the loop keeps it.
func (el *eloop) openRing() {
	runtime.LockOSThread()
	r, err := uring.New(ringSlots)
	if err != nil {
		runtime.UnlockOSThread()
		el.s.log.Warn("event loop: io_uring unavailable; writing with write(2)", "err", err)
		return
	}
	el.ring = r
}

// sendLater queues a send of p for c or b at the end of a turn; false
// when it must be written now (see the file comment).
func (el *eloop) sendLater(fd int, p []byte, c *lclient, b *lback) bool {
	if !el.ringOn || !el.flushing || len(p) == 0 {
		return false
	}
	if c != nil && (c.blocked || c.paused || c.handoff || c.closing || c.holding != nil) ||
		b != nil && (b.parked || b.held != nil) {
		return false
	}
	if c != nil && c.queued || b != nil && b.queued {
		// Output that came after its send was queued: written once that
		// send's result is in, in a turn that does not sleep first.
		el.noSleep = true
		return true
	}
	slot, ok := el.ring.Send(fd, p, uint64(len(el.sends)))
	if !ok {
		return false
	}
	el.sends = append(el.sends, lsend{fd: fd, slot: slot, p: p, c: c, b: b})
	if c != nil {
		c.queued = true
	} else {
		b.queued = true
	}
	return true
}

// unqueue cancels the queued send on fd, which is about to be closed:
// the number could name another connection by the time the ring is
// entered.
func (el *eloop) unqueue(fd int) {
	if !el.flushing {
		return // sends are queued and entered within a flush and the wait after it
	}
	for i := range el.sends {
		s := &el.sends[i]
		if s.fd == fd && !s.dead {
			el.ring.Cancel(s.slot)
			s.dead = true
			if s.c != nil {
				s.c.queued = false
			} else {
				s.b.queued = false
			}
		}
	}
}

// ringWait submits the turn's sends with a poll of the epoll descriptor
// and sleeps until the poll fires, a send comes back short or msec
// passes; then it takes in the sends' results and returns the ready
// events (none when the poll has not fired).
func (el *eloop) ringWait(events []unix.EpollEvent, msec int) (int, error) {
	raw := el.rawWait && time.Since(el.lastEvent) <= rawSpell
	if ms := int(rawSpell / time.Millisecond); raw && (msec < 0 || msec > ms) {
		msec = ms
	}
	if !el.polling && el.ring.PollIn(el.epfd, pollTag) {
		el.polling = true
	}
	timeout := time.Duration(-1)
	if msec >= 0 {
		timeout = time.Duration(msec) * time.Millisecond
	}
	sleep := el.polling && !el.noSleep
	err := el.ring.Enter(sleep, timeout, raw)
	el.s.m.ringEnters.Add(1)
	for el.ring.Pending() > 0 && (err == nil || errors.Is(err, unix.EINTR)) {
		// Nothing, or not all, submitted (a signal came first): the
		// sends must be done before their results are taken in.
		err = el.ring.Enter(false, 0, raw)
		el.s.m.ringEnters.Add(1)
	}
	el.noSleep = false
	el.ring.Reap(func(c uring.CQE) {
		if c.UserData == pollTag {
			el.polling = false
			return
		}
		s := &el.sends[c.UserData]
		s.res, s.posted = c.Res, true
	})
	el.settleSends()
	if err != nil && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.ETIME) {
		return 0, err
	}
	if el.polling {
		return 0, nil // a short send, a signal or the timeout ended the wait
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(el.epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// settleSends takes in each send's result, in the order they were
// queued, as a write(2) of the same bytes would have been.
func (el *eloop) settleSends() {
	for i := range el.sends {
		s := &el.sends[i]
		if s.dead {
			continue
		}
		n, err := len(s.p), error(nil)
		if s.posted {
			if n = int(s.res); n < 0 {
				err = unix.Errno(-n)
			}
		}
		if s.c != nil {
			s.c.queued = false
			if !s.c.gone {
				el.wroteClient(s.c, n, err)
			}
		} else {
			s.b.queued = false
			if s.b.fd == s.fd {
				s.b.wrote(n, err)
			}
		}
	}
	clear(el.sends)
	el.sends = el.sends[:0]
}

// paceWindow is how many turns with events a loop counts before pace
// decides again whether to use its ring.
const paceWindow = 128

// pace decides, every paceWindow turns with events, whether the loop's
// next turns use its ring. The ring pays where turns carry more than one
// request: its one system call replaces a turn's writes and its wait,
// and the loop is switched out once a turn instead of twice. Where each
// turn carries one request or none (a client in lockstep: one turn reads
// its request, the next its reply) there is one write a turn either way,
// and the ring's wait costs more than epoll_wait's: its poll of the epoll
// descriptor completes through task work, then epoll_wait(0) takes the
// events. Measured with one client connection (herdbench, 1 connection,
// alternating runs): 50.7-51.4 µs of CPU a request and 6,600-7,200
// requests/s with write(2), 54.8-59.8 µs and 5,700-6,400 with the ring. So
// the ring is used while a window averages at least one request a turn,
// and left when it falls under three a quarter: between the two the loop
// keeps what it has, and never flips from one window to the next.
func (el *eloop) pace() {
	if el.ring == nil {
		return
	}
	if el.turns++; el.turns < paceWindow {
		return
	}
	switch {
	case !el.ringOn && el.reqs >= el.turns:
		el.ringOn = true
	case el.ringOn && 4*el.reqs < 3*el.turns:
		el.ringOn = false
	}
	el.turns, el.reqs = 0, 0
}

// closeRing releases the ring as the loop ends, and the loop's thread
// with it. A goroutine that ends locked to its thread takes the thread
// down, and a child process that thread started with Pdeathsig set (the
// tests' memcacheds) would be killed with it.
func (el *eloop) closeRing() {
	if el.ring != nil {
		el.ring.Close()
		el.ring, el.ringOn = nil, false
		runtime.UnlockOSThread()
	}
}
