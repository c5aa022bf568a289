//go:build linux

// Design (b): an epoll event loop per core written on golang.org/x/sys/unix.
// Each loop has its own SO_REUSEPORT listener, so the kernel spreads the
// clients, and its own connection to every node. It reads a connection
// once when epoll says readable (level-triggered: what is left is read on
// the next turn, so no read ends in EAGAIN), and after handling all ready
// events writes each connection that has output once.
package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/shepherd-proxy/shepherd/internal/uring"
)

const (
	readSize  = 64 << 10 // one read per readable event
	maxEvents = 256
)

type epollServer struct {
	addr  string
	loops []*eloop
	wg    sync.WaitGroup
}

// econn is one registered descriptor: a client or a backend.
type econn struct {
	ep *endpoint
	c  *client
	b  *backend
}

type eloop struct {
	l       *loop
	epfd    int
	lfd     int
	wakefd  int // an eventfd: written by Close
	conns   map[int]*econn
	rbuf    []byte
	polling bool        // the ring's poll of epfd is armed
	epwait  bool        // design uring-ew: wait with IORING_OP_EPOLL_WAIT (Linux 6.15), not a poll and epoll_wait(0)
	ur      *uring.Ring // design uring: the end-of-turn writes and the wait are one io_uring_enter
	sent    []*econn    // sends queued on ur, in order
	sentN   []int       // their lengths
}

// startEpoll starts loops event loops listening on listen (host:port,
// port not 0) in front of nodes.
func startEpoll(listen string, nodes []string, loops int) (server, error) {
	return startLoops(listen, nodes, loops, false, false)
}

// startUring starts the epoll design with the turn's writes and the next
// wait submitted together on io_uring (uring.go).
func startUring(listen string, nodes []string, loops int) (server, error) {
	return startLoops(listen, nodes, loops, true, false)
}

// startUringEW is startUring waiting with IORING_OP_EPOLL_WAIT: the
// events come back with the wait, without an epoll_wait(0) of their own.
func startUringEW(listen string, nodes []string, loops int) (server, error) {
	return startLoops(listen, nodes, loops, true, true)
}

func startLoops(listen string, nodes []string, loops int, useRing, epwait bool) (server, error) {
	la, err := sockaddr(listen)
	if err != nil {
		return nil, err
	}
	var nas []unix.Sockaddr
	for _, n := range nodes {
		na, err := sockaddr(n)
		if err != nil {
			return nil, err
		}
		nas = append(nas, na)
	}
	s := &epollServer{addr: listen}
	for range loops {
		el, err := newEloop(la, nas)
		if el != nil {
			el.epwait = epwait
		}
		if err != nil {
			s.closeLoops()
			return nil, err
		}
		s.loops = append(s.loops, el)
	}
	for _, el := range s.loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if useRing {
				// io_uring SINGLE_ISSUER: the thread that made the ring
				// is the only one that may submit.
				// Unlocked at the end: a goroutine that ends locked takes
				// its thread down, and children that thread started with
				// Pdeathsig (the tests' memcacheds) with it.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var err error
				if el.ur, err = uring.New(1024); err != nil {
					log.Printf("loopproto: %v", err)
					el.closeAll()
					return
				}
				defer el.ur.Close()
			}
			el.run()
		}()
	}
	return s, nil
}

func (s *epollServer) Addr() string { return s.addr }

// Close wakes every loop to end it and waits until all have closed their
// descriptors.
func (s *epollServer) Close() error {
	for _, el := range s.loops {
		unix.Write(el.wakefd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
	s.wg.Wait()
	return nil
}

// closeLoops releases loops that never ran.
func (s *epollServer) closeLoops() {
	for _, el := range s.loops {
		el.closeAll()
	}
}

func sockaddr(hostport string) (*unix.SockaddrInet4, error) {
	a, err := net.ResolveTCPAddr("tcp4", hostport)
	if err != nil {
		return nil, err
	}
	ip4 := a.IP.To4()
	if ip4 == nil {
		return nil, fmt.Errorf("loopproto: %s: IPv4 only", hostport)
	}
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], ip4)
	return sa, nil
}

func newEloop(la *unix.SockaddrInet4, nodes []unix.Sockaddr) (el *eloop, err error) {
	el = &eloop{l: newLoop(len(nodes)), lfd: -1, wakefd: -1, conns: map[int]*econn{}, rbuf: make([]byte, readSize)}
	if el.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			el.closeAll()
		}
	}()
	if el.lfd, err = reusePortListener(la); err != nil {
		return el, err
	}
	if el.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return el, err
	}
	for _, fd := range []int{el.lfd, el.wakefd} {
		if err = el.add(fd, unix.EPOLLIN); err != nil {
			return el, err
		}
	}
	for i, na := range nodes {
		b := el.l.nodes[i]
		if b.fd, err = dialNonblock(na); err != nil {
			return el, fmt.Errorf("loopproto: node %d: %w", i, err)
		}
		el.conns[b.fd] = &econn{ep: &b.endpoint, b: b}
		if err = el.add(b.fd, unix.EPOLLIN); err != nil {
			return el, err
		}
	}
	return el, nil
}

func reusePortListener(la *unix.SockaddrInet4) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if err := unix.Bind(fd, la); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// dialNonblock connects (blocking: loopback, at startup) and then makes
// the socket non-blocking.
func dialNonblock(na unix.Sockaddr) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, na); err != nil {
		unix.Close(fd)
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (el *eloop) add(fd int, events uint32) error {
	return unix.EpollCtl(el.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
}

func (el *eloop) mod(fd int, events uint32) {
	unix.EpollCtl(el.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
}

// run is the loop: wait, handle every ready descriptor, write once.
func (el *eloop) run() {
	defer el.closeAll()
	events := make([]unix.EpollEvent, maxEvents)
	for {
		var n int
		var err error
		if el.ur != nil {
			n, err = el.uringWait(events)
		} else {
			n, err = unix.EpollWait(el.epfd, events, -1)
		}
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			log.Printf("loopproto: epoll_wait: %v", err)
			return
		}
		for i := range n {
			fd, ev := int(events[i].Fd), events[i].Events
			switch fd {
			case el.wakefd:
				return
			case el.lfd:
				el.accept()
				continue
			}
			ec := el.conns[fd]
			if ec == nil {
				continue // closed earlier in this turn
			}
			if ev&unix.EPOLLOUT != 0 {
				el.writable(ec)
			}
			if ev&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && el.conns[fd] == ec {
				el.readable(ec)
			}
		}
		el.flush()
	}
}

func (el *eloop) accept() {
	for {
		fd, _, err := unix.Accept4(el.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.ECONNABORTED) {
				log.Printf("loopproto: accept: %v", err)
			}
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &client{}
		c.fd = fd
		if err := el.add(fd, unix.EPOLLIN); err != nil {
			unix.Close(fd)
			continue
		}
		el.conns[fd] = &econn{ep: &c.endpoint, c: c}
	}
}

// readable reads ec once and hands the data to the loop core.
func (el *eloop) readable(ec *econn) {
	n, err := unix.Read(ec.ep.fd, el.rbuf)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	if n <= 0 {
		el.drop(ec, err)
		return
	}
	data := el.rbuf[:n]
	kept := len(ec.ep.in) > 0
	if kept {
		ec.ep.in = append(ec.ep.in, data...)
		data = ec.ep.in
	}
	var used int
	if ec.c != nil {
		var ok bool
		used, ok = el.l.clientData(ec.c, data)
		if !ok {
			el.writeOut(ec)
			el.drop(ec, errProtocol)
			return
		}
	} else if used, err = el.l.backendData(ec.b, data); err != nil {
		el.drop(ec, err)
		return
	}
	rest := data[used:]
	switch {
	case len(rest) == 0 && cap(ec.ep.in) > readSize:
		ec.ep.in = nil
	case kept:
		ec.ep.in = ec.ep.in[:copy(ec.ep.in, rest)]
	default:
		ec.ep.in = append(ec.ep.in[:0], rest...)
	}
}

// writable resumes a write that the socket's buffer had cut short.
func (el *eloop) writable(ec *econn) {
	ec.ep.blocked = false
	el.writeOut(ec)
	if !ec.ep.blocked && el.conns[ec.ep.fd] == ec {
		el.mod(ec.ep.fd, unix.EPOLLIN)
	}
}

// uringWait submits the sends flush queued with a poll of the epoll
// descriptor, sleeps until the poll fires or a send comes back short,
// settles the sends and returns the ready events.
func (el *eloop) uringWait(events []unix.EpollEvent) (int, error) {
	if el.epwait {
		return el.uringEpollWait(events)
	}
	if !el.polling && el.ur.PollIn(el.epfd, pollTag) {
		el.polling = true
	}
	err := el.ur.Enter(el.polling, -1, true)
	for el.ur.Pending() > 0 && (err == nil || errors.Is(err, unix.EINTR)) {
		err = el.ur.Enter(false, 0, true)
	}
	posted := map[int]int32{}
	el.ur.Reap(func(c uring.CQE) {
		if c.UserData == pollTag {
			el.polling = false
			return
		}
		posted[int(c.UserData)] = c.Res
	})
	for i, ec := range el.sent {
		res, ok := posted[i]
		if !ok {
			res = int32(el.sentN[i]) // all of it: only short sends post
		}
		el.settle(ec, int(res))
	}
	el.sent, el.sentN = el.sent[:0], el.sentN[:0]
	if err != nil && !errors.Is(err, unix.EINTR) {
		return 0, err
	}
	if el.polling {
		return 0, nil // a short send or a signal ended the sleep
	}
	return unix.EpollWait(el.epfd, events, 0)
}

const pollTag = 1 << 63

// uringEpollWait is uringWait with IORING_OP_EPOLL_WAIT for the poll: the
// events come back with the wait, without a system call of their own.
func (el *eloop) uringEpollWait(events []unix.EpollEvent) (int, error) {
	if !el.polling && el.ur.EpollWait(el.epfd, events, pollTag) {
		el.polling = true
	}
	err := el.ur.Enter(el.polling, -1, true)
	for el.ur.Pending() > 0 && (err == nil || errors.Is(err, unix.EINTR)) {
		err = el.ur.Enter(false, 0, true)
	}
	posted := map[int]int32{}
	n := 0
	el.ur.Reap(func(c uring.CQE) {
		if c.UserData == pollTag {
			el.polling = false
			n = int(c.Res)
			return
		}
		posted[int(c.UserData)] = c.Res
	})
	for i, ec := range el.sent {
		res, ok := posted[i]
		if !ok {
			res = int32(el.sentN[i])
		}
		el.settle(ec, int(res))
	}
	el.sent, el.sentN = el.sent[:0], el.sentN[:0]
	if err != nil && !errors.Is(err, unix.EINTR) {
		return 0, err
	}
	if n < 0 {
		return 0, unix.Errno(-n)
	}
	return n, nil
}

// settle applies one send's result to ec.
func (el *eloop) settle(ec *econn, res int) {
	if el.conns[ec.ep.fd] != ec {
		return // dropped meanwhile
	}
	if res < 0 {
		if e := unix.Errno(-res); e != unix.EAGAIN && e != unix.EINTR {
			el.drop(ec, e)
			return
		}
		res = 0
	}
	el.wrote(ec, res)
}

// flush writes every connection that got output this turn, backends first.
func (el *eloop) flush() {
	for i := 0; i < len(el.l.dirtyB); i++ { // by index: a failure while writing can add to the lists
		b := el.l.dirtyB[i]
		b.dirty = false
		if ec := el.conns[b.fd]; ec != nil && ec.b == b {
			el.writeOut(ec)
		}
	}
	el.l.dirtyB = el.l.dirtyB[:0]
	for i := 0; i < len(el.l.dirtyC); i++ {
		c := el.l.dirtyC[i]
		c.dirty = false
		if ec := el.conns[c.fd]; ec != nil && ec.c == c {
			el.writeOut(ec)
		}
	}
	el.l.dirtyC = el.l.dirtyC[:0]
}

// writeOut writes what ec has; a short write keeps the rest and waits
// for EPOLLOUT.
func (el *eloop) writeOut(ec *econn) {
	ep := ec.ep
	if ep.blocked || len(ep.out) == 0 {
		return
	}
	if el.ur != nil {
		if _, ok := el.ur.Send(ep.fd, ep.out, uint64(len(el.sent))); ok {
			ep.blocked = true // until the send is settled
			el.sent = append(el.sent, ec)
			el.sentN = append(el.sentN, len(ep.out))
			return
		}
	}
	n, err := unix.Write(ep.fd, ep.out)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		el.drop(ec, err)
		return
	}
	el.wrote(ec, max(n, 0))
}

// wrote keeps what a write of ec's output left; a short write waits for
// EPOLLOUT.
func (el *eloop) wrote(ec *econn, n int) {
	ep := ec.ep
	ep.blocked = false
	if n == len(ep.out) {
		if cap(ep.out) > 1<<20 {
			ep.out = nil
		} else {
			ep.out = ep.out[:0]
		}
		return
	}
	ep.out = ep.out[:copy(ep.out, ep.out[n:])]
	ep.blocked = true
	el.mod(ep.fd, unix.EPOLLIN|unix.EPOLLOUT)
}

// drop closes ec: a client is forgotten; a backend fails what it had in
// flight and takes no more requests.
func (el *eloop) drop(ec *econn, err error) {
	delete(el.conns, ec.ep.fd)
	unix.Close(ec.ep.fd)
	if ec.c != nil {
		el.l.closeClient(ec.c)
		return
	}
	log.Printf("loopproto: backend connection lost: %v", err)
	el.l.failBackend(ec.b)
}

func (el *eloop) closeAll() {
	for fd := range el.conns {
		unix.Close(fd)
	}
	clear(el.conns)
	for _, fd := range []int{el.lfd, el.wakefd, el.epfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
