//go:build linux

// Package uring is the little of io_uring an event loop needs to send on
// its sockets and wait in one system call: a ring on raw system calls
// (no liburing, no cgo), send and poll entries, and a check that the
// running kernel reports short sends the way the loop relies on (Probe).
//
// A Ring belongs to one thread (IORING_SETUP_SINGLE_ISSUER): the
// goroutine that makes it must call runtime.LockOSThread first and keep
// it for the ring's life.
package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	setupSingleIssuer = 1 << 12
	setupDeferTaskrun = 1 << 13
	featSingleMmap    = 1 << 0
	enterGetevents    = 1 << 0
	enterExtArg       = 1 << 3
	offSQRing         = 0
	offSQEs           = 0x10000000

	opNop       = 0
	opPollAdd   = 6
	opSend      = 26
	opEpollWait = 59

	// SQECQESkipSuccess (IOSQE_CQE_SKIP_SUCCESS) posts no completion for
	// a request that succeeded.
	sqeCQESkipSuccess = 1 << 6
)

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqOffsets
	cqOff                                                                  cqOffsets
}

type sqOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// sqe is struct io_uring_sqe.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad2        uint64
}

// CQE is struct io_uring_cqe: the request's tag and its result (bytes,
// a poll mask, or -errno).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// geteventsArg is struct io_uring_getevents_arg.
type geteventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWaitUs uint32
	ts        uint64
}

// Ring is one io_uring.
type Ring struct {
	fd      int
	ring    []byte
	sqeMem  []byte
	sqes    []sqe
	sqHead  *uint32
	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []CQE
	tail    uint32 // our copy of the submission tail
	pending uint32 // entries filled and not yet submitted
	ts      unix.Timespec
	arg     geteventsArg
}

// New makes a ring of entries submission slots (a power of two). It
// needs Linux 6.1 (DEFER_TASKRUN).
func New(entries uint32) (*Ring, error) {
	var p params
	p.flags = setupSingleIssuer | setupDeferTaskrun
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", e)
	}
	r := &Ring{fd: int(fd)}
	if p.features&featSingleMmap == 0 {
		unix.Close(r.fd)
		return nil, errors.New("io_uring: the kernel lacks IORING_FEAT_SINGLE_MMAP")
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(CQE{})))
	var err error
	if r.ring, err = unix.Mmap(r.fd, offSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		unix.Close(r.fd)
		return nil, fmt.Errorf("io_uring: mmap: %w", err)
	}
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		unix.Munmap(r.ring)
		unix.Close(r.fd)
		return nil, fmt.Errorf("io_uring: mmap: %w", err)
	}
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.ring[off])) }
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.sqHead, r.sqTail, r.sqMask = at(p.sqOff.head), at(p.sqOff.tail), *at(p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(at(p.sqOff.array), p.sqEntries)
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff.head), at(p.cqOff.tail), *at(p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&r.ring[p.cqOff.cqes])), p.cqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

// Close releases the ring; requests in flight are cancelled.
func (r *Ring) Close() error {
	unix.Munmap(r.sqeMem)
	unix.Munmap(r.ring)
	return unix.Close(r.fd)
}

// next returns the next free submission entry, zeroed, and its slot; nil
// when every slot is taken.
func (r *Ring) next() (*sqe, uint32) {
	if r.tail-atomic.LoadUint32(r.sqHead) >= uint32(len(r.sqes)) {
		return nil, 0
	}
	i := r.tail & r.sqMask
	r.sqArray[i] = i
	s := &r.sqes[i]
	*s = sqe{}
	r.tail++
	r.pending++
	return s, i
}

// Send queues a send of p on the socket fd, tagged data, and returns its
// slot (for Cancel); false if the ring is full. It does not wait
// (MSG_DONTWAIT) and posts a completion only when it did not send all of
// p: the bytes it sent, or -errno (-EAGAIN for none). p must not change,
// nor its memory be freed, until the next Enter returns.
func (r *Ring) Send(fd int, p []byte, data uint64) (uint32, bool) {
	s, slot := r.next()
	if s == nil {
		return 0, false
	}
	s.opcode, s.flags, s.fd = opSend, sqeCQESkipSuccess, int32(fd)
	s.addr, s.len = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p)))), uint32(len(p))
	s.opFlags = unix.MSG_DONTWAIT | unix.MSG_WAITALL | unix.MSG_NOSIGNAL
	s.userData = data
	return slot, true
}

// Cancel turns a queued, not yet submitted entry into a no-op that posts
// nothing: its descriptor is about to be closed, and the number could be
// reused before the ring is entered.
func (r *Ring) Cancel(slot uint32) {
	s := &r.sqes[slot]
	*s = sqe{opcode: opNop, flags: sqeCQESkipSuccess}
}

// PollIn queues a one-shot wait for fd to be readable, tagged data; its
// completion carries the poll mask.
func (r *Ring) PollIn(fd int, data uint64) bool {
	s, _ := r.next()
	if s == nil {
		return false
	}
	s.opcode, s.fd, s.opFlags, s.userData = opPollAdd, int32(fd), unix.POLLIN, data
	return true
}

// Pending is how many queued entries are not yet submitted.
func (r *Ring) Pending() uint32 { return r.pending }

// Enter submits what is queued and, with wait, sleeps until a completion
// is in the ring or timeout passes (timeout < 0: no limit). Every send
// it submitted has been done when it returns. raw makes it a system call
// the Go runtime is not told of (the caller keeps its P). A signal ends
// the sleep early, with or without an error.
func (r *Ring) Enter(wait bool, timeout time.Duration, raw bool) error {
	atomic.StoreUint32(r.sqTail, r.tail)
	flags, minComplete := uintptr(0), uintptr(0)
	var arg, argSize uintptr
	if wait {
		flags, minComplete = enterGetevents, 1
		if timeout >= 0 {
			r.ts = unix.NsecToTimespec(int64(timeout))
			r.arg = geteventsArg{ts: uint64(uintptr(unsafe.Pointer(&r.ts)))}
			flags |= enterExtArg
			arg, argSize = uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg)
		}
	}
	call := unix.Syscall6
	if raw {
		call = unix.RawSyscall6
	}
	n, _, e := call(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.pending), minComplete, flags, arg, argSize)
	if e == 0 {
		r.pending -= min(uint32(n), r.pending)
		return nil
	}
	return e
}

// Reap calls f on each completion in the ring, in order, and frees them.
func (r *Ring) Reap(f func(CQE)) {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		f(r.cqes[head&r.cqMask])
	}
	atomic.StoreUint32(r.cqHead, head)
}

// EpollWait queues an epoll_wait of epfd into events (IORING_OP_EPOLL_WAIT,
// Linux 6.15), tagged data; its completion carries the number of events.
// events must stay in place until then.
func (r *Ring) EpollWait(epfd int, events []unix.EpollEvent, data uint64) bool {
	s, _ := r.next()
	if s == nil {
		return false
	}
	s.opcode, s.fd, s.userData = opEpollWait, int32(epfd), data
	s.addr, s.len = uint64(uintptr(unsafe.Pointer(&events[0]))), uint32(len(events))
	return true
}
