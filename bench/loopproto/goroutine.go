// Design (a): goroutine per connection, shepherd's shape today reduced to
// its floor. Per client, a reader goroutine parses requests and hands
// each node's part to that node's backend writer, and a writer goroutine
// writes the replies in order, flushing when no finished reply is waiting.
// Per backend connection (conns per node), a writer goroutine batches
// every queued part into one write and a reader goroutine matches replies
// to the parts in flight. Requests, parts and their buffers are pooled.
// A lost backend connection is not replaced (a prototype): what was in
// flight on it gets SERVER_ERROR, what comes later waits until Close.
package main

import (
	"errors"
	"io"
	"log"
	"net"
	"sync"
)

const (
	clientDepth  = 128       // requests of one client in flight
	backendQueue = 1024      // parts waiting for a backend writer
	maxBatch     = 256 << 10 // bytes in one backend write
)

type goServer struct {
	ln    net.Listener
	nodes [][]*gobackend // per node, its connections
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	next  int           // round-robin of clients over backend connections
	quit  chan struct{} // closed by Close: every goroutine returns
}

// goreq is one client request; parts complete it from backend readers.
type goreq struct {
	mu      sync.Mutex
	left    int
	get     bool
	errLine []byte
	buf     []byte
	done    chan struct{} // one send when the last part completes
}

// gopart is one node's piece of a request.
type gopart struct {
	r    *goreq
	wire []byte
	get  bool
}

var (
	reqPool  = sync.Pool{New: func() any { return &goreq{done: make(chan struct{}, 1)} }}
	partPool = sync.Pool{New: func() any { return &gopart{} }}
)

type gobackend struct {
	nc       net.Conn
	queue    chan *gopart // to the writer
	inflight chan *gopart // writer to reader, in the order written
	quit     chan struct{}
}

// startGoroutine listens on listen and connects conns connections to each node.
func startGoroutine(listen string, nodes []string, conns int) (server, error) {
	s := &goServer{conns: map[net.Conn]struct{}{}, quit: make(chan struct{})}
	for _, n := range nodes {
		var bs []*gobackend
		for range conns {
			nc, err := net.Dial("tcp", n)
			if err != nil {
				s.Close()
				return nil, err
			}
			b := &gobackend{nc: nc, queue: make(chan *gopart, backendQueue), inflight: make(chan *gopart, backendQueue*4), quit: s.quit}
			bs = append(bs, b)
			s.track(nc)
			s.wg.Add(2)
			go func() { defer s.wg.Done(); b.writeLoop() }()
			go func() { defer s.wg.Done(); b.readLoop() }()
		}
		s.nodes = append(s.nodes, bs)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.ln = ln
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.acceptLoop() }()
	return s, nil
}

func (s *goServer) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for every goroutine.
func (s *goServer) Close() error {
	close(s.quit)
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *goServer) track(c net.Conn) {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *goServer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *goServer) acceptLoop() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.track(nc)
		s.mu.Lock()
		pick := s.next
		s.next++
		s.mu.Unlock()
		replies := make(chan *goreq, clientDepth)
		s.wg.Add(2)
		go func() { defer s.wg.Done(); s.clientReader(nc, replies, pick) }()
		go func() { defer s.wg.Done(); clientWriter(nc, replies, s.quit) }()
	}
}

// clientReader parses requests and dispatches them; pick chooses which of
// a node's connections this client uses.
func (s *goServer) clientReader(nc net.Conn, replies chan<- *goreq, pick int) {
	defer close(replies)
	defer s.untrack(nc)
	var p parser
	buf := make([]byte, 0, 4096)
	place := make([]uint8, 0, 16)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		if err != nil {
			return
		}
		buf = buf[:len(buf)+n]
		off := 0
		for {
			r, n, err := p.next(buf[off:])
			if err != nil {
				s.reply(replies, localReq(replyBadInput))
				return
			}
			if n == 0 {
				break
			}
			off += n
			if !s.reply(replies, s.dispatch(r, pick, &place)) {
				return
			}
		}
		buf = buf[:copy(buf, buf[off:])]
	}
}

// reply queues rq for the client writer; false once the server closes.
func (s *goServer) reply(replies chan<- *goreq, rq *goreq) bool {
	select {
	case replies <- rq:
		return true
	case <-s.quit:
		return false
	}
}

// dispatch sends r's parts to the backends and returns the request to wait for.
func (s *goServer) dispatch(r request, pick int, place *[]uint8) *goreq {
	switch r.kind {
	case reqVersion:
		return localReq(replyVersion)
	case reqUnknown:
		return localReq(replyError)
	case reqSet:
		rq := newGoreq(1, false)
		s.send(nodeOf(r.keys[0], len(s.nodes)), pick, rq, r.wire, false)
		return rq
	}
	*place = (*place)[:0]
	var used [256]bool
	parts := 0
	for _, k := range r.keys {
		n := nodeOf(k, len(s.nodes))
		*place = append(*place, uint8(n))
		if !used[n] {
			used[n] = true
			parts++
		}
	}
	rq := newGoreq(parts, true)
	if parts == 1 {
		s.send(int((*place)[0]), pick, rq, r.wire, true)
		return rq
	}
	for n := range s.nodes {
		if used[n] {
			p := partPool.Get().(*gopart)
			p.r, p.get, p.wire = rq, true, appendGet(p.wire[:0], r.verb, r.keys, *place, n)
			s.nodes[n][pick%len(s.nodes[n])].enqueue(p)
		}
	}
	return rq
}

func (s *goServer) send(node, pick int, rq *goreq, wire []byte, get bool) {
	p := partPool.Get().(*gopart)
	p.r, p.get, p.wire = rq, get, append(p.wire[:0], wire...)
	s.nodes[node][pick%len(s.nodes[node])].enqueue(p)
}

func (b *gobackend) enqueue(p *gopart) {
	select {
	case b.queue <- p:
	case <-b.quit:
	}
}

func newGoreq(parts int, get bool) *goreq {
	rq := reqPool.Get().(*goreq)
	rq.left, rq.get = parts, get
	return rq
}

func localReq(reply []byte) *goreq {
	rq := newGoreq(0, false)
	rq.buf = append(rq.buf, reply...)
	rq.done <- struct{}{}
	return rq
}

// clientWriter writes each reply in order once done, and flushes when the
// next reply is not done yet (or there is none).
func clientWriter(nc net.Conn, replies <-chan *goreq, quit <-chan struct{}) {
	defer nc.Close()
	out := make([]byte, 0, 4096)
	broken := false
	for rq := range replies {
		select {
		case <-rq.done:
		case <-quit:
			return
		}
		if !broken {
			out = append(out, rq.buf...)
		}
		releaseReq(rq)
		if len(replies) > 0 && len(out) < maxBatch {
			continue
		}
		if !broken && len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				broken = true // keep draining so the readers' parts are released
			}
		}
		out = out[:0]
	}
}

func releaseReq(rq *goreq) {
	rq.buf, rq.errLine = rq.buf[:0], nil
	if cap(rq.buf) > 64<<10 {
		rq.buf = nil
	}
	reqPool.Put(rq)
}

// writeLoop writes every queued part in one write; each part is in flight
// before its bytes are written.
func (b *gobackend) writeLoop() {
	batch := make([]byte, 0, 16<<10)
	for {
		var p *gopart
		select {
		case p = <-b.queue:
		case <-b.quit:
			return
		}
		batch = append(batch[:0], p.wire...)
		b.inflight <- p
	more:
		for len(batch) < maxBatch {
			select {
			case p := <-b.queue:
				batch = append(batch, p.wire...)
				b.inflight <- p
			default:
				break more
			}
		}
		if _, err := b.nc.Write(batch); err != nil {
			log.Printf("loopproto: backend write: %v", err)
			return
		}
	}
}

// readLoop matches replies to the parts in flight, in order.
func (b *gobackend) readLoop() {
	defer b.failInflight()
	buf := make([]byte, 0, 64<<10)
	var cur *gopart
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := b.nc.Read(buf[len(buf):cap(buf)])
		if err != nil {
			if cur != nil {
				cur.fail()
			}
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				log.Printf("loopproto: backend read: %v", err)
			}
			return
		}
		buf = buf[:len(buf)+n]
		off := 0
		for off < len(buf) {
			if cur == nil {
				select {
				case cur = <-b.inflight:
				case <-b.quit:
					return
				}
			}
			kind, n, err := nextReply(buf[off:])
			if err != nil {
				log.Printf("loopproto: backend: %v", err)
				cur.fail()
				b.nc.Close()
				return
			}
			if n == 0 {
				break
			}
			elem := buf[off : off+n]
			off += n
			if cur.take(kind, elem) {
				partPool.Put(cur)
				cur = nil
			}
		}
		buf = buf[:copy(buf, buf[off:])]
	}
}

// take adds one reply element to the part's request; true when the part is complete.
func (p *gopart) take(kind int, elem []byte) bool {
	rq := p.r
	rq.mu.Lock()
	defer rq.mu.Unlock()
	switch {
	case !p.get:
		rq.buf = append(rq.buf, elem...)
	case kind == elemValue:
		rq.buf = append(rq.buf, elem...)
		return false
	case kind == elemLine && rq.errLine == nil:
		rq.errLine = append([]byte(nil), elem...)
	}
	rq.partDone()
	return true
}

// fail ends the part with a backend error.
func (p *gopart) fail() {
	rq := p.r
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if p.get {
		if rq.errLine == nil {
			rq.errLine = replyBackend
		}
	} else {
		rq.buf = append(rq.buf, replyBackend...)
	}
	rq.partDone()
}

// partDone counts a part; the caller holds rq.mu.
func (rq *goreq) partDone() {
	if rq.left--; rq.left > 0 {
		return
	}
	if rq.get {
		if rq.errLine != nil {
			rq.buf = append(rq.buf, rq.errLine...)
		} else {
			rq.buf = append(rq.buf, replyEnd...)
		}
	}
	rq.done <- struct{}{}
}

// failInflight fails what was in flight when the reader stopped.
func (b *gobackend) failInflight() {
	b.nc.Close()
	for {
		select {
		case p := <-b.inflight:
			p.fail()
		default:
			return
		}
	}
}
