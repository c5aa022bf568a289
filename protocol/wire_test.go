// Tests for encoding requests for a backend: exact bytes, and what the
// backend's reply will look like.
package protocol

import (
	"strings"
	"testing"
)

func parseOne(t *testing.T, in string) *Request {
	t.Helper()
	req := new(Request)
	if err := NewReader(strings.NewReader(in), Limits{}).Read(req); err != nil {
		t.Fatalf("Read(%q): got error %v; want nil", in, err)
	}
	return req
}

func TestAppendRequest(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"set", "set k 1 2 5\r\nhello\r\n", "set k 1 2 5\r\nhello\r\n"},
		{"set noreply", "set k 1 2 5 noreply\r\nhello\r\n", "set k 1 2 5\r\nhello\r\n"},
		{"add noreply", "add k 0 0 0 noreply\r\n\r\n", "add k 0 0 0\r\n\r\n"},
		{"replace", "replace k 0 -1 1\r\nx\r\n", "replace k 0 -1 1\r\nx\r\n"},
		{"append noreply", "append k 0 0 2 noreply\r\nab\r\n", "append k 0 0 2\r\nab\r\n"},
		{"prepend", "prepend k 0 0 2\r\nab\r\n", "prepend k 0 0 2\r\nab\r\n"},
		{"cas noreply", "cas k 0 0 1 7 noreply\r\nx\r\n", "cas k 0 0 1 7\r\nx\r\n"},
		{"value with CRLF", "set k 0 0 4\r\na\r\nb\r\n", "set k 0 0 4\r\na\r\nb\r\n"},
		{"extra spaces", "set  k  0 0  1 \r\nx\r\n", "set k 0 0 1\r\nx\r\n"},
		{"bare LF", "set k 0 0 1\nx\r\n", "set k 0 0 1\r\nx\r\n"},
		{"delete", "delete k\r\n", "delete k\r\n"},
		{"delete noreply", "delete k noreply\r\n", "delete k\r\n"},
		{"delete 0", "delete k 0 noreply\r\n", "delete k\r\n"},
		{"incr noreply", "incr k 5 noreply\r\n", "incr k 5\r\n"},
		{"decr", "decr k 1\r\n", "decr k 1\r\n"},
		{"touch noreply", "touch k 10 noreply\r\n", "touch k 10\r\n"},
		{"flush_all", "flush_all\r\n", "flush_all\r\n"},
		{"flush_all noreply", "flush_all 10 noreply\r\n", "flush_all 10\r\n"},
		{"version", "version\r\n", "version\r\n"},

		{"mg", "mg foo v t\r\n", "mg foo v t\r\n"},
		{"mg quiet", "mg foo v q O1\r\n", "mg foo v q O1\r\nmn\r\n"},
		{"mg base64", "mg Zm9v b v\r\n", "mg Zm9v b v\r\n"},
		{"mg base64 quiet", "mg Zm9v q b k\r\n", "mg Zm9v q b k\r\nmn\r\n"},
		{"md quiet", "md foo q\r\n", "md foo q\r\nmn\r\n"},
		{"md stale", "md foo I T30\r\n", "md foo I T30\r\n"},
		{"ma quiet", "ma foo q D2\r\n", "ma foo q D2\r\nmn\r\n"},
		{"ms", "ms foo 5 T10\r\nhello\r\n", "ms foo 5 T10\r\nhello\r\n"},
		{"ms quiet", "ms foo 5 T10 q\r\nhello\r\n", "ms foo 5 T10 q\r\nhello\r\nmn\r\n"},
		{"ms empty quiet", "ms foo 0 q\r\n\r\n", "ms foo 0 q\r\n\r\nmn\r\n"},
		{"mn", "mn\r\n", "mn\r\n"},
		{"me", "me foo\r\n", "me foo\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := parseOne(t, tc.in)
			if got := string(AppendRequest(nil, req)); got != tc.want {
				t.Errorf("AppendRequest(%q): got %q; want %q", tc.in, got, tc.want)
			}
			if got := string(AppendRequest([]byte("prefix"), req)); got != "prefix"+tc.want {
				t.Errorf("AppendRequest(prefix, %q): got %q; want %q", tc.in, got, "prefix"+tc.want)
			}
		})
	}
}

func TestAppendRetrieval(t *testing.T) {
	keys := [][]byte{[]byte("a"), []byte("bb"), []byte("c")}
	for _, tc := range []struct {
		name    string
		cmd     Command
		exptime string
		keys    [][]byte
		want    string
	}{
		{"get one", CmdGet, "", keys[:1], "get a\r\n"},
		{"get many", CmdGet, "", keys, "get a bb c\r\n"},
		{"gets", CmdGets, "", keys, "gets a bb c\r\n"},
		{"get ignores exptime", CmdGet, "10", keys[:1], "get a\r\n"},
		{"gat", CmdGat, "10", keys[:2], "gat 10 a bb\r\n"},
		{"gats", CmdGats, "-1", keys, "gats -1 a bb c\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := string(AppendRetrieval([]byte("x"), tc.cmd, []byte(tc.exptime), tc.keys))
			if got != "x"+tc.want {
				t.Errorf("AppendRetrieval(%v, %q, %q): got %q; want %q", tc.cmd, tc.exptime, tc.keys, got, "x"+tc.want)
			}
		})
	}
}

// TestAppendRetrievalRoundTrip checks that a parsed retrieval re-encodes
// to the line a backend would accept.
func TestAppendRetrievalRoundTrip(t *testing.T) {
	for _, in := range []string{"get a\r\n", "gets  a b  c\r\n", "gat 5 a b\r\n", "gats 0 x\r\n"} {
		req := parseOne(t, in)
		var exptime []byte
		if len(req.Args) > 0 {
			exptime = req.Args[0]
		}
		got := string(AppendRetrieval(nil, req.Cmd, exptime, req.Keys))
		if want := strings.Join(strings.Fields(in), " ") + "\r\n"; got != want {
			t.Errorf("AppendRetrieval(Read(%q)): got %q; want %q", in, got, want)
		}
	}
}

func TestReplyKindOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ReplyKind
	}{
		{"get a\r\n", ReplyValues},
		{"gets a b\r\n", ReplyValues},
		{"gat 1 a\r\n", ReplyValues},
		{"gats 1 a\r\n", ReplyValues},
		{"set k 0 0 1 noreply\r\nx\r\n", ReplyLine},
		{"cas k 0 0 1 1\r\nx\r\n", ReplyLine},
		{"delete k noreply\r\n", ReplyLine},
		{"incr k 1\r\n", ReplyLine},
		{"touch k 1\r\n", ReplyLine},
		{"flush_all\r\n", ReplyLine},
		{"version\r\n", ReplyLine},
		{"mg k v\r\n", ReplyMeta},
		{"mg k v q\r\n", ReplyMetaQuiet},
		{"ms k 1\r\nx\r\n", ReplyMeta},
		{"ms k 1 q\r\nx\r\n", ReplyMetaQuiet},
		{"md k q\r\n", ReplyMetaQuiet},
		{"ma k\r\n", ReplyMeta},
		{"mn\r\n", ReplyMeta},
		{"me k\r\n", ReplyMeta},
	} {
		if got := ReplyKindOf(parseOne(t, tc.in)); got != tc.want {
			t.Errorf("ReplyKindOf(%q): got %v; want %v", tc.in, got, tc.want)
		}
	}
}
