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
func Probe() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := New(8)
	if err != nil {
		return err
	}
	defer r.Close()
	fds, err := loopbackPair()
	if err != nil {
		return fmt.Errorf("io_uring probe: %w", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)

	big := make([]byte, 4<<20)
	sent, got, err := r.probeSend(fds, big, true)
	switch {
	case err != nil:
		return err
	case sent <= 0 || sent >= len(big) || got != sent:
		return fmt.Errorf("io_uring probe: a short send reported %d bytes, the peer read %d", sent, got)
	}
	small := big[:100]
	if sent, got, err = r.probeSend(fds, small, true); err != nil {
		return err
	} else if sent != len(small) || got != len(small) {
		return fmt.Errorf("io_uring probe: a whole send reported %d bytes, the peer read %d", sent, got)
	}
	if _, _, err = r.probeSend(fds, big, false); err != nil { // fill the socket
		return err
	}
	if sent, _, err = r.probeSend(fds, small, false); err != nil {
		return err
	} else if sent != -int(unix.EAGAIN) {
		return fmt.Errorf("io_uring probe: a send to a full socket reported %d, want -EAGAIN", sent)
	}
	unix.Write(fds[1], []byte{1})
	if !r.PollIn(fds[0], 7) {
		return errors.New("io_uring probe: ring full")
	}
	if err := r.Enter(true, time.Second, false); err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("io_uring probe: wait: %w", err)
	}
	polled := false
	r.Reap(func(c CQE) { polled = polled || c.UserData == 7 && c.Res&unix.POLLIN != 0 })
	if !polled {
		return errors.New("io_uring probe: a poll did not wake its wait")
	}
	return nil
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
		if err != nil || n <= 0 {
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
