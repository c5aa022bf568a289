package proxy_test

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNode is a tiny memcached stand-in for what a real server cannot be
// made to do: answer every request by calling reply, which may stall or
// cut the connection mid-reply.
type fakeNode struct {
	Addr string
	l    net.Listener
	wg   sync.WaitGroup
}

func startFake(t *testing.T, reply func(w *bufio.Writer, line string) (keep bool)) *fakeNode {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{Addr: l.Addr().String(), l: l}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go f.serve(nc, reply)
		}
	}()
	t.Cleanup(func() { l.Close(); f.wg.Wait() })
	return f
}

func (f *fakeNode) serve(nc net.Conn, reply func(*bufio.Writer, string) bool) {
	defer f.wg.Done()
	defer nc.Close()
	br, bw := bufio.NewReader(nc), bufio.NewWriter(nc)
	for {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "set ") { // swallow the data block
			br.ReadString('\n')
		}
		if !reply(bw, line) {
			bw.Flush()
			return
		}
		if bw.Flush() != nil {
			return
		}
	}
}
