//go:build linux

package uring

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Probe checks, on a loopback TCP connection of its own, that this
// kernel gives a ring what Send promises: a send that fits posts nothing,
// a send cut short posts the bytes it sent (and sent exactly those), a
// send to a full socket posts -EAGAIN, and a poll wakes a wait. Kernels
// before 6.1, or kernels and sandboxes that refuse io_uring, fail it; a
// loop then writes with write(2).
func Probe() error { return probe(observe) }

// probe is Probe with how it observes the kernel as an argument, so that
// a test can hand it what this kernel never does.
func probe(observe func() (observed, error)) error {
	o, err := observe()
	if err != nil {
		return err
	}
	return o.check()
}

// observed is what the probe's sends and poll reported.
type observed struct {
	shortSent, shortGot int  // a 4 MiB send to a 4 KiB buffer: reported, read by the peer
	wholeSent, wholeGot int  // then 100 bytes
	fullSent            int  // 100 bytes to a socket filled up
	polled              bool // a poll of a readable socket woke a wait
}

const probeBig, probeSmall = 4 << 20, 100

// check says what of o breaks Send's promise, if anything.
func (o observed) check() error {
	switch {
	case o.shortSent <= 0 || o.shortSent >= probeBig || o.shortGot != o.shortSent:
		return fmt.Errorf("io_uring probe: a short send reported %d bytes, the peer read %d", o.shortSent, o.shortGot)
	case o.wholeSent != probeSmall || o.wholeGot != probeSmall:
		return fmt.Errorf("io_uring probe: a whole send reported %d bytes, the peer read %d", o.wholeSent, o.wholeGot)
	case o.fullSent != -int(unix.EAGAIN):
		return fmt.Errorf("io_uring probe: a send to a full socket reported %d, want -EAGAIN", o.fullSent)
	case !o.polled:
		return errors.New("io_uring probe: a poll did not wake its wait")
	}
	return nil
}

// observe runs the probe's sends and poll on a ring and a loopback
// connection of its own.
func observe() (o observed, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := New(8)
	if err != nil {
		return o, err
	}
	defer r.Close()
	fds, err := loopbackPair()
	if err != nil {
		return o, fmt.Errorf("io_uring probe: %w", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)

	big := make([]byte, probeBig)
	small := big[:probeSmall]
	if o.shortSent, o.shortGot, err = r.probeSend(fds, big, true); err != nil {
		return o, err
	}
	if o.wholeSent, o.wholeGot, err = r.probeSend(fds, small, true); err != nil {
		return o, err
	}
	if _, _, err = r.probeSend(fds, big, false); err != nil { // fill the socket
		return o, err
	}
	if o.fullSent, _, err = r.probeSend(fds, small, false); err != nil {
		return o, err
	}
	unix.Write(fds[1], []byte{1})
	if !r.PollIn(fds[0], 7) {
		return o, errors.New("io_uring probe: ring full")
	}
	if err := r.Enter(true, time.Second, false); err != nil && !errors.Is(err, unix.EINTR) {
		return o, fmt.Errorf("io_uring probe: wait: %w", err)
	}
	r.Reap(func(c CQE) { o.polled = o.polled || c.UserData == 7 && c.Res&unix.POLLIN != 0 })
	return o, nil
}

// probeSend sends p on fds[0] and reports what the completion said (len(p)
// when none came) and, with drain, what fds[1] read.
func (r *Ring) probeSend(fds [2]int, p []byte, drain bool) (sent, got int, err error) {
	if _, ok := r.Send(fds[0], p, 1); !ok {
		return 0, 0, errors.New("io_uring probe: ring full")
	}
	if err := r.Enter(false, 0, false); err != nil || r.Pending() > 0 {
		return 0, 0, fmt.Errorf("io_uring probe: submit: %v (%d left)", err, r.Pending())
	}
	sent = len(p)
	r.Reap(func(c CQE) { sent = int(c.Res) })
	buf := make([]byte, 1<<20)
	for drain {
		n, err := unix.Read(fds[1], buf)
		if err != nil || n == 0 { // EAGAIN: all read (the peer never closes here)
			break
		}
		got += n
	}
	return sent, got, nil
}

// loopbackPair connects two non-blocking TCP sockets on 127.0.0.1.
func loopbackPair() (fds [2]int, err error) {
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fds, err
	}
	defer unix.Close(l)
	if err = unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err == nil {
		err = unix.Listen(l, 1)
	}
	if err != nil {
		return fds, err
	}
	sa, err := unix.Getsockname(l)
	if err != nil {
		return fds, err
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fds, err
	}
	if err = unix.Connect(c, sa); err != nil {
		unix.Close(c)
		return fds, err
	}
	a, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(c)
		return fds, err
	}
	for _, fd := range []int{c, a} {
		unix.SetNonblock(fd, true)
	}
	return [2]int{c, a}, nil
}
