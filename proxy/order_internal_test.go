// Reply order through the client's seam: the reader answers inline only
// when the writer has flushed everything before.
package proxy

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/ring"
)

// TestInlineWaitsForWriterFlush holds the writer after it wrote replies
// and before it flushed them, then sends the reader a command it could
// answer inline. The reader must queue it behind the writer: an inline
// reply now would share the writer's buffer while the writer flushes it,
// so replies could be lost, doubled or reordered. Everything arrives, in
// order, once the writer goes on. The writer decrements its count of
// queued calls only after the flush; moving that before the flush fails
// this test every time.
func TestInlineWaitsForWriterFlush(t *testing.T) {
	t.Parallel()
	srv, err := New(&Config{
		Pools:    map[string]*PoolConfig{"main": {Servers: []ring.Node{{Addr: "127.0.0.1:1", Weight: 1}}}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		SpoolDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	front, back := tcpPair(t)

	held, release := make(chan struct{}), make(chan struct{})
	c := srv.newClient(back, nil)
	first := true
	c.caughtUp = func() { // runs on the writer goroutine only
		if first {
			first = false
			close(held)
			<-release
		}
	}
	done := make(chan struct{})
	go func() { c.serve(); close(done) }()
	defer func() { front.Close(); <-done }()

	// A command and the first byte of the next: the reader queues the
	// first for the writer (more input is buffered behind it), which
	// writes its reply and holds before flushing it.
	io.WriteString(front, "mn\r\nm")
	waitClosed(t, held, "the writer to catch up")
	arrived := make(chan string, 1)
	br := bufio.NewReader(front)
	go func() {
		s, _ := br.ReadString('\n')
		arrived <- s
	}()
	io.WriteString(front, "n\r\n") // the second command: nothing buffered behind it

	// The second command queued behind the first, which the writer holds;
	// or a reply reached the client, which only an inline write could have
	// sent.
	deadline := time.Now().Add(10 * time.Second)
	for c.queued.Load() < 2 {
		select {
		case s := <-arrived:
			close(release)
			t.Fatalf("got %q while the writer held unflushed replies (queued %d); want nothing until it flushes: the reader wrote inline", s, c.queued.Load())
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("got %d calls queued after 10s; want 2", c.queued.Load())
		}
	}
	close(release)
	got := []string{<-arrived}
	for len(got) < 2 {
		front.SetReadDeadline(time.Now().Add(5 * time.Second))
		s, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v after %q", err, got)
		}
		got = append(got, s)
	}
	for i, s := range got {
		if s != "MN\r\n" {
			t.Errorf("reply %d: got %q; want \"MN\\r\\n\"", i, s)
		}
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10s for %s", what)
	}
}
