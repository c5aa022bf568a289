// A tap in front of a memcached node: it passes everything through and
// notes when each client command reaches it, which the node itself cannot
// say while it is stopped.
package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tap forwards connections to a memcached node and notes the arrival time
// of every get or set of a "loop:" key (the failover loop's commands;
// probes and replays use other commands).
type tap struct {
	l      net.Listener
	target string

	mu       sync.Mutex // guards arrivals and conns
	arrivals []time.Time
	conns    []net.Conn
}

func startTap(t *testing.T, target string) *tap {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{l: l, target: target}
	go tp.accept()
	t.Cleanup(tp.close)
	return tp
}

func (tp *tap) addr() string { return tp.l.Addr().String() }

func (tp *tap) accept() {
	for {
		c, err := tp.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", tp.target)
		if err != nil {
			c.Close()
			continue
		}
		tp.mu.Lock()
		tp.conns = append(tp.conns, c, up)
		tp.mu.Unlock()
		go func() { io.Copy(c, up); c.Close() }()
		go tp.forward(c, up)
	}
}

// forward copies c to up line by line, noting each loop command as it
// arrives (before the write that a stopped node may block).
func (tp *tap) forward(c, up net.Conn) {
	defer up.Close()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadBytes('\n')
		if bytes.HasPrefix(line, []byte("get loop:")) || bytes.HasPrefix(line, []byte("set loop:")) {
			tp.mu.Lock()
			tp.arrivals = append(tp.arrivals, time.Now())
			tp.mu.Unlock()
		}
		if _, werr := up.Write(line); werr != nil || err != nil {
			return
		}
	}
}

// between returns how many loop commands arrived in [from, to), and in all.
func (tp *tap) between(from, to time.Time) (n, total int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, at := range tp.arrivals {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n, len(tp.arrivals)
}

func (tp *tap) close() {
	tp.l.Close()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, c := range tp.conns {
		c.Close()
	}
}
