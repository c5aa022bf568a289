// Tests for ReadReply: each framing, error lines as replies, and the
// malformed, truncated and oversized replies that must end a connection.
package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// showReply renders a reply and what is left unread on its stream, e.g.
// `raw="HD\r\n" rest=""`, or the error.
func showReply(rep *Reply, err error, rest string) string {
	switch {
	case errors.Is(err, ErrMalformed):
		return "ErrMalformed"
	case err != nil:
		return err.Error()
	}
	s := fmt.Sprintf("raw=%q", rep.Raw)
	for i := range rep.Items {
		s += fmt.Sprintf(" item=%s:%q", rep.Key(i), rep.Value(i))
	}
	if rep.IsError() {
		s += " error"
	}
	return s + fmt.Sprintf(" rest=%q", rest)
}

func readReplyString(kind ReplyKind, in string) string {
	sr := strings.NewReader(in)
	br := bufio.NewReaderSize(sr, 256)
	var rep Reply
	err := ReadReply(br, kind, &rep)
	rest, _ := io.ReadAll(br)
	return showReply(&rep, err, string(rest))
}

type replyCase struct {
	name string
	in   string
	want string
}

func runReplyCases(t *testing.T, kind ReplyKind, cases []replyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := readReplyString(kind, tc.in); got != tc.want {
				t.Errorf("ReadReply(%v, %.80q):\ngot  %s;\nwant %s", kind, tc.in, got, tc.want)
			}
		})
	}
}

func TestReadReplyLine(t *testing.T) { runReplyCases(t, ReplyLine, lineReplyCases()) }

func lineReplyCases() []replyCase {
	var cases []replyCase
	for _, line := range []string{"STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED", "OK",
		"0", "42", "18446744073709551615", "VERSION 1.6.18"} {
		cases = append(cases, replyCase{line, line + "\r\nnext", fmt.Sprintf("raw=%q rest=\"next\"", line+"\r\n")})
	}
	cases = append(cases, []replyCase{
		{"ERROR", "ERROR\r\n", `raw="ERROR\r\n" error rest=""`},
		{"CLIENT_ERROR", "CLIENT_ERROR bad data chunk\r\n", `raw="CLIENT_ERROR bad data chunk\r\n" error rest=""`},
		{"SERVER_ERROR", "SERVER_ERROR out of memory storing object\r\n",
			`raw="SERVER_ERROR out of memory storing object\r\n" error rest=""`},
		{"bare LF", "STORED\n", "ErrMalformed"},
		{"VALUE", "VALUE k 0 1\r\nx\r\nEND\r\n", "ErrMalformed"},
		{"END", "END\r\n", "ErrMalformed"},
		{"meta", "HD\r\n", "ErrMalformed"},
		{"garbage", "hello\r\n", "ErrMalformed"},
		{"empty line", "\r\n", "ErrMalformed"},
		{"negative number", "-1\r\n", "ErrMalformed"},
		{"number too big", "18446744073709551616\r\n", "ErrMalformed"},
		{"EOF", "", "unexpected EOF"},
		{"EOF mid line", "STOR", "unexpected EOF"},
		{"EOF after CR", "STORED\r", "unexpected EOF"},
		{"longer than buffer", "SERVER_ERROR " + strings.Repeat("x", 300) + "\r\n", "ErrMalformed"},
	}...)
	return cases
}

func TestReadReplyValues(t *testing.T) { runReplyCases(t, ReplyValues, valuesReplyCases()) }

func valuesReplyCases() []replyCase {
	return []replyCase{
		{"miss", "END\r\nnext", `raw="END\r\n" rest="next"`},
		{"hit", "VALUE k 5 3\r\nabc\r\nEND\r\n",
			`raw="VALUE k 5 3\r\nabc\r\nEND\r\n" item=k:"VALUE k 5 3\r\nabc\r\n" rest=""`},
		{"hit with cas", "VALUE k 0 3 99\r\nabc\r\nEND\r\n",
			`raw="VALUE k 0 3 99\r\nabc\r\nEND\r\n" item=k:"VALUE k 0 3 99\r\nabc\r\n" rest=""`},
		{"two hits", "VALUE a 0 1\r\nx\r\nVALUE bb 0 2 7\r\nyy\r\nEND\r\n",
			`raw="VALUE a 0 1\r\nx\r\nVALUE bb 0 2 7\r\nyy\r\nEND\r\n" item=a:"VALUE a 0 1\r\nx\r\n" item=bb:"VALUE bb 0 2 7\r\nyy\r\n" rest=""`},
		{"empty value", "VALUE k 0 0\r\n\r\nEND\r\n", `raw="VALUE k 0 0\r\n\r\nEND\r\n" item=k:"VALUE k 0 0\r\n\r\n" rest=""`},
		{"value looks like END", "VALUE k 0 5\r\nEND\r\n\r\nEND\r\n",
			`raw="VALUE k 0 5\r\nEND\r\n\r\nEND\r\n" item=k:"VALUE k 0 5\r\nEND\r\n\r\n" rest=""`},
		{"value larger than buffer", "VALUE k 0 1000\r\n" + strings.Repeat("v", 1000) + "\r\nEND\r\n",
			fmt.Sprintf(`raw=%q item=k:%q rest=""`, "VALUE k 0 1000\r\n"+strings.Repeat("v", 1000)+"\r\nEND\r\n",
				"VALUE k 0 1000\r\n"+strings.Repeat("v", 1000)+"\r\n")},
		{"extra spaces", "VALUE  k  0 1\r\nx\r\nEND\r\n",
			`raw="VALUE  k  0 1\r\nx\r\nEND\r\n" item=k:"VALUE  k  0 1\r\nx\r\n" rest=""`},

		// An error line instead of values is a reply: the stream is aligned.
		{"ERROR", "ERROR\r\nnext", `raw="ERROR\r\n" error rest="next"`},
		{"CLIENT_ERROR", "CLIENT_ERROR bad command line format\r\n", `raw="CLIENT_ERROR bad command line format\r\n" error rest=""`},
		{"SERVER_ERROR", "SERVER_ERROR out of memory\r\n", `raw="SERVER_ERROR out of memory\r\n" error rest=""`},

		{"error after values", "VALUE k 0 1\r\nx\r\nSERVER_ERROR oom\r\n", "ErrMalformed"},
		{"stray line", "STORED\r\n", "ErrMalformed"},
		{"meta line", "EN\r\n", "ErrMalformed"},
		{"VALUE no key", "VALUE \r\n", "ErrMalformed"},
		{"VALUE alone", "VALUE\r\n", "ErrMalformed"},
		{"missing size", "VALUE k 0\r\n", "ErrMalformed"},
		{"bad flags", "VALUE k x 1\r\nx\r\nEND\r\n", "ErrMalformed"},
		{"flags overflow", "VALUE k 4294967296 1\r\nx\r\nEND\r\n", "ErrMalformed"},
		{"negative size", "VALUE k 0 -1\r\nEND\r\n", "ErrMalformed"},
		{"bad cas", "VALUE k 0 1 x\r\nx\r\nEND\r\n", "ErrMalformed"},
		{"extra token", "VALUE k 0 1 2 3\r\nx\r\nEND\r\n", "ErrMalformed"},
		{"data without CRLF", "VALUE k 0 3\r\nabcd\r\nEND\r\n", "ErrMalformed"},
		{"data with bare LF", "VALUE k 0 3\r\nabc\nEND\r\n", "ErrMalformed"},
		{"line bare LF", "VALUE k 0 3\nabc\r\nEND\r\n", "ErrMalformed"},
		{"END bare LF", "END\n", "ErrMalformed"},
		{"oversize", "VALUE k 0 67108865\r\n", "ErrMalformed"},
		{"oversize 2^31", "VALUE k 0 2147483648\r\n", "ErrMalformed"},
		{"size 11 digits", "VALUE k 0 12345678901\r\n", "ErrMalformed"},
		{"EOF", "", "unexpected EOF"},
		{"EOF mid line", "VALUE k 0", "unexpected EOF"},
		{"EOF mid data", "VALUE k 0 3\r\nab", "unexpected EOF"},
		{"EOF before data", "VALUE k 0 3\r\n", "unexpected EOF"},
		{"EOF before CRLF", "VALUE k 0 3\r\nabc", "unexpected EOF"},
		{"EOF before END", "VALUE k 0 3\r\nabc\r\n", "unexpected EOF"},
		{"EOF at 2^26", "VALUE k 0 67108864\r\nabc", "unexpected EOF"},
	}
}

func TestReadReplyMeta(t *testing.T) { runReplyCases(t, ReplyMeta, metaReplyCases()) }

func metaReplyCases() []replyCase {
	var cases []replyCase
	for _, line := range []string{"HD", "HD c5 f0 O1 kZm9v b", "EN", "NF", "NS", "EX", "MN",
		"ME k exp=-1 la=1 cas=2 fetch=no cls=1 size=63", "ERROR", "CLIENT_ERROR bad command line format",
		"SERVER_ERROR out of memory"} {
		want := fmt.Sprintf("raw=%q", line+"\r\n")
		if isErrorLine([]byte(line)) {
			want += " error"
		}
		cases = append(cases, replyCase{line, line + "\r\nnext", want + ` rest="next"`})
	}
	cases = append(cases, []replyCase{
		{"VA", "VA 2 t10 f3\r\nhi\r\nnext", `raw="VA 2 t10 f3\r\nhi\r\n" rest="next"`},
		{"VA no flags", "VA 2\r\nhi\r\n", `raw="VA 2\r\nhi\r\n" rest=""`},
		{"VA empty", "VA 0\r\n\r\n", `raw="VA 0\r\n\r\n" rest=""`},
		{"VA value with CRLF", "VA 4\r\na\r\nb\r\n", `raw="VA 4\r\na\r\nb\r\n" rest=""`},
		{"VA no size", "VA\r\n", "ErrMalformed"},
		{"VA bad size", "VA x\r\n", "ErrMalformed"},
		{"VA negative", "VA -1\r\n", "ErrMalformed"},
		{"VA data without CRLF", "VA 2\r\nhiX\r\n", "ErrMalformed"},
		{"VA oversize", "VA 67108865\r\n", "ErrMalformed"},
		{"VA 2^31", "VA 2147483648\r\n", "ErrMalformed"},
		{"VA EOF mid data", "VA 5\r\nhel", "unexpected EOF"},
		{"VA EOF before data", "VA 5\r\n", "unexpected EOF"},
		{"one letter", "X\r\n", "ErrMalformed"},
		{"empty line", "\r\n", "ErrMalformed"},
		{"lower case", "hd\r\n", "ErrMalformed"},
		{"classic STORED", "STORED\r\n", "ErrMalformed"},
		{"classic END", "END\r\n", "ErrMalformed"},
		{"classic VALUE", "VALUE k 0 1\r\nx\r\nEND\r\n", "ErrMalformed"},
		{"bare LF", "HD\n", "ErrMalformed"},
		{"EOF", "", "unexpected EOF"},
		{"EOF mid line", "HD", "unexpected EOF"},
	}...)
	return cases
}

func TestReadReplyMetaQuiet(t *testing.T) { runReplyCases(t, ReplyMetaQuiet, metaQuietReplyCases()) }

func metaQuietReplyCases() []replyCase {
	return []replyCase{
		{"empty", "MN\r\nnext", `raw="" rest="next"`},
		{"HD", "HD\r\nMN\r\nnext", `raw="HD\r\n" rest="next"`},
		{"EN", "EN O5\r\nMN\r\n", `raw="EN O5\r\n" rest=""`},
		{"NS", "NS\r\nMN\r\n", `raw="NS\r\n" rest=""`},
		{"VA", "VA 2 O7\r\nhi\r\nMN\r\n", `raw="VA 2 O7\r\nhi\r\n" rest=""`},
		{"VA holding MN", "VA 4\r\nMN\r\n\r\nMN\r\n", `raw="VA 4\r\nMN\r\n\r\n" rest=""`},
		{"error", "CLIENT_ERROR bad data chunk\r\nMN\r\n", `raw="CLIENT_ERROR bad data chunk\r\n" error rest=""`},
		{"two replies", "HD\r\nHD\r\nMN\r\n", "ErrMalformed"},
		{"classic line", "STORED\r\nMN\r\n", "ErrMalformed"},
		{"MN with flags", "MN x\r\nMN\r\n", `raw="MN x\r\n" rest=""`},
		{"malformed VA", "VA x\r\nMN\r\n", "ErrMalformed"},
		{"EOF", "", "unexpected EOF"},
		{"EOF before MN", "HD\r\n", "unexpected EOF"},
		{"EOF mid MN", "HD\r\nMN", "unexpected EOF"},
	}
}

// TestReadReplySequence reads several replies of different kinds from one
// stream, reusing one Reply, as a backend connection does.
func TestReadReplySequence(t *testing.T) {
	t.Parallel()
	in := "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nMN\r\nVA 1\r\ny\r\nHD\r\nMN\r\nEND\r\n42\r\n"
	steps := []struct {
		kind ReplyKind
		want string
	}{
		{ReplyLine, "STORED\r\n"},
		{ReplyValues, "VALUE a 0 1\r\nx\r\nEND\r\n"},
		{ReplyMetaQuiet, ""},
		{ReplyMeta, "VA 1\r\ny\r\n"},
		{ReplyMetaQuiet, "HD\r\n"},
		{ReplyValues, "END\r\n"},
		{ReplyLine, "42\r\n"},
	}
	br := bufio.NewReader(strings.NewReader(in))
	var rep Reply
	for i, s := range steps {
		if err := ReadReply(br, s.kind, &rep); err != nil {
			t.Fatalf("ReadReply #%d (%v): got error %v; want nil", i, s.kind, err)
		}
		if string(rep.Raw) != s.want {
			t.Errorf("ReadReply #%d (%v): got %q; want %q", i, s.kind, rep.Raw, s.want)
		}
		if s.kind != ReplyValues && len(rep.Items) != 0 {
			t.Errorf("ReadReply #%d (%v): got %d items; want 0", i, s.kind, len(rep.Items))
		}
	}
	if err := ReadReply(br, ReplyLine, &rep); err != io.ErrUnexpectedEOF {
		t.Errorf("ReadReply at end: got %v; want %v", err, io.ErrUnexpectedEOF)
	}
}

// TestReadReplyHugeDeclaredSize checks that a value size a backend declares
// but does not send costs memory in proportion to what was sent.
func TestReadReplyHugeDeclaredSize(t *testing.T) {
	for _, tc := range []struct {
		kind ReplyKind
		in   string
	}{
		{ReplyValues, "VALUE k 0 67108864\r\nabc"},
		{ReplyMeta, "VA 67108864\r\nabc"},
		{ReplyMetaQuiet, "VA 60000000 O1\r\nabc"},
	} {
		var err error
		alloc := allocated(func() {
			var rep Reply
			err = ReadReply(bufio.NewReader(strings.NewReader(tc.in)), tc.kind, &rep)
		})
		if err != io.ErrUnexpectedEOF {
			t.Errorf("ReadReply(%v, %q): got error %v; want %v", tc.kind, tc.in, err, io.ErrUnexpectedEOF)
		}
		if alloc > 1<<20 {
			t.Errorf("ReadReply(%v, %q): got %d bytes allocated; want < 1 MiB", tc.kind, tc.in, alloc)
		}
	}
}

func TestReplyReset(t *testing.T) {
	t.Parallel()
	rep := Reply{Raw: []byte("VALUE k 0 1\r\nx\r\nEND\r\n"), Items: []Item{{6, 7, 0, 16}}}
	rep.Reset()
	if len(rep.Raw) != 0 || len(rep.Items) != 0 || cap(rep.Raw) == 0 {
		t.Errorf("Reset: got raw %q (cap %d), %d items; want empty, buffers kept", rep.Raw, cap(rep.Raw), len(rep.Items))
	}
}
