// Tests for ReadValues: strict matching of a get reply's keys against the
// request, and flushing a large reply in bounded parts.
package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestReadValuesMatchesKeys(t *testing.T) {
	t.Parallel()
	v := func(k string) string { return "VALUE " + k + " 0 1\r\nx\r\n" }
	for _, tc := range []struct {
		name, line, reply string
		wantErr           error
	}{
		{"all hits", "get a b c\r\n", v("a") + v("b") + v("c") + "END\r\n", nil},
		{"misses omitted", "get a b c\r\n", v("a") + v("c") + "END\r\n", nil},
		{"all misses", "get a b\r\n", "END\r\n", nil},
		{"duplicate keys each answered", "get a a\r\n", v("a") + v("a") + "END\r\n", nil},
		{"gat skips the exptime", "gat 10 a b\r\n", v("a") + v("b") + "END\r\n", nil},
		{"gats exptime that looks like a key", "gats 10 10\r\n", v("10") + "END\r\n", nil},
		{"error line", "get a\r\n", "SERVER_ERROR out of memory\r\n", nil},
		{"renamed key", "get a\r\n", v("wrong-a") + "END\r\n", ErrWrongKey},
		{"prefix of a key", "get ab\r\n", v("a") + "END\r\n", ErrWrongKey},
		{"swapped order", "get a b\r\n", v("b") + v("a") + "END\r\n", ErrWrongKey},
		{"one key answered twice", "get a b\r\n", v("a") + v("a") + "END\r\n", ErrWrongKey},
		{"more values than keys", "get a a\r\n", v("a") + v("a") + v("a") + "END\r\n", ErrWrongKey},
		{"exptime as key", "gat 10 a\r\n", v("10") + "END\r\n", ErrWrongKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rep Reply
			br := bufio.NewReader(strings.NewReader(tc.reply))
			err := ReadValues(br, &rep, RetrievalKeys([]byte(tc.line)), nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ReadValues(%q, %q): got error %v; want %v", tc.line, tc.reply, err, tc.wantErr)
			}
			if err == nil && string(rep.Raw) != tc.reply {
				t.Errorf("ReadValues(%q): got raw %q; want %q", tc.line, rep.Raw, tc.reply)
			}
		})
	}
}

func TestRetrievalKeys(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		"get a\r\n": "a", "gets a b\r\n": "a b", "get a\rb c\r\n": "a\rb c", // memcached keeps a CR inside a key
		"gat 0 a\r\n": "a", "gats 5 x y\r\n": "x y",
	} {
		if got := RetrievalKeys([]byte(line)); string(got) != want {
			t.Errorf("RetrievalKeys(%q): got %q; want %q", line, got, want)
		}
	}
}

// partSink keeps what is flushed and the largest part it was handed.
type partSink struct {
	got     bytes.Buffer
	largest int
}

func (s *partSink) Flush(rep *Reply) error {
	s.got.Write(rep.Raw)
	s.largest = max(s.largest, len(rep.Raw))
	rep.Raw = rep.Raw[:0]
	return nil
}

// TestReadValuesFlushes checks that a reply far larger than FlushSize is
// handed over in parts of bounded size, byte for byte, with every value
// counted, including sizes whose CRLF would straddle a read chunk.
func TestReadValuesFlushes(t *testing.T) {
	t.Parallel()
	var in bytes.Buffer
	line := "get"
	sizes := []int{3 << 20, 65535, 65536 - 1, 65536*2 - 1, 10, 1 << 20}
	for i, n := range sizes {
		k := string(rune('a' + i))
		line += " " + k
		in.WriteString("VALUE " + k + " 0 " + strconv.Itoa(n) + "\r\n")
		in.Write(bytes.Repeat([]byte{'v'}, n))
		in.WriteString("\r\n")
	}
	in.WriteString("END\r\n")
	want := in.String()
	var rep Reply
	var sink partSink
	br := bufio.NewReader(&in)
	if err := ReadValues(br, &rep, RetrievalKeys([]byte(line+"\r\n")), &sink); err != nil {
		t.Fatalf("ReadValues: got error %v; want nil", err)
	}
	sink.got.Write(rep.Raw)
	if sink.got.String() != want {
		t.Errorf("ReadValues: got %d bytes relayed; want the %d bytes sent", sink.got.Len(), len(want))
	}
	if limit := FlushSize + 64<<10; sink.largest > limit {
		t.Errorf("ReadValues: got a part of %d bytes; want <= %d", sink.largest, limit)
	}
	if rep.Values != len(sizes) {
		t.Errorf("ReadValues: got %d values; want %d", rep.Values, len(sizes))
	}
}

// TestReadValuesCRLFAtFlush: whatever the value's size, a flush never
// falls between its data block's CR and LF, so the CRLF is checked whole
// (sizes around the first flush, FlushSize, one at a time).
func TestReadValuesCRLFAtFlush(t *testing.T) {
	t.Parallel()
	for n := FlushSize - 40; n <= FlushSize+8; n++ {
		in := "VALUE a 0 " + strconv.Itoa(n) + "\r\n" + strings.Repeat("v", n) + "\r\nEND\r\n"
		var rep Reply
		var sink partSink
		err := ReadValues(bufio.NewReader(strings.NewReader(in)), &rep, RetrievalKeys([]byte("get a\r\n")), &sink)
		sink.got.Write(rep.Raw)
		if err != nil || sink.got.String() != in {
			t.Fatalf("a %d-byte value: got %v, %d bytes relayed; want nil, the %d bytes sent", n, err, sink.got.Len(), len(in))
		}
	}
}

// partsSink records the size of every part it is handed.
type partsSink struct {
	got   bytes.Buffer
	parts []int
	err   error // returned by Flush when set
}

func (s *partsSink) Flush(rep *Reply) error {
	if s.err != nil {
		return s.err
	}
	s.got.Write(rep.Raw)
	s.parts = append(s.parts, len(rep.Raw))
	rep.Raw = rep.Raw[:0]
	return nil
}

// TestReadValuesPartsBounded: with a Flusher, a large reply is handed over
// in parts of at least FlushSize (all but the rest left in rep) and at
// most FlushSize + 64 KiB, even into a reused buffer with far more room.
func TestReadValuesPartsBounded(t *testing.T) {
	t.Parallel()
	const n = 3 << 20
	in := "VALUE a 0 200000\r\n" + strings.Repeat("w", 200000) + "\r\n" + // not flushed alone: the next part holds it
		"VALUE b 0 " + strconv.Itoa(n) + "\r\n" + strings.Repeat("v", n) + "\r\nEND\r\n"
	rep := Reply{Raw: make([]byte, 0, 8<<20)} // a reused buffer
	var sink partsSink
	if err := ReadValues(bufio.NewReader(strings.NewReader(in)), &rep, RetrievalKeys([]byte("get a b\r\n")), &sink); err != nil {
		t.Fatal(err)
	}
	rest := len(rep.Raw)
	sink.got.Write(rep.Raw)
	if sink.got.String() != in {
		t.Fatalf("relayed %d bytes; want the %d sent", sink.got.Len(), len(in))
	}
	if len(sink.parts) < n/(FlushSize+64<<10) || rest > FlushSize+64<<10 {
		t.Errorf("parts %v and %d bytes left in rep; want parts of a 3 MiB reply, each bounded", sink.parts, rest)
	}
	for _, p := range sink.parts {
		if p < FlushSize || p > FlushSize+64<<10 {
			t.Errorf("a part of %d bytes; want %d to %d", p, FlushSize, FlushSize+64<<10)
		}
	}
}

// TestReadValuesFlushError: a Flusher's error ends the read with it.
func TestReadValuesFlushError(t *testing.T) {
	t.Parallel()
	const n = 1 << 20
	in := "VALUE a 0 " + strconv.Itoa(n) + "\r\n" + strings.Repeat("v", n) + "\r\nEND\r\n"
	boom := errors.New("client gone")
	var rep Reply
	err := ReadValues(bufio.NewReader(strings.NewReader(in)), &rep, RetrievalKeys([]byte("get a\r\n")), &partsSink{err: boom})
	if !errors.Is(err, boom) {
		t.Errorf("ReadValues with a failing Flusher: got %v; want its error", err)
	}
}
