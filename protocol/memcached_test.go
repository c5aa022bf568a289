// Conformance against a real memcached: client requests parsed by Reader,
// encoded with AppendRequest/AppendRetrieval, pipelined to memcached in one
// write, and every reply read back with ReadReply in the framing
// ReplyKindOf names. A framing mistake shows up as a reply landing on the
// wrong request.
package protocol_test

import (
	"bufio"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/protocol"
)

func TestMemcachedReplies(t *testing.T) {
	t.Parallel()
	mc := mctest.Start(t)
	steps := []struct {
		in   string // as a client sends it
		want string // regexp for the whole reply as ReadReply keeps it
	}{
		{"set k 3 0 5 noreply\r\nhello\r\n", `STORED\r\n`},
		{"add k 0 0 1\r\nx\r\n", `NOT_STORED\r\n`},
		{"replace k 3 0 3\r\nabc\r\n", `STORED\r\n`},
		{"append k 0 0 2 noreply\r\nde\r\n", `STORED\r\n`},
		{"prepend k 0 0 1\r\n_\r\n", `STORED\r\n`},
		{"get k missing\r\n", `VALUE k 3 6\r\n_abcde\r\nEND\r\n`},
		{"gets k\r\n", `VALUE k 3 6 \d+\r\n_abcde\r\nEND\r\n`},
		{"gat 100 missing k\r\n", `VALUE k 3 6\r\n_abcde\r\nEND\r\n`},
		{"gats 100 k\r\n", `VALUE k 3 6 \d+\r\n_abcde\r\nEND\r\n`},
		{"get missing\r\n", `END\r\n`},
		{"set crlf 0 0 4\r\na\r\nb\r\n", `STORED\r\n`},
		{"get crlf\r\n", `VALUE crlf 0 4\r\na\r\nb\r\nEND\r\n`},
		{"cas k 0 0 1 1\r\nq\r\n", `EXISTS\r\n`},
		{"cas missing 0 0 1 1 noreply\r\nq\r\n", `NOT_FOUND\r\n`},
		{"incr k 1\r\n", `CLIENT_ERROR cannot increment or decrement non-numeric value\r\n`},
		{"incr n 1\r\n", `NOT_FOUND\r\n`},
		{"set n 0 0 1\r\n5\r\n", `STORED\r\n`},
		{"incr n 10 noreply\r\n", `15\r\n`},
		{"decr n 100\r\n", `0\r\n`},
		{"touch k 100\r\n", `TOUCHED\r\n`},
		{"touch missing 100 noreply\r\n", `NOT_FOUND\r\n`},
		{"delete k noreply\r\n", `DELETED\r\n`},
		{"delete k 0\r\n", `NOT_FOUND\r\n`},
		{"verbosity 0\r\n", `OK\r\n`},
		{"version\r\n", `VERSION \S+\r\n`},

		{"ms m 2 T60 F5\r\nhi\r\n", `HD\r\n`},
		{"mg m v t f\r\n", `VA 2 t(60|59) f5\r\nhi\r\n`},
		{"mg m v q O7\r\n", `VA 2 O7\r\nhi\r\n`},
		{"mg missing v q O8\r\n", ``},
		{"mg missing v O9 k\r\n", `EN( O9 kmissing)?\r\n`},
		{"mg m s c k\r\n", `HD s2 c\d+ km\r\n`},
		{"mg bQ== b v k\r\n", `VA 2 ( ?(b|kbQ==|km))*\r\nhi\r\n`},
		{"ms m 3 q I\r\nbye\r\n", ``},
		{"ms m 3 MA q\r\n!!!\r\n", ``},
		{"mg m v\r\n", `VA 6\r\nbye!!!\r\n`},
		{"md m I T30\r\n", `HD\r\n`},
		{"mg m v c N30\r\n", `VA 6 c\d+ X W\r\nbye!!!\r\n`},
		{"mg m v c N30\r\n", `VA 6 c\d+ Z X\r\nbye!!!\r\n`},
		{"md m q\r\n", ``},
		{"md m\r\n", `NF\r\n`},
		{"md m q\r\n", `NF\r\n`},
		{"ma cnt N0 J5 v\r\n", `VA 1\r\n5\r\n`},
		{"ma cnt MD D2 q\r\n", ``},
		{"ma cnt v\r\n", `VA 1\r\n4\r\n`},
		{"ma missing q\r\n", `NF\r\n`},
		{"me cnt\r\n", `ME cnt .*\r\n`},
		{"mg cnt v qq\r\n", `VA 1\r\n4\r\n`},
		{"mg nokey v q9\r\n", ``},
		{"md nokey qq\r\n", `NF\r\n`},
		{"mg m bv\r\n", `CLIENT_ERROR error decoding key\r\n`},
		{"mn\r\n", `MN\r\n`},
	}

	var wire []byte
	var kinds []protocol.ReplyKind
	for _, s := range steps {
		req := new(protocol.Request)
		if err := protocol.NewReader(strings.NewReader(s.in), protocol.Limits{}).Read(req); err != nil {
			t.Fatalf("Read(%q): got error %v; want nil", s.in, err)
		}
		if req.Cmd.IsRetrieval() {
			var exptime []byte
			if len(req.Args) > 0 {
				exptime = req.Args[0]
			}
			wire = protocol.AppendRetrieval(wire, req.Cmd, exptime, req.Keys)
		} else {
			wire = protocol.AppendRequest(wire, req)
		}
		kinds = append(kinds, protocol.ReplyKindOf(req))
	}

	nc, err := net.Dial("tcp", mc.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(wire); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	var rep protocol.Reply
	for i, s := range steps {
		if err := protocol.ReadReply(br, kinds[i], &rep); err != nil {
			t.Fatalf("reply to %q: got error %v; want one matching %q", s.in, err, s.want)
		}
		if re := regexp.MustCompile(`\A` + s.want + `\z`); !re.Match(rep.Raw) {
			t.Errorf("reply to %q: got %q; want one matching %q", s.in, rep.Raw, s.want)
		}
	}
	if n := br.Buffered(); n != 0 {
		t.Errorf("after the last reply: got %d bytes unread; want 0", n)
	}
}
