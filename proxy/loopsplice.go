//go:build linux

// Splicing a streamed reply's data blocks (Linux): the bytes of a large
// VALUE block go from the node's socket into a pipe and from the pipe to
// the client's socket, without being copied through the loop's buffers.
// One thread relaying every byte by read and write was the loop's limit
// for large values (80% of its time in those copies).
//
// Only the inside of a data block is spliced, and only when the client's
// output is empty (nothing of its may come before those bytes) and the
// loop has nothing of the node's reply buffered: the VALUE lines, the
// CRLF after each block and END still go through stream(), which checks
// them. While the pipe holds bytes the client has not taken, the client
// holds the node connection (as when its output is full) and its
// writeClient drains the pipe first.
package proxy

import (
	"errors"

	"golang.org/x/sys/unix"
)

const (
	// spliceMin is the least of a data block left to splice; less is read.
	spliceMin = 64 << 10
	// splicePipe is the pipe's size asked for (the kernel may give less).
	splicePipe = 1 << 20
)

// canSplice reports whether the next bytes of b's connection are the
// inside of a data block that may go straight to its client.
func (b *lback) canSplice() bool {
	if len(b.in) > 0 || len(b.pend) == 0 || b.held != nil || b.noSplice {
		return false
	}
	o := b.pend[0]
	if !o.streaming || o.left < spliceMin || o.call.orphan {
		return false
	}
	c := o.call.c
	return !c.gone && c.unwritten() == 0 && !c.blocked
}

// spliceIn moves what the node sent of the current data block into b's
// pipe, then on to the client.
func (b *lback) spliceIn() {
	o := b.pend[0]
	if b.pipe[0] < 0 {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			b.noSplice = true // read instead, on this connection
			return
		}
		unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, splicePipe)
		b.pipe = p
	}
	k, err := rawSplice(b.fd, b.pipe[1], o.left)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	if err != nil || k == 0 {
		if err == nil {
			err = errors.New("EOF")
		}
		b.fail(b.n.io.Wrap(err))
		return
	}
	b.progress = b.el.now
	b.piped += int(k)
	o.left -= int(k)
	c := o.call.c
	if b.spliceOut(c) && b.piped > 0 {
		b.held, c.holding = c, b // taken as the client takes the pipe's bytes
		b.want(b.events)
	}
}

// spliceOut moves what b's pipe holds to client c, and reports whether c
// is still there. What the client does not take waits for EPOLLOUT.
func (b *lback) spliceOut(c *lclient) bool {
	el := b.el
	for b.piped > 0 {
		m, err := rawSplice(b.pipe[0], c.fd, b.piped)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil || m == 0 {
			b.dropPipe()
			el.closeClient(c)
			return false
		}
		b.piped -= int(m)
		c.blockedAt = el.now // progress
		c.active = el.now
	}
	if b.piped > 0 {
		if !c.blocked {
			c.blocked, c.blockedAt = true, el.now
			el.someBlocked = true
		}
		el.watch(c)
	}
	return true
}

// rawSplice is splice(2) between non-blocking descriptors, as a raw
// system call like the loop's reads and writes (see rawRead).
func rawSplice(in, out, n int) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n),
		unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// dropPipe discards what b's pipe holds (its client is gone): the pipe is
// closed, and the next splice makes another.
func (b *lback) dropPipe() {
	if b.pipe[0] >= 0 {
		unix.Close(b.pipe[0])
		unix.Close(b.pipe[1])
	}
	b.pipe, b.piped = [2]int{-1, -1}, 0
}
