// Fuzz tests for the two parsers that face the network. Beyond "does not
// panic" they check that memory stays in proportion to the input, that what
// Read accepts obeys the limits and re-encodes to an equivalent request, and
// that ReadReply keeps exactly the bytes it consumed.
//
//	go test -run=NONE -fuzz=FuzzReader -fuzztime=60s ./protocol/
//	go test -run=NONE -fuzz=FuzzReadReply -fuzztime=60s ./protocol/
package protocol

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// fuzzLimits are small so the fuzzer reaches every limit quickly.
var fuzzLimits = Limits{MaxKey: 250, MaxLine: 256, MaxGetLine: 1024, MaxValue: 1024}

func FuzzReader(f *testing.F) {
	for _, cases := range [][]readCase{retrievalCases(), storageCases(), otherClassicCases(), metaCases(), framingCases()} {
		for _, tc := range cases {
			if len(tc.in) <= 4096 {
				f.Add([]byte(tc.in))
			}
		}
	}
	f.Add([]byte("set k 0 0 2147483648\r\nabc"))
	f.Add([]byte("ms k 2147483648 q\r\n"))
	f.Add([]byte("get a b\r\nmg Zm9v b v q\r\nms Zm9v 2 b q\r\nhi\r\nmn\r\nquit\r\n"))
	// Inputs that once broke shepherd's agreement with memcached.
	f.Add([]byte("mg k v qq\r\nmd k q9\r\nms k 1 quiet\r\nx\r\nma k qX\r\nmn\r\n"))
	f.Add([]byte("md \r\xe0mg ZDEuMjM3LmI= b O1\r\nmg ZDEuMjM3LmI= b v\r\n"))
	f.Add([]byte("set k 0 0 3\r\nabcXYset k 4294967296 0 4294967297\r\nx\r\ngat 10\r\n"))
	f.Add([]byte("ms k 2 MZ Oxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nhi\r\nmg k \x80\r\nGET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{fuzzLimits, {}} {
			n := readStream(t, data, lim)
			alloc := allocated(func() { readOnly(data, lim) })
			// Buffers: 16 KiB bufio, a line of MaxGetLine, a data block of
			// MaxValue, token slices. Never the size a client declares.
			lim = lim.withDefaults()
			if max := uint64(64<<10 + lim.MaxGetLine + lim.MaxValue + 64*len(data)); alloc > max {
				t.Fatalf("Read of %d bytes (%d requests): got %d bytes allocated; want <= %d", len(data), n, alloc, max)
			}
		}
	})
}

// readOnly reads requests from data until a fatal error.
func readOnly(data []byte, lim Limits) {
	r := NewReader(bytes.NewReader(data), lim)
	var req Request
	for i := 0; i <= len(data); i++ {
		if err := r.Read(&req); err != nil && !resumable(err) {
			return
		}
	}
}

// readStream reads requests from data until a fatal error and checks each
// one. It returns how many requests parsed.
func readStream(t *testing.T, data []byte, lim Limits) int {
	r := NewReader(bytes.NewReader(data), lim)
	lim = lim.withDefaults()
	var req Request
	n := 0
	for i := 0; ; i++ {
		if i > len(data)+1 {
			t.Fatalf("Read made no progress on %q", data)
		}
		err := r.Read(&req)
		if err != nil {
			if resumable(err) {
				continue
			}
			return n
		}
		n++
		checkRequest(t, &req, lim)
		checkRoundTrip(t, &req, lim)
	}
}

// checkRequest checks what Read promises about an accepted request.
func checkRequest(t *testing.T, req *Request, lim Limits) {
	t.Helper()
	if req.Cmd == CmdUnknown || req.Cmd >= numCommands {
		t.Fatalf("Read: got command %d; want a known one", req.Cmd)
	}
	for _, k := range req.Keys {
		// Keys are what memcached accepts: any token, at most MaxKey bytes
		// for classic commands and ms; mg, md, ma and me go as sent.
		bad := len(k) == 0 || bytes.IndexByte(k, ' ') >= 0 || bytes.IndexByte(k, 0) >= 0
		if bad || (len(k) > lim.MaxKey && (!req.Cmd.IsMeta() || req.Cmd == CmdMetaSet)) {
			t.Fatalf("Read(%v): got key %q; want a token of at most %d bytes", req.Cmd, k, lim.MaxKey)
		}
	}
	switch {
	case req.Cmd == CmdGet, req.Cmd == CmdGets:
		if len(req.Keys) == 0 {
			t.Fatalf("Read(%v): got no keys; want at least one", req.Cmd)
		}
	case req.Cmd.IsRetrieval(): // "gat 10" has none
	case req.Cmd == CmdMetaNoop, req.Cmd == CmdFlushAll, req.Cmd == CmdVersion,
		req.Cmd == CmdStats, req.Cmd == CmdVerbosity, req.Cmd == CmdQuit:
		if len(req.Keys) != 0 {
			t.Fatalf("Read(%v): got keys %q; want none", req.Cmd, req.Keys)
		}
	default:
		if len(req.Keys) != 1 {
			t.Fatalf("Read(%v): got keys %q; want one", req.Cmd, req.Keys)
		}
	}
	if req.Cmd.IsStorage() || req.Cmd == CmdMetaSet {
		sizeArg := 2
		if req.Cmd == CmdMetaSet {
			sizeArg = 0
		}
		size, ok := safeStrtol(req.Args[sizeArg])
		if !ok || int(size) != len(req.Data) || int(size) > lim.MaxValue {
			t.Fatalf("Read(%v): got %d data bytes for size %q; want them equal and <= %d", req.Cmd, len(req.Data), req.Args[sizeArg], lim.MaxValue)
		}
	}
	for _, a := range req.Args {
		if len(a) == 0 || bytes.IndexByte(a, ' ') >= 0 || bytes.IndexByte(a, '\n') >= 0 {
			t.Fatalf("Read(%v): got arg %q; want a non-empty token", req.Cmd, a)
		}
	}
}

// checkRoundTrip encodes a request the proxy forwards and checks that it
// parses back to the same request (classic noreply is dropped on the way).
func checkRoundTrip(t *testing.T, req *Request, lim Limits) {
	t.Helper()
	var wire []byte
	switch req.Cmd {
	case CmdVersion, CmdStats, CmdVerbosity, CmdQuit:
		return // answered by shepherd itself
	case CmdGet, CmdGets, CmdGat, CmdGats:
		var exptime []byte
		if len(req.Args) > 0 {
			exptime = req.Args[0]
		}
		wire = AppendRetrieval(nil, req.Cmd, exptime, req.Keys)
	default:
		wire = AppendRequest(nil, req)
	}
	want := show(req)
	if !req.Cmd.IsMeta() {
		want = strings.TrimSuffix(want, " noreply")
	}
	var again Request
	if err := NewReader(bytes.NewReader(wire), lim).Read(&again); err != nil {
		t.Fatalf("Read(AppendRequest(%s)) = Read(%q): got error %v; want the request back", want, wire, err)
	}
	if got := show(&again); got != want {
		t.Fatalf("Read(%q): got %s; want %s", wire, got, want)
	}
}

func FuzzReadReply(f *testing.F) {
	for kind, cases := range [][]replyCase{lineReplyCases(), valuesReplyCases(), metaReplyCases(), metaQuietReplyCases()} {
		for _, tc := range cases {
			f.Add(uint8(kind), []byte(tc.in))
		}
	}
	f.Add(uint8(ReplyValues), []byte("VALUE k 0 2147483648\r\nabc"))
	f.Add(uint8(ReplyMeta), []byte("VA 67108864 t1\r\nabc"))
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		k := ReplyKind(kind % 4)
		alloc := allocated(func() { readReplies(t, k, data) })
		// Raw grows in 64 KiB steps as data arrives (up to twice for append's
		// doubling), plus the bufio buffer: never the declared size.
		if max := uint64(256<<10 + 8*len(data)); alloc > max {
			t.Fatalf("ReadReply(%v) of %d bytes: got %d bytes allocated; want <= %d", k, len(data), alloc, max)
		}
	})
}

// readReplies reads replies of one kind from data until an error, checking
// that each keeps exactly the bytes it consumed.
func readReplies(t *testing.T, kind ReplyKind, data []byte) {
	sr := bytes.NewReader(data)
	br := bufio.NewReaderSize(sr, 128)
	var rep Reply
	off := 0
	for i := 0; ; i++ {
		if i > len(data)+1 {
			t.Fatalf("ReadReply made no progress on %q", data)
		}
		if err := ReadReply(br, kind, &rep); err != nil {
			return
		}
		consumed := len(data) - sr.Len() - br.Buffered()
		want := data[off:consumed]
		if kind == ReplyMetaQuiet {
			if !bytes.HasSuffix(want, []byte("MN\r\n")) {
				t.Fatalf("ReadReply(%v): consumed %q; want it to end in MN", kind, want)
			}
			want = want[:len(want)-4]
		}
		if !bytes.Equal(rep.Raw, want) {
			t.Fatalf("ReadReply(%v): got raw %q; want the consumed %q", kind, rep.Raw, want)
		}
		off = consumed
		checkReply(t, kind, &rep)
	}
}

// checkReply checks a reply's shape and, for values, its item index.
func checkReply(t *testing.T, kind ReplyKind, rep *Reply) {
	t.Helper()
	if kind != ReplyMetaQuiet && !bytes.HasSuffix(rep.Raw, crlf) {
		t.Fatalf("ReadReply(%v): got %q; want it to end in CRLF", kind, rep.Raw)
	}
	if kind != ReplyValues {
		if len(rep.Items) != 0 {
			t.Fatalf("ReadReply(%v): got %d items; want 0", kind, len(rep.Items))
		}
		return
	}
	if !bytes.HasSuffix(rep.Raw, []byte("END\r\n")) && !(rep.IsError() && len(rep.Items) == 0) {
		t.Fatalf("ReadReply(values): got %q; want END or an error line", rep.Raw)
	}
	prev := 0
	for i, it := range rep.Items {
		if it.Start != prev || it.End <= it.Start || it.End > len(rep.Raw) || it.KeyStart < it.Start || it.KeyEnd > it.End {
			t.Fatalf("ReadReply(values): got item %d %+v in %d bytes; want it in order and in range", i, it, len(rep.Raw))
		}
		v := rep.Value(i)
		key, _ := nextToken(v[len("VALUE "):])
		if !bytes.HasPrefix(v, []byte("VALUE ")) || !bytes.HasSuffix(v, crlf) || !bytes.Equal(rep.Key(i), key) {
			t.Fatalf("ReadReply(values): got item %q with key %q; want a VALUE block with key %q", v, rep.Key(i), key)
		}
		prev = it.End
	}
}
