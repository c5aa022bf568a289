// Design (c): the same loop core on github.com/panjf2000/gnet/v2. Each
// gnet event loop (one per core, SO_REUSEPORT listeners) gets its own
// connection to every node, registered into that same loop, so a request
// never leaves the loop it arrived on. gnet has no end-of-turn hook: the
// output gathered while handling one read event is written at the end of
// that event (gnet's Conn.Write is a write syscall, buffering only what
// the socket does not take).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

type gnetServer struct {
	gnet.BuiltinEventEngine
	addr   string
	nodes  []net.Addr
	booted chan gnet.Engine
	done   chan error
	eng    gnet.Engine

	mu    sync.Mutex
	loops map[gnet.EventLoop]*loop // each event loop's core, made on its first client
}

// gbackend is the context of a backend connection.
type gbackend struct {
	l *loop
	b *backend
}

// gclient is the context of a client connection.
type gclient struct {
	l *loop
	c *client
}

// startGnet runs gnet with loops event loops on listen in front of nodes.
func startGnet(listen string, nodes []string, loops int) (server, error) {
	s := &gnetServer{addr: listen, booted: make(chan gnet.Engine, 1), done: make(chan error, 1), loops: map[gnet.EventLoop]*loop{}}
	for _, n := range nodes {
		a, err := net.ResolveTCPAddr("tcp", n)
		if err != nil {
			return nil, err
		}
		s.nodes = append(s.nodes, a)
	}
	go func() {
		s.done <- gnet.Run(s, "tcp://"+listen, gnet.WithNumEventLoop(loops), gnet.WithReusePort(true),
			gnet.WithLogLevel(logging.ErrorLevel), gnet.WithReadBufferCap(readSize))
	}()
	select {
	case s.eng = <-s.booted:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("loopproto: gnet: %w", err)
	case <-time.After(5 * time.Second):
		return nil, errors.New("loopproto: gnet did not start within 5s")
	}
}

func (s *gnetServer) Addr() string { return s.addr }

func (s *gnetServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.eng.Stop(ctx); err != nil {
		return err
	}
	return <-s.done
}

func (s *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.booted <- eng
	return gnet.None
}

// OnOpen takes a client into its loop (connecting that loop to the nodes
// on its first client), or attaches a backend connection to its place.
func (s *gnetServer) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if gb, ok := c.Context().(*gbackend); ok {
		gb.b.gc = c
		if len(gb.b.out) > 0 { // requests that came before the connection
			c.Write(gb.b.out)
			gb.b.out = gb.b.out[:0]
		}
		return nil, gnet.None
	}
	l := s.loopOf(c.EventLoop())
	cl := &client{}
	cl.gc = c
	c.SetContext(&gclient{l: l, c: cl})
	return nil, gnet.None
}

// loopOf returns the core of el, connecting a new one to the nodes.
func (s *gnetServer) loopOf(el gnet.EventLoop) *loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.loops[el]; l != nil {
		return l
	}
	l := newLoop(len(s.nodes))
	s.loops[el] = l
	for i, a := range s.nodes {
		ctx := gnet.NewContext(context.Background(), &gbackend{l: l, b: l.nodes[i]})
		res, err := el.Register(ctx, a)
		if err != nil {
			log.Printf("loopproto: gnet: connect %v: %v", a, err)
			continue
		}
		go func() {
			if r := <-res; r.Err != nil {
				log.Printf("loopproto: gnet: connect %v: %v", a, r.Err)
			}
		}()
	}
	return l
}

func (s *gnetServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Peek(-1)
	switch ctx := c.Context().(type) {
	case *gclient:
		used, ok := ctx.l.clientData(ctx.c, buf)
		c.Discard(used)
		flushGnet(ctx.l)
		if !ok {
			return gnet.Close
		}
	case *gbackend:
		used, err := ctx.l.backendData(ctx.b, buf)
		c.Discard(used)
		if err != nil {
			log.Printf("loopproto: gnet: backend: %v", err)
			return gnet.Close
		}
		flushGnet(ctx.l)
	}
	return gnet.None
}

func (s *gnetServer) OnClose(c gnet.Conn, err error) gnet.Action {
	switch ctx := c.Context().(type) {
	case *gclient:
		ctx.l.closeClient(ctx.c)
	case *gbackend:
		log.Printf("loopproto: gnet: backend connection lost: %v", err)
		ctx.b.gc = nil
		ctx.l.failBackend(ctx.b)
		flushGnet(ctx.l)
	}
	return gnet.None
}

// flushGnet writes every connection of l that has output, backends first.
func flushGnet(l *loop) {
	for i := 0; i < len(l.dirtyB); i++ { // by index: a failure while writing can add to the lists
		b := l.dirtyB[i]
		b.dirty = false
		if b.gc != nil && len(b.out) > 0 {
			b.gc.Write(b.out)
			b.out = b.out[:0]
		}
	}
	l.dirtyB = l.dirtyB[:0]
	for i := 0; i < len(l.dirtyC); i++ {
		c := l.dirtyC[i]
		c.dirty = false
		if !c.closed && len(c.out) > 0 {
			c.gc.Write(c.out)
			c.out = c.out[:0]
		}
	}
	l.dirtyC = l.dirtyC[:0]
}
