//go:build linux

// Event loops: the data path of plain (TCP and unix socket) client
// connections. Each loop is one goroutine on epoll that owns its clients
// and its own connection to each node: it reads a descriptor once when
// epoll says it is readable (level-triggered, so no read ends in EAGAIN),
// answers what it can, and at the end of each turn writes each connection
// that has output once, so that a turn's requests to one node go out in
// one write and a request never changes threads (README, "Data path
// designs compared").
//
// The loop does the common commands itself (loopclient.go): gets (over
// one node or merged over several), storage commands, delete, incr/decr,
// touch and the meta commands on one key, to plain nodes. A client that
// sends anything else — a request that does not parse as it should, a
// herd-protected key, a TLS or authenticated node, stats, flush_all,
// quit, a binary request — is handed, once its earlier replies are
// written, to the goroutine path (client.go) with its unread bytes, and
// stays there: every reply is the one the goroutine path gives, and a
// client's commands still run in the order it sent them.
//
// Nothing in a loop blocks: dials run on goroutines and report through
// the loop's mailbox (an eventfd in its epoll set); timeouts are checked
// each turn, epoll_wait sleeping at most until the next one.
package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shepherd-proxy/shepherd/internal/uring"
	"github.com/shepherd-proxy/shepherd/protocol"
	"github.com/shepherd-proxy/shepherd/ring"
)

const (
	loopReadSize = 64 << 10 // one read per readable event
	// loopWriteMax bounds one write to a client. A non-blocking write to
	// a loopback socket whose reader keeps taking the bytes goes on
	// until the buffer is gone: 25 MiB to a slow reader held a loop for
	// half a second, every other client and deadline with it.
	loopWriteMax  = 256 << 10
	loopMaxEvents = 256
	// loopTick bounds epoll_wait's sleep when a loop has timeouts to
	// watch that have no deadline of their own (idle clients, stalled
	// writes, drain).
	loopTick = 100 * time.Millisecond
)

// eloop is one event loop.
type eloop struct {
	s      *Server
	epfd   int
	wakefd int // an eventfd in the epoll set: the mailbox's doorbell

	fds      map[int]*lconn
	clients  map[*lclient]struct{}
	backs    map[*node]*lback    // the connection new requests to a node go to
	retiring map[*lback]struct{} // detached (stream): closing once what is pending is answered
	rbuf     []byte
	now      time.Time // when the turn began

	dirtyB []*lback
	dirtyC []*lclient

	freeCalls []*lcall // recycled, this loop's own
	freeOps   []*lop

	// Parsing and dispatch scratch, shared by the loop's clients (one
	// request is parsed and dispatched at a time): an idle client costs
	// its descriptor and a few words, not a reader's buffer.
	rd     *protocol.Reader // reads one framed request at a time from src
	src    bytes.Reader
	req    protocol.Request
	b64    []byte
	nodes  []*node
	groups []*node
	sums   *ring.Sums // recent keys' hashes (md5 pools): a hot key is hashed once

	lastSweep   time.Time // when expire last looked at every client
	someBlocked bool      // a client's output was blocked at or since the last sweep

	draining   bool
	drainUntil time.Time
	stopping   bool
	rawWait    bool      // may wait without telling the runtime (wait)
	lastEvent  time.Time // when a wait last returned events

	// io_uring (loopring.go): the turn's writes and the next wait in one
	// system call.
	useRing  bool        // open a ring when the loop starts
	ring     *uring.Ring // nil: write(2) and epoll_wait
	ringOn   bool        // the ring is in use (pace): else write(2) and epoll_wait
	turns    int         // turns with events since pace last decided
	reqs     int         // requests the loop started in those turns
	sends    []lsend     // queued by this turn's flush
	flushing bool        // in flush: writes may be queued
	polling  bool        // the ring's poll of epfd is armed
	noSleep  bool        // output came after its send was queued: do not sleep

	mu    sync.Mutex // guards mail, rung and closed
	mail  []func()
	rung  bool // the doorbell was written and not yet read
	ended bool // the loop stopped: posts are refused

	done chan struct{} // closed when run returns
}

// lconn is what a registered descriptor is: a client or a backend.
type lconn struct {
	c *lclient
	b *lback
}

var doorbell = []byte{1, 0, 0, 0, 0, 0, 0, 0}

func newLoop(s *Server) (*eloop, error) {
	el := &eloop{s: s, wakefd: -1, fds: map[int]*lconn{}, clients: map[*lclient]struct{}{},
		backs: map[*node]*lback{}, retiring: map[*lback]struct{}{}, rbuf: make([]byte, loopReadSize), done: make(chan struct{})}
	el.rd = protocol.NewReader(&el.src, s.limits)
	el.sums = ring.NewSums()
	var err error
	if el.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("proxy: event loop: %w", err)
	}
	if el.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err == nil {
		err = el.ctl(unix.EPOLL_CTL_ADD, el.wakefd, unix.EPOLLIN)
	}
	if err != nil {
		unix.Close(el.epfd)
		if el.wakefd >= 0 {
			unix.Close(el.wakefd)
		}
		return nil, fmt.Errorf("proxy: event loop: %w", err)
	}
	return el, nil
}

func (el *eloop) ctl(op, fd int, events uint32) error {
	return unix.EpollCtl(el.epfd, op, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
}

// post runs f on the loop, soon; false if the loop has stopped.
func (el *eloop) post(f func()) bool {
	el.mu.Lock()
	if el.ended {
		el.mu.Unlock()
		return false
	}
	el.mail = append(el.mail, f)
	ring := !el.rung
	el.rung = true
	el.mu.Unlock()
	if ring {
		unix.Write(el.wakefd, doorbell)
	}
	return true
}

// stop ends the loop, closing every descriptor it has, and waits for it.
func (el *eloop) stop() {
	if el.post(func() { el.stopping = true }) {
		<-el.done
	}
}

// run is the loop: wait, handle every ready descriptor and the mail,
// check timeouts, write once.
func (el *eloop) run() {
	defer close(el.done)
	defer el.closeRing()
	defer el.closeAll()
	if el.useRing {
		el.openRing()
	}
	events := make([]unix.EpollEvent, loopMaxEvents)
	for !el.stopping {
		n, err := el.wait(events, el.sleep())
		if err != nil && !errors.Is(err, unix.EINTR) {
			el.s.log.Error("event loop: epoll_wait failed; its clients are closed", "err", err)
			return
		}
		el.now = time.Now()
		if n > 0 {
			el.lastEvent = el.now
			el.pace()
		}
		for i := 0; i < n; i++ {
			fd, ev := int(events[i].Fd), events[i].Events
			if fd == el.wakefd {
				el.readMail()
				continue
			}
			if lc := el.fds[fd]; lc != nil {
				el.ready(lc, ev)
			}
		}
		el.expire()
		el.flush()
	}
}

// ready handles one descriptor's events. A panic ends only the
// connection concerned.
func (el *eloop) ready(lc *lconn, ev uint32) {
	defer el.recover(lc)
	if lc.c != nil {
		if ev&unix.EPOLLOUT != 0 {
			el.writeClient(lc.c)
		}
		c := lc.c
		if ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.gone && (c.paused || c.handoff || c.closing) {
			// Reset while not read (its replies awaited): nobody is left to
			// answer, and epoll reports the error every turn until closed.
			el.closeClient(c)
			return
		}
		if ev&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.gone {
			el.readClient(c)
		}
		return
	}
	b := lc.b
	if b.held != nil && ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		b.park()
		return
	}
	if ev&unix.EPOLLOUT != 0 {
		b.writeOut()
	}
	if ev&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && b.fd >= 0 {
		b.readReplies()
	}
}

func (el *eloop) recover(lc *lconn) {
	r := recover()
	if r == nil {
		return
	}
	el.s.m.panics.Add(1)
	if lc.c != nil {
		el.s.log.Error("client connection panicked; closing it", "where", "loop",
			"remote", lc.c.remote, "panic", r, "stack", string(debug.Stack()))
		el.closeClient(lc.c)
		return
	}
	el.s.log.Error("backend connection panicked; closing it", "node", lc.b.n.addr, "panic", r, "stack", string(debug.Stack()))
	lc.b.fail(fmt.Errorf("proxy: panic: %v", r))
}

// readMail runs what was posted.
func (el *eloop) readMail() {
	var b [8]byte
	unix.Read(el.wakefd, b[:])
	el.mu.Lock()
	mail := el.mail
	el.mail, el.rung = nil, false
	el.mu.Unlock()
	for _, f := range mail {
		f()
	}
}

// sleep is epoll_wait's timeout in ms: until the next backend deadline,
// at most loopTick while clients are timed (idle, stalled, draining),
// else forever.
func (el *eloop) sleep() int {
	var next time.Time
	for _, b := range el.backs {
		if d, ok := b.deadline(); ok && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	for b := range el.retiring {
		if d, ok := b.deadline(); ok && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if len(el.clients) > 0 && (el.draining || el.someBlocked || el.s.cfg().ClientIdleTimeout > 0) {
		if t := el.lastSweep.Add(loopTick); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if next.IsZero() {
		return -1
	}
	ms := time.Until(next).Milliseconds() + 1
	return int(max(ms, 0))
}

// expire fails backend requests past their deadline and, every loopTick,
// closes clients that stalled, idled or outlived a drain.
func (el *eloop) expire() {
	for _, b := range el.backs {
		if d, ok := b.deadline(); ok && el.now.After(d) {
			b.fail(b.n.io.Wrap(errTimeout))
		}
		if len(b.pend) == 0 && b.n.io.Stopped() {
			b.close()
			delete(el.backs, b.n)
		}
	}
	for b := range el.retiring {
		if d, ok := b.deadline(); ok && el.now.After(d) {
			b.fail(b.n.io.Wrap(errTimeout))
		}
	}
	if el.now.Sub(el.lastSweep) < loopTick {
		return
	}
	el.lastSweep = el.now
	idle := el.s.cfg().ClientIdleTimeout
	el.someBlocked = false
	for c := range el.clients {
		switch {
		case c.blocked && el.now.Sub(c.blockedAt) > clientStall:
			el.closeClient(c) // it stopped reading its replies
		case el.draining && el.now.After(el.drainUntil):
			el.closeClient(c)
		case idle > 0 && !el.draining && len(c.calls) == 0 && c.unwritten() == 0 && el.now.Sub(c.active) >= idle:
			el.s.m.idleClosed.Add(1)
			el.closeClient(c)
		case c.blocked:
			el.someBlocked = true
		}
	}
}

// flush writes every connection that got output this turn, backends first.
// Writing a client can give backends output (a paused client resumes and
// its waiting requests are dispatched), so it goes round until neither
// list has anything: else those requests would wait for the next event,
// which may be their own timeout.
func (el *eloop) flush() {
	el.flushing = true
	defer func() { el.flushing = false }()
	for len(el.dirtyB) > 0 || len(el.dirtyC) > 0 {
		for i := 0; i < len(el.dirtyB); i++ { // by index: a failure can add to the lists
			b := el.dirtyB[i]
			b.dirty = false
			b.writeOut()
		}
		clear(el.dirtyB)
		el.dirtyB = el.dirtyB[:0]
		for i := 0; i < len(el.dirtyC); i++ {
			c := el.dirtyC[i]
			c.dirty = false
			if !c.gone {
				el.writeClient(c)
			}
		}
		clear(el.dirtyC)
		el.dirtyC = el.dirtyC[:0]
	}
}

// beginDrain stops reading every client; each closes once its replies
// are written, or at the drain deadline.
func (el *eloop) beginDrain(until time.Time) {
	el.draining, el.drainUntil = true, until
	for c := range el.clients {
		if len(c.in) > 0 && !c.paused && !c.handoff && !c.closing {
			// Whole requests already read are answered, as the
			// goroutine path answers what its reader has buffered.
			used := el.parse(c, c.in)
			c.in = c.in[:copy(c.in, c.in[used:])]
		}
		c.closing = true
		el.settle(c)
	}
}

// closeAll closes every descriptor; the loop is ending.
func (el *eloop) closeAll() {
	el.mu.Lock()
	el.ended = true
	mail := el.mail
	el.mail = nil
	el.mu.Unlock()
	for _, f := range mail { // dial results: their descriptors must close
		f()
	}
	for c := range el.clients {
		el.closeClient(c)
	}
	for _, b := range el.backs {
		b.fail(errClosed)
		b.close()
	}
	for b := range el.retiring {
		b.fail(errClosed)
	}
	unix.Close(el.wakefd)
	unix.Close(el.epfd)
}

// detach takes nc's descriptor for a loop: a duplicate, non-blocking,
// with nc closed. The duplicate shares the socket; closing nc only
// unregisters it from Go's poller.
func detach(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("proxy: %T has no descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(raw uintptr) {
		fd, dupErr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	nc.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// startLoops starts n event loops (none when n < 0). A loop that cannot
// start leaves its clients to the goroutine path, with a log line.
func (s *Server) startLoops(n int) {
	for range n {
		el, err := newLoop(s)
		if err != nil {
			s.log.Error("event loops unavailable; clients are served on goroutines", "err", err)
			return
		}
		el.rawWait = runtime.GOMAXPROCS(0) > n
		el.useRing = s.loopRing()
		s.loops = append(s.loops, el)
		go el.run()
	}
}

// loopsForget makes every loop close its connection to n, a node that
// left the pool and has nothing in flight.
func (s *Server) loopsForget(n *node) {
	for _, el := range s.loops {
		el.post(func() {
			if b := el.backs[n]; b != nil {
				b.fail(errClosed)
				delete(el.backs, n)
			}
		})
	}
}

// wait is epoll_wait. A blocking system call costs a Go program context
// switches per wake-up: the runtime hands the sleeping thread's P to
// another thread and the loop's thread must take one back when a request
// comes. While requests keep coming (events in the last rawSpell), the
// loop waits with a raw system call the runtime does not see instead,
// keeping its P, for at most rawSpell at a time; once idle it waits the
// ordinary way, so an idle loop costs nothing. The runtime still
// preempts a raw wait (a signal ends it with EINTR) for the garbage
// collector and after 10 ms. Raw waits need a spare P (GOMAXPROCS above
// the number of loops), else the loop would starve every goroutine.
func (el *eloop) wait(events []unix.EpollEvent, msec int) (int, error) {
	if el.ringOn {
		return el.ringWait(events, msec)
	}
	if !el.rawWait || time.Since(el.lastEvent) > rawSpell {
		return unix.EpollWait(el.epfd, events, msec)
	}
	if ms := int(rawSpell / time.Millisecond); msec < 0 || msec > ms {
		msec = ms
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(el.epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// rawSpell is how long after its last event a loop waits with raw
// system calls (wait).
const rawSpell = 2 * time.Millisecond

// rawRead and rawWrite are read(2) and write(2) on the loop's
// non-blocking sockets, as raw system calls: they never block, so the
// runtime need not be told (entering and leaving a system call it knows
// of costs time, and one that outlasts sysmon's 20 µs tick has the P
// handed to another thread and sysmon polling fast again, context
// switches in both).
func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
