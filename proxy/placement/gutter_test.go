package placement

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// A gutter write's expiration is capped at the TTL: never (0), longer, an
// absolute time or one that does not parse become the cap; shorter, equal
// and negative (expired at once) stay. ms gets a T flag when it has none.
func TestCapTTL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"set k 5 0 1", "5 10 1"},
		{"set k 5 30 1", "5 10 1"},
		{"add k 5 3 1", "5 3 1"},
		{"replace k 5 10 1", "5 10 1"},
		{"append k 5 11 1", "5 10 1"},
		{"cas k 5 -1 1 7", "5 -1 1 7"},
		{"set k 5 1893456000 1", "5 10 1"}, // an absolute time
		{"touch k 0", "10"},
		{"touch k 4", "4"},
		{"set k 5 010 1", "5 010 1"}, // the cap itself, as sent
		{"touch k 0010", "0010"},
		{"ms k 1 T0", "1 T10"},
		{"ms k 1 F3 T60 q", "1 F3 T10 q"},
		{"ms k 1 T5", "1 T5"},
		{"ms k 1 F3", "1 F3 T10"},
		{"get k", ""},
		{"delete k", ""},
	} {
		req := parse(t, tc.in)
		CapTTL(req, 10)
		if got := string(bytes.Join(req.Args, []byte(" "))); got != tc.want {
			t.Errorf("CapTTL(%q, 10): args %q; want %q", tc.in, got, tc.want)
		}
	}
}

// An expiration that does not parse (which the protocol refuses before
// CapTTL sees it) becomes the cap too.
func TestCapTTLUnparsed(t *testing.T) {
	req := &protocol.Request{Cmd: protocol.CmdMetaSet, Args: [][]byte{[]byte("1"), []byte("Tx")}}
	CapTTL(req, 10)
	if got := string(bytes.Join(req.Args, []byte(" "))); got != "1 T10" {
		t.Errorf("CapTTL of Tx: args %q; want \"1 T10\"", got)
	}
	// An empty token (which the protocol never makes) is no T flag.
	req = &protocol.Request{Cmd: protocol.CmdMetaSet, Args: [][]byte{[]byte("1"), {}, []byte("T30")}}
	CapTTL(req, 10)
	if got := string(bytes.Join(req.Args, []byte(" "))); got != "1  T10" {
		t.Errorf("CapTTL with an empty token: args %q; want \"1  T10\"", got)
	}
}

// parse reads one request line (and a one-byte data block for the
// commands that take one).
func parse(t *testing.T, line string) *protocol.Request {
	t.Helper()
	in := line + "\r\n"
	if f := strings.Fields(line)[0]; f != "get" && f != "delete" && f != "touch" {
		in += "x\r\n"
	}
	r := protocol.NewReader(strings.NewReader(in), protocol.Limits{})
	var req protocol.Request
	if err := r.Read(&req); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return &req
}
