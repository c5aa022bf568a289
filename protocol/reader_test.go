// Tests for Reader: every command, the limits, malformed input, and the
// stream staying aligned after an error.
package protocol

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// show renders a parsed request compactly, e.g.
// `set keys=k args=0,0,5 data="hello" noreply`.
func show(req *Request) string {
	var b strings.Builder
	b.WriteString(req.Cmd.String())
	join := func(label string, xs [][]byte) {
		if len(xs) == 0 {
			return
		}
		b.WriteString(" " + label + "=")
		for i, x := range xs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(x)
		}
	}
	join("keys", req.Keys)
	join("args", req.Args)
	if req.Cmd.IsStorage() || req.Cmd == CmdMetaSet {
		fmt.Fprintf(&b, " data=%q", req.Data)
	}
	if req.Tail != nil {
		fmt.Fprintf(&b, " tail=%q", req.Tail)
	}
	if req.Noreply {
		b.WriteString(" noreply")
	}
	if req.Base64 {
		b.WriteString(" base64")
	}
	return b.String()
}

// showErr renders a Read error the way the proxy would answer it.
func showErr(err error) string {
	var ce *ClientError
	switch {
	case errors.As(err, &ce):
		return strings.TrimSuffix(string(ce.Reply()), "\r\n")
	case errors.Is(err, ErrUnknownCommand):
		return "ERROR"
	case errors.Is(err, ErrLineTooLong):
		return "LINE_TOO_LONG"
	}
	return err.Error()
}

// resumable reports whether the connection survives err.
func resumable(err error) bool {
	var ce *ClientError
	return errors.As(err, &ce) || errors.Is(err, ErrUnknownCommand)
}

// readAll parses in until a clean EOF (not shown) or a fatal error (shown
// last) and returns one string per result.
func readAll(in string, lim Limits) []string {
	r := NewReader(strings.NewReader(in), lim)
	var req Request
	var out []string
	for {
		err := r.Read(&req)
		switch {
		case err == nil:
			out = append(out, show(&req))
		case err == io.EOF:
			return out
		case resumable(err):
			out = append(out, showErr(err))
		default:
			return append(out, showErr(err))
		}
	}
}

type readCase struct {
	name string
	in   string
	lim  Limits
	want []string
}

func runReadCases(t *testing.T, cases []readCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := readAll(tc.in, tc.lim)
			if !equalStrings(got, tc.want) {
				t.Errorf("Read(%.80q):\ngot  %q;\nwant %q", tc.in, clip(got), clip(tc.want))
			}
		})
	}
}

// clip shortens each string for a failure message.
func clip(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		if len(x) > 120 {
			x = fmt.Sprintf("%s...(%d bytes)", x[:120], len(x))
		}
		out[i] = x
	}
	return out
}

func equalStrings(a, b []string) bool {
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

func TestReadRetrieval(t *testing.T) { runReadCases(t, retrievalCases()) }

func retrievalCases() []readCase {
	return []readCase{
		{"get", "get foo\r\n", Limits{}, []string{"get keys=foo"}},
		{"get many", "get a b c\r\n", Limits{}, []string{"get keys=a,b,c"}},
		{"get extra spaces", "get  a   b \r\n", Limits{}, []string{"get keys=a,b"}},
		{"get noreply is a key", "get a noreply\r\n", Limits{}, []string{"get keys=a,noreply"}},
		{"gets", "gets a b\r\n", Limits{}, []string{"gets keys=a,b"}},
		{"gat", "gat 100 a b\r\n", Limits{}, []string{"gat keys=a,b args=100"}},
		{"gats negative exptime", "gats -1 a\r\n", Limits{}, []string{"gats keys=a args=-1"}},
		{"get no key", "get\r\n", Limits{}, []string{"ERROR"}},
		{"get only spaces", "get   \r\n", Limits{}, []string{"ERROR"}},
		{"gat no key", "gat 10\r\n", Limits{}, []string{"gat args=10"}},
		{"gat bad exptime", "gat abc foo\r\n", Limits{}, []string{"CLIENT_ERROR invalid exptime argument"}},
		{"gats bad exptime", "gats 1x foo\r\n", Limits{}, []string{"CLIENT_ERROR invalid exptime argument"}},
		{"get key 250", "get " + strings.Repeat("k", 250) + "\r\n", Limits{},
			[]string{"get keys=" + strings.Repeat("k", 250)}},
		{"get key 251", "get a " + strings.Repeat("k", 251) + "\r\nget b\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "get keys=b"}},
		{"get key MaxKey", "get abcd abcde\r\n", Limits{MaxKey: 4},
			[]string{"CLIENT_ERROR bad command line format"}},
		{"get control byte", "get a\x01b\r\n", Limits{}, []string{"get keys=a\x01b"}},
		{"get tab", "get a\tb\r\n", Limits{}, []string{"get keys=a\tb"}},
		{"get DEL", "get a\x7f\r\n", Limits{}, []string{"get keys=a\x7f"}},
		{"get inner CR", "get a\rb\r\n", Limits{}, []string{"get keys=a\rb"}},
		{"get high bytes", "get caf\xc3\xa9\r\n", Limits{}, []string{"get keys=caf\xc3\xa9"}},
	}
}

func TestReadStorage(t *testing.T) { runReadCases(t, storageCases()) }

func storageCases() []readCase {
	var cases []readCase
	for _, cmd := range []string{"set", "add", "replace", "append", "prepend"} {
		cases = append(cases,
			readCase{cmd, cmd + " k 1 2 5\r\nhello\r\n", Limits{},
				[]string{cmd + ` keys=k args=1,2,5 data="hello"`}},
			readCase{cmd + " noreply", cmd + " k 1 2 5 noreply\r\nhello\r\n", Limits{},
				[]string{cmd + ` keys=k args=1,2,5 data="hello" noreply`}},
		)
	}
	cases = append(cases, []readCase{
		{"cas", "cas k 0 0 5 99\r\nhello\r\n", Limits{}, []string{`cas keys=k args=0,0,5,99 data="hello"`}},
		{"cas noreply", "cas k 0 0 5 99 noreply\r\nhello\r\n", Limits{},
			[]string{`cas keys=k args=0,0,5,99 data="hello" noreply`}},
		{"empty value", "set k 0 0 0\r\n\r\n", Limits{}, []string{`set keys=k args=0,0,0 data=""`}},
		{"CRLF inside value", "set k 0 0 4\r\na\r\nb\r\n", Limits{}, []string{`set keys=k args=0,0,4 data="a\r\nb"`}},
		{"negative exptime", "set k 0 -1 1\r\nx\r\n", Limits{}, []string{`set keys=k args=0,-1,1 data="x"`}},
		{"max flags", "set k 4294967295 0 1\r\nx\r\n", Limits{}, []string{`set keys=k args=4294967295,0,1 data="x"`}},
		{"value at MaxValue", "set k 0 0 4\r\nabcd\r\n", Limits{MaxValue: 4}, []string{`set keys=k args=0,0,4 data="abcd"`}},
		{"key 250", "set " + strings.Repeat("k", 250) + " 0 0 1\r\nx\r\n", Limits{},
			[]string{"set keys=" + strings.Repeat("k", 250) + ` args=0,0,1 data="x"`}},

		// Refused lines whose size parses: the data block is swallowed and
		// the next request parses.
		{"key 251 swallowed", "set " + strings.Repeat("k", 251) + " 0 0 5\r\nhello\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "ERROR", "get keys=a"}},
		{"control byte swallowed", "set a\x00b 0 0 5\r\nhello\r\nget a\r\n", Limits{},
			[]string{"ERROR", "ERROR", "get keys=a"}},
		{"bad flags swallowed", "set k abc 0 5\r\nhello\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "ERROR", "get keys=a"}},
		{"flags overflow swallowed", "set k 4294967296 0 5\r\nhello\r\nget a\r\n", Limits{},
			[]string{"set keys=k args=4294967296,0,5 data=\"hello\"", "get keys=a"}},
		{"bad exptime swallowed", "set k 0 1.5 5\r\nhello\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "ERROR", "get keys=a"}},
		{"bad cas swallowed", "cas k 0 0 5 -3\r\nhello\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "ERROR", "get keys=a"}},
		{"too large swallowed", "set k 0 0 11\r\nhello world\r\nget a\r\n", Limits{MaxValue: 10},
			[]string{"SERVER_ERROR object too large for cache", "get keys=a"}},

		// A size that does not parse: nothing can be swallowed, so the data
		// block is read as a command line, as memcached does.
		{"bad size", "set k 0 0 abc\r\nhello\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "ERROR", "get keys=a"}},
		{"negative size", "set k 0 0 -1\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "get keys=a"}},
		{"size 11 digits", "set k 0 0 12345678901\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "get keys=a"}},
		{"missing size", "set k 0 0\r\nget a\r\n", Limits{}, []string{"ERROR", "get keys=a"}},
		{"missing key", "set\r\n", Limits{}, []string{"ERROR"}},
		{"cas missing unique", "cas k 0 0 5\r\nhello\r\n", Limits{}, []string{"ERROR", "ERROR"}},
		{"too many tokens", "set k 0 0 5 6\r\nhello\r\n", Limits{}, []string{"set keys=k args=0,0,5 data=\"hello\""}},

		// The data block must end in CRLF; exactly size+2 bytes are taken.
		{"data without CRLF", "set k 0 0 5\r\nhelloXXget a\r\n", Limits{},
			[]string{"set keys=k args=0,0,5 data=\"hello\" tail=\"XX\"", "get keys=a"}},
		{"data with bare LF", "set k 0 0 5\r\nhello\nget a\r\n", Limits{},
			[]string{"set keys=k args=0,0,5 data=\"hello\" tail=\"\\ng\"", "ERROR"}},
		{"data too long", "set k 0 0 3\r\nhello\r\n", Limits{},
			[]string{"set keys=k args=0,0,3 data=\"hel\" tail=\"lo\"", "ERROR"}},

		{"EOF after line", "set k 0 0 5\r\n", Limits{}, []string{"unexpected EOF"}},
		{"EOF mid data", "set k 0 0 5\r\nhel", Limits{}, []string{"unexpected EOF"}},
		{"EOF before CRLF", "set k 0 0 5\r\nhello", Limits{}, []string{"unexpected EOF"}},
		{"EOF while swallowing", "set k 0 0 100\r\nabc", Limits{MaxValue: 10}, []string{"unexpected EOF"}},
	}...)
	return cases
}

func TestReadOtherClassic(t *testing.T) { runReadCases(t, otherClassicCases()) }

func otherClassicCases() []readCase {
	return []readCase{
		{"delete", "delete k\r\n", Limits{}, []string{"delete keys=k"}},
		{"delete noreply", "delete k noreply\r\n", Limits{}, []string{"delete keys=k noreply"}},
		{"delete 0", "delete k 0\r\n", Limits{}, []string{"delete keys=k"}},
		{"delete 0 noreply", "delete k 0 noreply\r\n", Limits{}, []string{"delete keys=k noreply"}},
		{"delete time", "delete k 5\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"}},
		{"delete no key", "delete\r\n", Limits{}, []string{"ERROR"}},
		{"delete too many", "delete a 0 x\r\n", Limits{}, []string{"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"}},
		{"delete key 251", "delete " + strings.Repeat("k", 251) + "\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format"}},

		{"incr", "incr k 5\r\n", Limits{}, []string{"incr keys=k args=5"}},
		{"incr noreply", "incr k 5 noreply\r\n", Limits{}, []string{"incr keys=k args=5 noreply"}},
		{"decr", "decr k 18446744073709551615\r\n", Limits{}, []string{"decr keys=k args=18446744073709551615"}},
		{"decr noreply", "decr k 1 noreply\r\n", Limits{}, []string{"decr keys=k args=1 noreply"}},
		{"incr negative", "incr k -1\r\n", Limits{}, []string{"CLIENT_ERROR invalid numeric delta argument"}},
		{"incr overflow", "incr k 18446744073709551616\r\n", Limits{}, []string{"CLIENT_ERROR invalid numeric delta argument"}},
		{"incr not a number", "incr k x\r\n", Limits{}, []string{"CLIENT_ERROR invalid numeric delta argument"}},
		{"incr missing delta", "incr k\r\n", Limits{}, []string{"ERROR"}},
		{"incr control byte", "incr k\x02 1\r\n", Limits{}, []string{"incr keys=k\x02 args=1"}},

		{"touch", "touch k 10\r\n", Limits{}, []string{"touch keys=k args=10"}},
		{"touch noreply", "touch k 10 noreply\r\n", Limits{}, []string{"touch keys=k args=10 noreply"}},
		{"touch negative", "touch k -1\r\n", Limits{}, []string{"touch keys=k args=-1"}},
		{"touch bad", "touch k x\r\n", Limits{}, []string{"CLIENT_ERROR invalid exptime argument"}},
		{"touch missing", "touch k\r\n", Limits{}, []string{"ERROR"}},

		{"flush_all", "flush_all\r\n", Limits{}, []string{"flush_all"}},
		{"flush_all delay", "flush_all 10\r\n", Limits{}, []string{"flush_all args=10"}},
		{"flush_all noreply", "flush_all noreply\r\n", Limits{}, []string{"flush_all noreply"}},
		{"flush_all delay noreply", "flush_all 10 noreply\r\n", Limits{}, []string{"flush_all args=10 noreply"}},
		{"flush_all bad", "flush_all x\r\n", Limits{}, []string{"CLIENT_ERROR invalid exptime argument"}},
		{"flush_all two", "flush_all 1 2\r\n", Limits{}, []string{"flush_all args=1"}},

		{"version", "version\r\n", Limits{}, []string{"version"}},
		{"version noreply", "version noreply\r\n", Limits{}, []string{"version"}},
		{"stats", "stats\r\n", Limits{}, []string{"stats"}},
		{"stats sub", "stats backends\r\n", Limits{}, []string{"stats args=backends"}},
		{"stats noreply is an argument", "stats noreply\r\n", Limits{}, []string{"stats args=noreply"}},
		{"verbosity", "verbosity 1\r\n", Limits{}, []string{"verbosity args=1"}},
		{"verbosity noreply", "verbosity 1 noreply\r\n", Limits{}, []string{"verbosity args=1 noreply"}},
		{"verbosity only noreply", "verbosity noreply\r\n", Limits{}, []string{""}},
		{"verbosity bare", "verbosity\r\n", Limits{}, []string{"ERROR"}},
		{"verbosity two", "verbosity 1 2\r\n", Limits{}, []string{"verbosity args=1"}},
		{"quit", "quit\r\n", Limits{}, []string{"quit"}},
		{"quit noreply", "quit noreply\r\n", Limits{}, []string{"quit"}},
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestReadMeta(t *testing.T) { runReadCases(t, metaCases()) }

func metaCases() []readCase {
	k250, k251 := b64(strings.Repeat("k", 250)), b64(strings.Repeat("k", 251))
	return []readCase{
		{"mg", "mg foo v\r\n", Limits{}, []string{"mg keys=foo args=v"}},
		{"mg no flags", "mg foo\r\n", Limits{}, []string{"mg keys=foo"}},
		{"mg flags", "mg foo s v t f k c O123\r\n", Limits{}, []string{"mg keys=foo args=s,v,t,f,k,c,O123"}},
		{"mg quiet", "mg foo v q O9\r\n", Limits{}, []string{"mg keys=foo args=v,q,O9 noreply"}},
		{"mg quiet first", "mg foo q v\r\n", Limits{}, []string{"mg keys=foo args=q,v noreply"}},
		{"mg herd flags", "mg foo N30 R10 T60 v c\r\n", Limits{}, []string{"mg keys=foo args=N30,R10,T60,v,c"}},
		{"mg base64", "mg " + b64("foo") + " b v\r\n", Limits{}, []string{"mg keys=Zm9v args=b,v base64"}},
		// memcached limits the key token as sent, so a base64 key must fit
		// in 250 bytes encoded (186 decoded), and decoded too.
		{"mg base64 250 encoded", "mg " + b64(strings.Repeat("k", 186)) + " b\r\n", Limits{}, []string{"mg keys=" + b64(strings.Repeat("k", 186)) + " args=b base64"}},
		{"mg base64 250 decoded", "mg " + k250 + " b\r\n", Limits{}, []string{"mg keys=a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2traw== args=b base64"}},
		{"mg base64 251", "mg " + k251 + " b\r\n", Limits{}, []string{"mg keys=a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s= args=b base64"}},
		{"mg base64 decoded over limit", "mg " + b64(strings.Repeat("k", 60)) + " b\r\n", Limits{MaxKey: 50}, []string{"mg keys=a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2tr args=b base64"}},
		{"ms too many flags", "ms k 2" + strings.Repeat(" T1", 17) + "\r\nhi\r\nmn\r\n", Limits{}, []string{"CLIENT_ERROR options flags too long", "ERROR", "mn"}},
		// One flag fewer is at the limit (20 tokens, the end counted):
		// memcached goes on to read the flags, and refuses the repeated one.
		{"ms flags at the limit", "ms k 2" + strings.Repeat(" T1", 16) + "\r\nhi\r\nmn\r\n", Limits{}, []string{"CLIENT_ERROR duplicate flag", "mn"}},
		{"mg duplicate flag", "mg k q q v\r\n", Limits{}, []string{"mg keys=k args=q,q,v noreply"}},
		{"mg base64 binary key", "mg " + b64("a\x00 b") + " b\r\n", Limits{}, []string{"mg keys=YQAgYg== args=b base64"}},
		{"mg bad base64", "mg !!!! b\r\n", Limits{}, []string{"mg keys=!!!! args=b base64"}},
		{"mg base64 control byte", "mg Zm\r9v b\r\n", Limits{}, []string{"mg keys=Zm\r9v args=b base64"}},
		{"mg no key", "mg\r\n", Limits{}, []string{"ERROR"}},
		{"mg key 250", "mg " + strings.Repeat("k", 250) + " v\r\n", Limits{},
			[]string{"mg keys=" + strings.Repeat("k", 250) + " args=v"}},
		{"mg key 251", "mg " + strings.Repeat("k", 251) + " v\r\n", Limits{},
			[]string{"mg keys=kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk args=v"}},
		{"mg control byte", "mg fo\x01o v\r\n", Limits{}, []string{"mg keys=fo\x01o args=v"}},

		{"md", "md foo\r\n", Limits{}, []string{"md keys=foo"}},
		{"md stale quiet", "md foo I T30 q\r\n", Limits{}, []string{"md keys=foo args=I,T30,q noreply"}},
		{"ma", "ma foo N0 J13 MI D5 v\r\n", Limits{}, []string{"ma keys=foo args=N0,J13,MI,D5,v"}},
		{"ma quiet", "ma foo q\r\n", Limits{}, []string{"ma keys=foo args=q noreply"}},
		{"mn", "mn\r\n", Limits{}, []string{"mn"}},
		{"me", "me foo\r\n", Limits{}, []string{"me keys=foo"}},
		{"unknown meta", "mx foo\r\n", Limits{}, []string{"ERROR"}},

		{"ms", "ms foo 5 T10 F3\r\nhello\r\n", Limits{}, []string{`ms keys=foo args=5,T10,F3 data="hello"`}},
		{"ms quiet", "ms foo 5 q I\r\nhello\r\n", Limits{}, []string{"ms keys=foo args=5,q,I data=\"hello\" noreply"}},
		{"ms base64", "ms Zm9v 2 b\r\nhi\r\n", Limits{}, []string{`ms keys=Zm9v args=2,b data="hi" base64`}},
		{"ms empty", "ms foo 0\r\n\r\n", Limits{}, []string{`ms keys=foo args=0 data=""`}},
		{"ms no size", "ms foo\r\nget a\r\n", Limits{}, []string{"CLIENT_ERROR bad command line format", "get keys=a"}},
		{"ms bad size", "ms foo T10\r\nget a\r\n", Limits{}, []string{"CLIENT_ERROR bad command line format", "get keys=a"}},
		{"ms too large swallowed", "ms foo 11 T0\r\nhello world\r\nget a\r\n", Limits{MaxValue: 10},
			[]string{"SERVER_ERROR object too large for cache", "get keys=a"}},
		{"ms key 250", "ms " + strings.Repeat("k", 250) + " 2\r\nhi\r\n", Limits{},
			[]string{"ms keys=" + strings.Repeat("k", 250) + ` args=2 data="hi"`}},
		{"ms key 251 swallowed", "ms " + strings.Repeat("k", 251) + " 2\r\nhi\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "ERROR", "get keys=a"}},
		{"ms bad base64 swallowed", "ms !!!! 2 b\r\nhi\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR error decoding key", "get keys=a"}},
		{"ms data without CRLF", "ms foo 5\r\nhelloXXget a\r\n", Limits{},
			[]string{"ms keys=foo args=5 data=\"hello\" tail=\"XX\"", "get keys=a"}},
		{"ms EOF mid data", "ms foo 5\r\nhel", Limits{}, []string{"unexpected EOF"}},
	}
}

func TestReadFraming(t *testing.T) { runReadCases(t, framingCases()) }

func framingCases() []readCase {
	long := func(prefix string, n int) string { // a line of exactly n bytes
		return prefix + strings.Repeat(" ", n-len(prefix))
	}
	getLine := func(n int) string { // a get line of about n bytes, 200-byte keys
		var b strings.Builder
		b.WriteString("get")
		for i := 0; b.Len() < n-201; i++ {
			fmt.Fprintf(&b, " %0200d", i)
		}
		b.WriteString(" " + strings.Repeat("z", n-b.Len()-1))
		return b.String()
	}
	return []readCase{
		{"empty input", "", Limits{}, nil},
		{"empty line", "\r\nget a\r\n", Limits{}, []string{"ERROR", "get keys=a"}},
		{"empty line, bare LF", "\nget a\r\n", Limits{}, []string{"ERROR", "get keys=a"}},
		// Bounds stated where memcached draws them.
		{"delete, key at MaxKey", "delete " + strings.Repeat("k", 250) + "\r\n", Limits{}, []string{"delete keys=" + strings.Repeat("k", 250)}},
		{"incr, key at MaxKey", "incr " + strings.Repeat("k", 250) + " 1\r\n", Limits{}, []string{"incr keys=" + strings.Repeat("k", 250) + " args=1"}},
		{"touch, key at MaxKey", "touch " + strings.Repeat("k", 250) + " 1\r\n", Limits{}, []string{"touch keys=" + strings.Repeat("k", 250) + " args=1"}},
		{"me with b", "me a2V5 b\r\n", Limits{}, []string{"me keys=a2V5 args=b base64"}},
		{"me without flags", "me key\r\n", Limits{}, []string{"me keys=key"}},
		{"ms at MaxValue", "ms k 5\r\nhello\r\n", Limits{MaxValue: 5}, []string{`ms keys=k args=5 data="hello"`}},
		{"ms over MaxValue", "ms k 6\r\nhello!\r\nmn\r\n", Limits{MaxValue: 5}, []string{"SERVER_ERROR object too large for cache", "mn"}},
		{"ms of 2147483646 bytes", "ms k 2147483646\r\n", Limits{}, []string{"CLIENT_ERROR bad command line format"}},
		{"ms of 2147483645 bytes", "ms k 2147483645\r\n", Limits{}, []string{"unexpected EOF"}},
		{"ms opaque at its limit", "ms k 1 O" + strings.Repeat("o", 31) + "\r\nx\r\n", Limits{},
			[]string{`ms keys=k args=1,O` + strings.Repeat("o", 31) + ` data="x"`}},
		{"ms opaque over its limit", "ms k 1 O" + strings.Repeat("o", 32) + "\r\nx\r\nmn\r\n", Limits{},
			[]string{"CLIENT_ERROR opaque token too long", "mn"}},
		{"ms long flag that is not O", "ms k 1 T" + strings.Repeat("0", 40) + "\r\nx\r\n", Limits{},
			[]string{`ms keys=k args=1,T` + strings.Repeat("0", 40) + ` data="x"`}},
		{"unknown", "bogus x\r\nget a\r\n", Limits{}, []string{"ERROR", "get keys=a"}},
		{"upper case", "GET a\r\n", Limits{}, []string{"ERROR"}},
		{"leading spaces", "  get a\r\n", Limits{}, []string{"get keys=a"}},
		{"bare LF", "get a\nset k 0 0 1\nx\r\ndelete k\n", Limits{},
			[]string{"get keys=a", `set keys=k args=0,0,1 data="x"`, "delete keys=k"}},
		{"CRCRLF", "get a\r\r\n", Limits{}, []string{"get keys=a\r"}},
		{"EOF mid line", "get foo", Limits{}, []string{"unexpected EOF"}},
		{"EOF after lines", "get a\r\nget b", Limits{}, []string{"get keys=a", "unexpected EOF"}},
		{"pipelined", "get a\r\nset b 0 0 1\r\nx\r\ndelete b noreply\r\nmg c v q\r\nmn\r\nincr n 1\r\nms d 2\r\nhi\r\nquit\r\n", Limits{},
			[]string{"get keys=a", "set keys=b args=0,0,1 data=\"x\"", "delete keys=b noreply", "mg keys=c args=v,q noreply", "mn", "incr keys=n args=1", "ms keys=d args=2 data=\"hi\"", "quit"}},

		{"line at MaxLine", long("version", 2048) + "\r\n", Limits{}, []string{"version"}},
		{"line over MaxLine", long("version", 2049) + "\r\n", Limits{}, []string{"LINE_TOO_LONG"}},
		{"set line over MaxLine", long("set k 0 0 1", 2049) + "\r\nx\r\n", Limits{}, []string{"LINE_TOO_LONG"}},
		{"line over buffer", long("version", 20000) + "\r\n", Limits{}, []string{"LINE_TOO_LONG"}},
		{"line over MaxLine no LF", long("version", 20000), Limits{}, []string{"LINE_TOO_LONG"}},
		{"custom MaxLine", long("version", 101) + "\r\n", Limits{MaxLine: 100}, []string{"LINE_TOO_LONG"}},
		{"get over MaxLine", getLine(5000) + "\r\nget a\r\n", Limits{},
			[]string{show(mustParse(getLine(5000) + "\r\n")), "get keys=a"}},
		{"get over buffer", getLine(100000) + "\r\nget a\r\n", Limits{},
			[]string{show(mustParse(getLine(100000) + "\r\n")), "get keys=a"}},
		{"get at MaxGetLine", getLine(256<<10) + "\r\n", Limits{},
			[]string{show(mustParse(getLine(256<<10) + "\r\n"))}},
		{"get over MaxGetLine", getLine(256<<10+1) + "\r\n", Limits{}, []string{"CLIENT_ERROR line too long"}},
		{"get far over MaxGetLine", getLine(300<<10) + "\r\n", Limits{}, []string{"CLIENT_ERROR line too long"}},
		{"get over small MaxGetLine", getLine(5000) + "\r\n", Limits{MaxGetLine: 4096}, []string{"CLIENT_ERROR line too long"}},
		// memcached refuses a line holding a key over the key limit as a bad
		// format, whatever else is wrong with it; a NUL ends the line.
		{"get over MaxGetLine, a long key", getLine(300<<10) + " " + strings.Repeat("k", 251) + "\r\nget a\r\n", Limits{},
			[]string{"CLIENT_ERROR bad command line format", "get keys=a"}},
		{"get over MaxGetLine, a key at the limit", getLine(300<<10) + " " + strings.Repeat("k", 250) + "\r\n", Limits{},
			[]string{"CLIENT_ERROR line too long"}},
		{"get over MaxGetLine, a long key after a NUL", getLine(300<<10) + "\x00 " + strings.Repeat("k", 251) + "\r\n", Limits{},
			[]string{"CLIENT_ERROR line too long"}},
		{"get over small MaxGetLine, a long key", getLine(5000) + " " + strings.Repeat("k", 251) + "\r\n", Limits{MaxGetLine: 4096},
			[]string{"CLIENT_ERROR bad command line format"}},
		{"get over small MaxGetLine, a long key after a NUL", getLine(5000) + "\x00 " + strings.Repeat("k", 251) + "\r\n", Limits{MaxGetLine: 4096},
			[]string{"CLIENT_ERROR line too long"}},
		{"line at MaxLine the size of the buffer", long("version", 16<<10) + "\r\n", Limits{MaxLine: 16 << 10}, []string{"version"}},
		{"gat over MaxLine", "gat 10" + getLine(5000)[3:] + "\r\n", Limits{},
			[]string{show(mustParse("gat 10" + getLine(5000)[3:] + "\r\n"))}},
	}
}

// mustParse parses one request with a Reader whose limits allow anything,
// for building expectations of very long lines.
func mustParse(in string) *Request {
	r := NewReader(strings.NewReader(in), Limits{MaxLine: 1 << 30, MaxGetLine: 1 << 30})
	req := new(Request)
	if err := r.Read(req); err != nil {
		panic(err)
	}
	if len(req.Keys) < 2 {
		panic("mustParse: expected a multi-key line")
	}
	return req
}

// TestReadSwallowsOversizedValue checks, with the default limits, that a
// value over MaxValue is answered and skipped and that the request after it
// on the same stream parses intact.
func TestReadSwallowsOversizedValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, line string }{
		{"set", "set big 0 0 1048577\r\n"},
		{"cas", "cas big 0 0 1048577 5 noreply\r\n"},
		{"ms", "ms big 1048577 T0\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			value := strings.Repeat("get x\r\n", 1048577/7+1)[:1048577] // looks like commands
			in := tc.line + value + "\r\nset next 0 0 3\r\nabc\r\n"
			got := readAll(in, Limits{})
			want := []string{"SERVER_ERROR object too large for cache", `set keys=next args=0,0,3 data="abc"`}
			if strings.Contains(tc.line, "noreply") {
				want[0] = "" // answered with nothing, as memcached does
			}
			if !equalStrings(got, want) {
				t.Errorf("got %q; want %q", got, want)
			}
		})
	}
}

// TestReadLargeValueKeepsLine checks that a value bigger than the read
// buffer does not overwrite the command line its key and args point into.
func TestReadLargeValueKeepsLine(t *testing.T) {
	t.Parallel()
	value := strings.Repeat("v", 100<<10)
	for _, tc := range []struct{ line, args string }{
		{"set mykey 7 0 102400 noreply\r\n", "7 0 102400"},
		{"ms mykey 102400 T7 q\r\n", "102400 T7 q"},
	} {
		r := NewReader(strings.NewReader(tc.line+value+"\r\nget a\r\n"), Limits{})
		var req Request
		if err := r.Read(&req); err != nil {
			t.Fatalf("Read(%q): got error %v; want nil", tc.line, err)
		}
		if got := string(req.Key()); got != "mykey" {
			t.Errorf("Read(%q) key: got %q; want %q", tc.line, got, "mykey")
		}
		if got := string(bytes.Join(req.Args, []byte(" "))); got != tc.args {
			t.Errorf("Read(%q) args: got %q; want %q", tc.line, got, tc.args)
		}
		if string(req.Data) != value {
			t.Errorf("Read(%q) data: got %d bytes; want %d", tc.line, len(req.Data), len(value))
		}
	}
}

// TestReadHugeDeclaredSize checks that a declared size of 2^31 is refused
// without allocating anything near it.
func TestReadHugeDeclaredSize(t *testing.T) {
	for _, in := range []string{
		"set k 0 0 2147483648\r\nabc",
		"ms k 2147483648\r\nabc",
		"set k 0 0 2147483648 noreply\r\n",
		"set k 0 0 9999999999\r\n",
	} {
		alloc := allocated(func() { readAll(in, Limits{}) })
		if alloc > 1<<20 {
			t.Errorf("Read(%q): got %d bytes allocated; want < 1 MiB", in, alloc)
		}
		got := readAll(in, Limits{})
		if want := "unexpected EOF"; strings.Contains(in, "noreply") {
			// memcached reads 2^31 as a negative int32: a silent refusal.
			if len(got) != 1 || got[0] != "" {
				t.Errorf("Read(%q): got %q; want one silent refusal", in, got)
			}
		} else if len(got) == 0 || got[len(got)-1] != want {
			t.Errorf("Read(%q): got %q; want it to end in %q", in, got, want)
		}
	}
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadReusesRequest checks that a Request reused across Reads does not
// keep anything of the previous request.
func TestReadReusesRequest(t *testing.T) {
	t.Parallel()
	in := "ms Zm9v 2 q b\r\nhi\r\nget a b c\r\ndelete d\r\ngat 5 e\r\nset f 1 2 1 noreply\r\nx\r\nmn\r\n"
	r := NewReader(strings.NewReader(in), Limits{})
	want := []string{`ms keys=Zm9v args=2,q,b data="hi" noreply base64`, "get keys=a,b,c", "delete keys=d",
		"gat keys=e args=5", `set keys=f args=1,2,1 data="x" noreply`, "mn"}
	var req Request
	for i, w := range want {
		if err := r.Read(&req); err != nil {
			t.Fatalf("Read #%d: got error %v; want nil", i, err)
		}
		if got := show(&req); got != w {
			t.Errorf("Read #%d: got %q; want %q", i, got, w)
		}
	}
}

// TestReadSteadyStateAllocs checks that parsing a request of each kind on
// a long-lived connection allocates nothing once the buffers are warm.
func TestReadSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, in := range []string{
		"get key:12345\r\n", "get a b c d e f g h\r\n", "gat 10 a b\r\n", "set k 0 0 5\r\nhello\r\n",
		"cas k 0 0 1 9 noreply\r\nx\r\n", "delete k\r\n", "incr k 5\r\n", "touch k 1\r\n",
		"mg k v t\r\n", "mg Zm9v b v\r\n", "ms k 2 T0 q\r\nhi\r\n", "md k q\r\n", "mn\r\n", "flush_all 1\r\n",
	} {
		r := NewReader(&loopReader{b: []byte(in)}, Limits{})
		var req Request
		var err error
		for i := 0; i < 100; i++ { // warm up
			err = r.Read(&req)
		}
		n := testing.AllocsPerRun(1000, func() { err = r.Read(&req) })
		if err != nil {
			t.Errorf("Read(%q): got error %v; want nil", in, err)
		}
		if n != 0 {
			t.Errorf("Read(%q): got %v allocs/op; want 0", in, n)
		}
	}
}

func TestCommandString(t *testing.T) {
	t.Parallel()
	for _, c := range Commands() {
		if c.String() == "unknown" || lookupCommand([]byte(c.String())) != c {
			t.Errorf("lookupCommand(%q): got %v; want %v", c.String(), lookupCommand([]byte(c.String())), c)
		}
	}
	if got := Command(200).String(); got != "unknown" {
		t.Errorf("Command(200).String(): got %q; want %q", got, "unknown")
	}
}

func TestRouteKey(t *testing.T) {
	t.Parallel()
	plain := &Request{Cmd: CmdMetaGet}
	if got := RouteKey(plain, []byte("foo"), nil); string(got) != "foo" {
		t.Errorf("RouteKey(plain foo): got %q; want %q", got, "foo")
	}
	enc := &Request{Cmd: CmdMetaGet, Base64: true}
	if got := RouteKey(enc, []byte(b64("a\x00b")), nil); string(got) != "a\x00b" {
		t.Errorf("RouteKey(base64): got %q; want %q", got, "a\x00b")
	}
}

// TestClientErrorText: a refused request's error reads as a client error
// and carries memcached's message, for logs (the client gets Reply).
func TestClientErrorText(t *testing.T) {
	t.Parallel()
	var req Request
	err := NewReader(strings.NewReader("set k 0 0 x\r\n"), Limits{}).Read(&req)
	var ce *ClientError
	if !errors.As(err, &ce) {
		t.Fatalf("Read of a set with a bad length: %v; want a ClientError", err)
	}
	if want := "protocol: client error: bad command line format"; err.Error() != want {
		t.Errorf("Error() = %q; want %q (memcached's message)", err.Error(), want)
	}
}
