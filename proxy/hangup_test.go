package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// TestQuitDeliversEveryReply: a client pipelines large replies, then quit,
// then more bytes shepherd will never read, and reads only afterwards. Every
// reply before quit arrives, then EOF. Closing a socket with unread input
// makes the kernel send a reset that drops what is still queued to the
// client; shepherd shuts its write side first and drains the rest.
func TestQuitDeliversEveryReply(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	value := strings.Repeat("v", 512<<10)
	const gets = 16 // 8 MiB of replies: more than the socket buffers hold
	var req strings.Builder
	fmt.Fprintf(&req, "set hang 0 0 %d\r\n%s\r\n", len(value), value)
	for i := 0; i < gets; i++ {
		req.WriteString("get hang\r\n")
	}
	req.WriteString("quit\r\n")
	req.WriteString(strings.Repeat("get never\r\n", 20000)) // unread by shepherd

	for round := 0; round < 3; round++ {
		nc, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(time.Minute))
		go io.WriteString(nc, req.String()) // stops with an error once shepherd hangs up
		time.Sleep(300 * time.Millisecond)  // let shepherd fill every buffer first
		got, err := io.ReadAll(nc)
		nc.Close()
		want := "STORED\r\n" + strings.Repeat("VALUE hang 0 524288\r\n"+value+"\r\nEND\r\n", gets)
		if err != nil || !bytes.Equal(got, []byte(want)) {
			t.Fatalf("round %d: got %d of %d bytes, %v; want every reply before quit, then EOF", round, len(got), len(want), err)
		}
	}
}
