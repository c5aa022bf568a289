// Tests for FrameRequest and FrameReply: named cases, and checks against
// the bufio parsers over the request and reply corpora, generated streams
// and their mutations, on every prefix of each.
//
//	go test -run=NONE -fuzz=FuzzFrameRequest -fuzztime=60s ./protocol/
//	go test -run=NONE -fuzz=FuzzFrameReply -fuzztime=60s ./protocol/
package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFrameRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		lim  Limits
		n    int
		ok   bool
	}{
		{"get", "get a b\r\nget c\r\n", Limits{}, 9, true},
		{"get bare LF", "get a\nx", Limits{}, 6, true},
		{"empty", "", Limits{}, 0, true},
		{"partial line", "get a", Limits{}, 0, true},
		{"partial CR", "get a\r", Limits{}, 0, true},
		{"set", "set k 0 0 5\r\nhello\r\nget a\r\n", Limits{}, 20, true},
		{"set data partial", "set k 0 0 5\r\nhello\r", Limits{}, 0, true},
		{"set line only", "set k 0 0 5\r\n", Limits{}, 0, true},
		{"set bad tail", "set k 0 0 5\r\nhelloXX", Limits{}, 20, true},
		{"cas", "cas k 0 0 1 7 noreply\r\nx\r\n", Limits{}, 26, true},
		{"ms", "ms k 2 T0 q\r\nhi\r\n", Limits{}, 17, true},
		{"ms refused flags, block swallowed", "ms k 2 T0 T0\r\nhi\r\n", Limits{}, 18, true},
		{"set size with sign", "set k 0 0 +1\r\nx\r\n", Limits{}, 17, true},
		{"set size wraps to 1", "set k 0 0 4294967297\r\nx\r\n", Limits{}, 25, true},
		{"set at MaxValue", "set k 0 0 4\r\nabcd\r\n", Limits{MaxValue: 4}, 19, true},
		{"mg", "mg k v\r\n", Limits{}, 8, true},
		{"unknown", "bogus\r\n", Limits{}, 7, true},
		{"line at MaxLine", "get " + strings.Repeat("k", 96) + "\r\n", Limits{MaxLine: 100}, 102, true},

		{"binary", "\x80\x00", Limits{}, 0, false},
		{"empty line", "\r\nget a\r\n", Limits{}, 0, false},
		{"blank line", "   \r\n", Limits{}, 0, false},
		{"NUL", "get a\x00b\r\n", Limits{}, 0, false},
		{"NUL in partial line", "get a\x00", Limits{}, 0, false},
		{"line over MaxLine", "get " + strings.Repeat("k", 97) + "\r\n", Limits{MaxLine: 100}, 0, false},
		{"get over a smaller MaxGetLine", "get " + strings.Repeat("k", 97) + "\r\n", Limits{MaxGetLine: 100}, 0, false},
		{"no LF within MaxLine", "get " + strings.Repeat("k", 97), Limits{MaxLine: 100}, 0, false},
		{"set over MaxValue", "set k 0 0 5\r\nabcde\r\n", Limits{MaxValue: 4}, 0, false},
		{"ms over MaxValue", "ms k 5\r\nabcde\r\n", Limits{MaxValue: 4}, 0, false},
		{"set bad size", "set k 0 0 x\r\n", Limits{}, 0, false},
		{"set negative size", "set k 0 0 -1\r\n", Limits{}, 0, false},
		{"set size 2^31-2", "set k 0 0 2147483646\r\n", Limits{}, 0, false},
		{"set missing size", "set k 0 0\r\n", Limits{}, 0, false},
		{"set too many tokens", "set k 0 0 1 a b\r\nx\r\n", Limits{}, 0, false},
		{"set bad flags", "set k x 0 1\r\nx\r\n", Limits{}, 0, false},
		{"set long key", "set " + strings.Repeat("k", 251) + " 0 0 1\r\nx\r\n", Limits{}, 0, false},
		{"cas bad unique", "cas k 0 0 1 -1\r\nx\r\n", Limits{}, 0, false},
		{"ms no size", "ms k\r\n", Limits{}, 0, false},
		{"ms no key", "ms\r\n", Limits{}, 0, false},
		{"ms bad size", "ms k T1\r\n", Limits{}, 0, false},
		{"ms too many flags", "ms k 2" + strings.Repeat(" T1", 17) + "\r\nhi\r\n", Limits{}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if n, ok := FrameRequest([]byte(tc.in), tc.lim); n != tc.n || ok != tc.ok {
				t.Errorf("FrameRequest(%.80q): got (%d, %v); want (%d, %v)", tc.in, n, ok, tc.n, tc.ok)
			}
		})
	}
}

// TestFrameRequestAgreesWithReader frames the Reader's test corpus, streams
// of generated requests and mutations of both.
func TestFrameRequestAgreesWithReader(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	framed := 0
	for _, cases := range [][]readCase{retrievalCases(), storageCases(), otherClassicCases(), metaCases(), framingCases()} {
		for _, tc := range cases {
			in := []byte(tc.in)
			framed += checkFrames(t, in, tc.lim)
			if len(in) > 4096 {
				continue
			}
			for range 50 {
				framed += checkFrames(t, mutate(rng, in), tc.lim)
			}
		}
	}
	for range 3000 {
		in := genRequests(rng, 1+rng.IntN(6))
		for _, lim := range []Limits{fuzzLimits, {}} {
			framed += checkFrames(t, in, lim)
			framed += checkFrames(t, mutate(rng, in), lim)
		}
	}
	if framed < 10000 {
		t.Errorf("framed %d requests; want the corpus to frame at least 10000", framed)
	}
}

func FuzzFrameRequest(f *testing.F) {
	for _, cases := range [][]readCase{storageCases(), metaCases(), framingCases()} {
		for _, tc := range cases {
			if len(tc.in) <= 4096 {
				f.Add([]byte(tc.in))
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		f.Add(genRequests(rng, 3))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{fuzzLimits, {}} {
			checkFrames(t, data, lim)
		}
	})
}

// checkFrames frames data request by request and checks each frame against
// a Reader. Where FrameRequest declines, a Reader reads the request and
// framing goes on after it, until a fatal error. It returns how many
// requests were framed.
func checkFrames(t *testing.T, data []byte, lim Limits) int {
	t.Helper()
	framed := 0
	for off := 0; off < len(data); {
		rest := data[off:]
		n, ok := FrameRequest(rest, lim)
		switch {
		case ok && n > 0:
			checkFrame(t, rest[:n], lim)
			off += n
			framed++
		case ok:
			// More bytes needed: a Reader must agree.
			if err := NewReader(bytes.NewReader(rest), lim).Read(new(Request)); err != io.ErrUnexpectedEOF {
				t.Fatalf("FrameRequest(%.200q) = (0, true); Read: got %v; want %v", rest, err, io.ErrUnexpectedEOF)
			}
			return framed
		default:
			sr := bytes.NewReader(rest)
			r := NewReader(sr, lim)
			err := r.Read(new(Request))
			used := len(rest) - sr.Len() - r.Buffered()
			if (err != nil && !resumable(err)) || used == 0 {
				return framed
			}
			off += used
		}
	}
	return framed
}

// checkFrame checks a request FrameRequest framed: a Reader over exactly
// its bytes reads one request and all of them, and no prefix is framed.
func checkFrame(t *testing.T, b []byte, lim Limits) {
	t.Helper()
	sr := bytes.NewReader(b)
	r := NewReader(sr, lim)
	err := r.Read(new(Request))
	if err != nil && !resumable(err) && err != ErrClose {
		t.Fatalf("FrameRequest framed %.200q; Read: got %v; want a request or a refusal", b, err)
	}
	if sr.Len() != 0 || r.Buffered() != 0 {
		t.Fatalf("FrameRequest framed %.200q (%d bytes); Read left %d unread and %d buffered; want all consumed",
			b, len(b), sr.Len(), r.Buffered())
	}
	for _, k := range prefixes(len(b)) {
		if n, _ := FrameRequest(b[:k], lim); n != 0 {
			t.Fatalf("FrameRequest(%.200q) frames %d bytes; on its first %d bytes: got %d; want 0", b, len(b), k, n)
		}
	}
}

// prefixes lists the prefix lengths below n to try: all of them for a
// short input, else the first and last 4 KiB and a sample between.
func prefixes(n int) []int {
	var ks []int
	for k := 0; k < n; k++ {
		if n <= 8192 || k < 4096 || k >= n-4096 || k%997 == 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

// mutate returns a copy of in with one to three random edits, aimed at the
// bytes that decide framing.
func mutate(rng *rand.Rand, in []byte) []byte {
	const special = " \r\n\x00\x80\t0123456789-+xkVAMNEND"
	out := bytes.Clone(in)
	for range 1 + rng.IntN(3) {
		i := 0
		if len(out) > 0 {
			i = rng.IntN(len(out))
		}
		c := special[rng.IntN(len(special))]
		switch op := rng.IntN(5); {
		case op == 0 && len(out) > 0:
			out[i] = c
		case op == 1 && len(out) > 0:
			out = append(out[:i], out[i+1:]...)
		case op == 2:
			out = append(out[:i], append([]byte{c}, out[i:]...)...)
		case op == 3 && len(out) > 0:
			out = out[:i] // truncated
		default:
			j := i + rng.IntN(len(out)-i+1)
			out = append(out[:j], append(bytes.Clone(out[i:j]), out[j:]...)...)
		}
	}
	return out
}

// genRequests returns n requests, mostly well formed, with numbers chosen
// from the edges of what memcached parses.
func genRequests(rng *rand.Rand, n int) []byte {
	nums := []string{"0", "1", "5", "-1", "+3", "4294967297", "2147483646", "2147483647", "12345678901",
		"x", "1x", "", "9223372036854775808", "-0", "2"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	size := func() (string, int) {
		if rng.IntN(4) == 0 {
			s := pick(nums)
			v, _ := safeStrtol([]byte(s))
			return s, max(0, min(int(v), 64))
		}
		v := rng.IntN(40)
		return fmt.Sprint(v), v
	}
	data := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab\r\n "[rng.IntN(5)]
		}
		return string(b)
	}
	var b strings.Builder
	for range n {
		key := pick([]string{"k", "key:1", strings.Repeat("k", 250), strings.Repeat("k", 251), "a\rb"})
		switch rng.IntN(6) {
		case 0, 1:
			cmd := pick([]string{"set", "add", "replace", "append", "prepend", "cas"})
			s, v := size()
			fmt.Fprintf(&b, "%s %s %s %s %s", cmd, key, pick(nums), pick(nums), s)
			if cmd == "cas" || rng.IntN(8) == 0 {
				b.WriteString(" " + pick(nums))
			}
			if rng.IntN(3) == 0 {
				b.WriteString(" noreply")
			}
			b.WriteString("\r\n" + data(v) + "\r\n")
		case 2:
			s, v := size()
			fmt.Fprintf(&b, "ms %s %s", key, s)
			for range rng.IntN(22) {
				b.WriteString(" " + pick([]string{"T0", "F1", "q", "b", "I", "MS", "MZ", "O1", "c", "k"}))
			}
			b.WriteString("\r\n" + data(v) + "\r\n")
		case 3:
			fmt.Fprintf(&b, "%s %s %s\r\n", pick([]string{"get", "gets", "gat", "mg", "md"}), key, pick(nums))
		case 4:
			b.WriteString(pick([]string{"mn\r\n", "version\r\n", "quit\r\n", "GET / HTTP/1.1\r\n", "incr k 1\n", "\r\n", " \r\n"}))
		default:
			fmt.Fprintf(&b, "delete %s%s\r\n", key, pick([]string{"", " 0", " noreply", " 0 noreply", " 1"}))
		}
	}
	return []byte(b.String())
}

func TestFrameRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	in := []byte("set key:12345 0 0 10 noreply\r\n0123456789\r\n")
	if a := testing.AllocsPerRun(100, func() { FrameRequest(in, Limits{}) }); a != 0 {
		t.Errorf("FrameRequest: got %v allocations; want 0", a)
	}
}

func TestFrameReply(t *testing.T) {
	t.Parallel()
	long := "SERVER_ERROR " + strings.Repeat("x", replyBufSize-15) + "\r\n" // a line that fills the buffer
	cases := []struct {
		name   string
		kind   ReplyKind
		keys   string // "-" for no key check
		in     string
		n      int
		values int
		err    error
	}{
		{"line", ReplyLine, "-", "STORED\r\nnext", 8, 0, nil},
		{"line partial", ReplyLine, "-", "STORED\r", 0, 0, nil},
		{"line not a status", ReplyLine, "-", "HD\r\n", 0, 0, ErrMalformed},
		{"line filling the buffer", ReplyLine, "-", long, len(long), 0, nil},
		{"line over the buffer", ReplyLine, "-", "SERVER_ERROR " + strings.Repeat("x", replyBufSize), 0, 0, ErrMalformed},
		{"line one short of over", ReplyLine, "-", long[:len(long)-1], 0, 0, nil},
		{"values", ReplyValues, "a b", "VALUE a 0 1\r\nx\r\nVALUE b 0 2 9\r\nyy\r\nEND\r\nVALUE", 40, 2, nil},
		{"values partial data", ReplyValues, "-", "VALUE a 0 1\r\nx\r", 0, 0, nil},
		{"values wrong key", ReplyValues, "a", "VALUE b 0 1\r\n", 0, 0, ErrWrongKey},
		{"values empty keys", ReplyValues, "", "VALUE b 0 1\r\n", 0, 0, ErrWrongKey},
		{"values unchecked", ReplyValues, "-", "VALUE b 0 1\r\nx\r\nEND\r\n", 21, 1, nil},
		{"values oversize", ReplyValues, "-", "VALUE b 0 67108865\r\n", 0, 0, ErrMalformed},
		{"values bad CRLF", ReplyValues, "-", "VALUE b 0 1\r\nxyz", 0, 0, ErrMalformed},
		{"meta VA", ReplyMeta, "-", "VA 2 t1\r\nhi\r\nHD\r\n", 13, 0, nil},
		{"meta quiet", ReplyMetaQuiet, "-", "HD O1\r\nMN\r\nHD\r\n", 11, 0, nil},
		{"meta quiet MN only", ReplyMetaQuiet, "-", "MN\r\n", 4, 0, nil},
		{"meta quiet two", ReplyMetaQuiet, "-", "HD\r\nVA 1\r\nx", 0, 0, nil},
		{"meta quiet two whole", ReplyMetaQuiet, "-", "HD\r\nVA 1\r\nx\r\n", 0, 0, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys := []byte(tc.keys)
			if tc.keys == "-" {
				keys = nil
			}
			n, values, items, err := FrameReply([]byte(tc.in), tc.kind, keys, nil)
			if n != tc.n || values != tc.values || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("FrameReply(%v, %.80q): got (%d, %d, %v); want (%d, %d, %v)", tc.kind, tc.in, n, values, err, tc.n, tc.values, tc.err)
			}
			if len(items) != values {
				t.Errorf("FrameReply(%v, %.80q): got %d items; want %d", tc.kind, tc.in, len(items), values)
			}
		})
	}
}

// TestFrameReplyAgreesWithReadReply checks FrameReply against ReadReply
// and ReadValues on the reply corpus, generated replies and mutations of
// both, on every prefix of each.
func TestFrameReplyAgreesWithReadReply(t *testing.T) {
	t.Parallel()
	c := newReplyChecker()
	rng := rand.New(rand.NewPCG(5, 6))
	for kind, cases := range [][]replyCase{lineReplyCases(), valuesReplyCases(), metaReplyCases(), metaQuietReplyCases()} {
		for _, tc := range cases {
			in := []byte(tc.in)
			c.checkPrefixes(t, ReplyKind(kind), nil, in)
			for range 30 {
				c.checkPrefixes(t, ReplyKind(kind), nil, mutate(rng, in))
			}
		}
	}
	for range 2000 {
		kind := ReplyKind(rng.IntN(4))
		in, keys := genReply(rng, kind)
		c.checkPrefixes(t, kind, keys, in)
		c.checkPrefixes(t, kind, keys, mutate(rng, in))
		if kind == ReplyValues {
			c.checkPrefixes(t, kind, nil, in)
			c.checkPrefixes(t, kind, mutate(rng, keys), in)
		}
	}
	// Long lines, around the buffer's size.
	for _, size := range []int{replyBufSize - 2, replyBufSize - 1, replyBufSize, replyBufSize + 1} {
		line := "SERVER_ERROR " + strings.Repeat("x", size-len("SERVER_ERROR ")-2) + "\r\n"
		value := "VALUE k 0 40000\r\n" + strings.Repeat("v", 40000) + "\r\n"
		c.checkPrefixes(t, ReplyLine, nil, []byte(line))
		c.checkPrefixes(t, ReplyValues, nil, []byte(value+"END\r\n"))
		c.checkPrefixes(t, ReplyValues, nil, []byte(value+"VALUE "+strings.Repeat("k", size)+" 0 1\r\nx\r\nEND\r\n"))
		c.checkPrefixes(t, ReplyMeta, nil, []byte("HD "+line))
	}
	for _, kind := range []ReplyKind{ReplyLine, ReplyValues, ReplyMeta, ReplyMetaQuiet} {
		for _, verdict := range []string{"ok", "incomplete", "error"} {
			if c.seen[kind][verdict] == 0 {
				t.Errorf("replies of kind %v: none ended %s; want the corpus to reach every verdict", kind, verdict)
			}
		}
	}
}

func FuzzFrameReply(f *testing.F) {
	for kind, cases := range [][]replyCase{lineReplyCases(), valuesReplyCases(), metaReplyCases(), metaQuietReplyCases()} {
		for _, tc := range cases {
			f.Add(uint8(kind), false, []byte(nil), []byte(tc.in))
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 20 {
		kind := ReplyKind(rng.IntN(4))
		in, keys := genReply(rng, kind)
		f.Add(uint8(kind), keys != nil, keys, in)
	}
	c := newReplyChecker()
	f.Fuzz(func(t *testing.T, kind uint8, check bool, keys, data []byte) {
		if check && keys == nil {
			keys = []byte{}
		}
		if !check {
			keys = nil
		}
		c.checkPrefixes(t, ReplyKind(kind%4), keys, data)
	})
}

// replyChecker compares FrameReply with the bufio parsers. It is not safe
// for concurrent use.
type replyChecker struct {
	br    *bufio.Reader
	rep   Reply
	items []Item
	seen  map[ReplyKind]map[string]int // verdicts on whole inputs
}

func newReplyChecker() *replyChecker {
	c := &replyChecker{br: bufio.NewReaderSize(nil, replyBufSize), seen: map[ReplyKind]map[string]int{}}
	for k := ReplyLine; k <= ReplyMetaQuiet; k++ {
		c.seen[k] = map[string]int{}
	}
	return c
}

// checkPrefixes checks data and its prefixes.
func (c *replyChecker) checkPrefixes(t *testing.T, kind ReplyKind, keys, data []byte) {
	t.Helper()
	c.seen[kind][c.check(t, kind, keys, data)]++
	for _, k := range prefixes(len(data)) {
		c.check(t, kind, keys, data[:k])
	}
}

// check compares FrameReply on data with the bufio parser kind and keys
// choose, and returns the verdict: ok, incomplete or error.
func (c *replyChecker) check(t *testing.T, kind ReplyKind, keys, data []byte) string {
	t.Helper()
	sr := bytes.NewReader(data)
	c.br.Reset(sr)
	var err error
	if kind == ReplyValues && keys != nil {
		err = ReadValues(c.br, &c.rep, keys, nil)
	} else {
		err = ReadReply(c.br, kind, &c.rep)
	}
	used := len(data) - sr.Len() - c.br.Buffered()
	n, values, items, ferr := FrameReply(data, kind, keys, c.items[:0])
	c.items = items
	fail := func(want string) {
		t.Helper()
		t.Fatalf("FrameReply(%v, keys %q, %.200q): got (%d, %d, %v); want %s", kind, keys, data, n, values, ferr, want)
	}
	switch {
	case err == nil:
		raw := data[:n]
		if kind == ReplyMetaQuiet && bytes.HasSuffix(raw, []byte("MN\r\n")) {
			raw = raw[:len(raw)-4]
		}
		if ferr != nil || n != used || values != c.rep.Values || !bytes.Equal(raw, c.rep.Raw) || !equalItems(items, c.rep.Items) {
			fail(fmt.Sprintf("(%d, %d, nil) with items %v, as ReadReply", used, c.rep.Values, c.rep.Items))
		}
		return "ok"
	case errors.Is(err, io.ErrUnexpectedEOF):
		if n != 0 || ferr != nil || len(items) != 0 {
			fail("(0, 0, nil): the reply is incomplete")
		}
		return "incomplete"
	case errors.Is(err, ErrMalformed) || errors.Is(err, ErrWrongKey):
		if n != 0 || ferr == nil || ferr.Error() != err.Error() || errors.Is(ferr, ErrMalformed) != errors.Is(err, ErrMalformed) {
			fail(fmt.Sprintf("ReadReply's error %v", err))
		}
		return "error"
	}
	t.Fatalf("ReadReply(%v, %.200q): got %v; want a reply, EOF or a protocol error", kind, data, err)
	return ""
}

func equalItems(a, b []Item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// genReply returns a well-formed reply of the given kind, and for values
// the keys of the request it answers.
func genReply(rng *rand.Rand, kind ReplyKind) (reply, keys []byte) {
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	data := func() string {
		b := make([]byte, rng.IntN(50))
		for i := range b {
			b[i] = "ab\r\nEND "[rng.IntN(8)]
		}
		return string(b)
	}
	var b strings.Builder
	switch kind {
	case ReplyLine:
		b.WriteString(pick([]string{"STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED", "OK",
			"42", "VERSION 1.6.18", "ERROR", "CLIENT_ERROR x", "SERVER_ERROR y"}) + "\r\n")
	case ReplyValues:
		var ks []string
		for i := range rng.IntN(11) {
			k := fmt.Sprintf("key:%d", i)
			ks = append(ks, k)
			if rng.IntN(3) == 0 {
				continue // a miss
			}
			d := data()
			fmt.Fprintf(&b, "VALUE %s %d %d", k, rng.Uint32(), len(d))
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, " %d", rng.Uint64())
			}
			b.WriteString("\r\n" + d + "\r\n")
		}
		if b.Len() == 0 && rng.IntN(5) == 0 {
			b.WriteString("SERVER_ERROR out of memory\r\n")
		} else {
			b.WriteString("END\r\n")
		}
		keys = []byte(strings.Join(ks, " "))
	case ReplyMeta, ReplyMetaQuiet:
		if kind == ReplyMeta || rng.IntN(3) > 0 {
			if rng.IntN(3) == 0 {
				d := data()
				fmt.Fprintf(&b, "VA %d t%d f0\r\n%s\r\n", len(d), rng.IntN(100), d)
			} else {
				b.WriteString(pick([]string{"HD", "HD c5 O1", "EN", "NF", "NS", "EX", "ME k exp=-1", "ERROR", "CLIENT_ERROR bad"}) + "\r\n")
			}
		}
		if kind == ReplyMetaQuiet {
			b.WriteString("MN\r\n")
		}
	}
	return []byte(b.String()), keys
}

func TestFrameReplyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	in := []byte("VALUE a 0 3\r\nabc\r\nVALUE b 0 3 7\r\nabc\r\nEND\r\n")
	keys, items := []byte("a b"), make([]Item, 0, 4)
	if a := testing.AllocsPerRun(100, func() { FrameReply(in, ReplyValues, keys, items[:0]) }); a != 0 {
		t.Errorf("FrameReply: got %v allocations; want 0", a)
	}
}

// BenchmarkReplyFraming compares FrameReply with ReadReply over bufio on
// the same reply.
func BenchmarkReplyFraming(b *testing.B) {
	for _, values := range []int{1, 10} {
		var sb strings.Builder
		for i := range values {
			fmt.Fprintf(&sb, "VALUE key:%05d 0 100\r\n%s\r\n", i, strings.Repeat("v", 100))
		}
		sb.WriteString("END\r\n")
		in := []byte(sb.String())
		b.Run(fmt.Sprintf("ReadReply/values=%d", values), func(b *testing.B) {
			br := bufio.NewReaderSize(&loopReader{b: in}, replyBufSize)
			rep := new(Reply)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if err := ReadReply(br, ReplyValues, rep); err != nil {
					b.Fatal(err)
				}
			}
			sinkReply = rep
		})
		b.Run(fmt.Sprintf("FrameReply/values=%d", values), func(b *testing.B) {
			var items []Item
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				n, _, its, err := FrameReply(in, ReplyValues, nil, items[:0])
				if n != len(in) || err != nil {
					b.Fatalf("FrameReply: got (%d, %v); want (%d, nil)", n, err, len(in))
				}
				items = its
			}
			sinkItems = items
		})
	}
}

var sinkItems []Item
