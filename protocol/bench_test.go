// Benchmarks for parsing requests and replies from an endless in-memory
// stream; run with -benchmem. Parsing a get line should not allocate.
package protocol

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
)

// Sinks keep the compiler from discarding what a benchmark computes.
var (
	sinkReq   *Request
	sinkReply *Reply
)

// loopReader serves b over and over, forever, without allocating.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.b[l.off:])
		n += c
		l.off = (l.off + c) % len(l.b)
	}
	return n, nil
}

func benchRead(b *testing.B, in string) {
	b.Helper()
	r := NewReader(&loopReader{b: []byte(in)}, Limits{})
	req := new(Request)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := r.Read(req); err != nil {
			b.Fatal(err)
		}
	}
	sinkReq = req
}

func BenchmarkReadGet(b *testing.B) { benchRead(b, "get key:12345\r\n") }

func BenchmarkReadMultiGet(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("get")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, " key:%05d", i)
	}
	sb.WriteString("\r\n")
	benchRead(b, sb.String())
}

func BenchmarkReadSet(b *testing.B) {
	benchRead(b, "set key:12345 0 0 100\r\n"+strings.Repeat("v", 100)+"\r\n")
}

func BenchmarkReadMeta(b *testing.B) {
	for _, in := range []string{"mg key:12345 v t f\r\n", "ms key:12345 100 T60 q\r\n" + strings.Repeat("v", 100) + "\r\n"} {
		b.Run(in[:2], func(b *testing.B) { benchRead(b, in) })
	}
}

func BenchmarkReadReplyValue(b *testing.B) {
	for _, size := range []int{100, 4096, 100 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			in := fmt.Sprintf("VALUE key:12345 0 %d\r\n%s\r\nEND\r\n", size, strings.Repeat("v", size))
			br := bufio.NewReaderSize(&loopReader{b: []byte(in)}, 16<<10)
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
	}
}

func BenchmarkReadReplyMeta(b *testing.B) {
	in := "VA 100 t60 f0\r\n" + strings.Repeat("v", 100) + "\r\n"
	br := bufio.NewReaderSize(&loopReader{b: []byte(in)}, 16<<10)
	rep := new(Reply)
	b.ReportAllocs()
	for b.Loop() {
		if err := ReadReply(br, ReplyMeta, rep); err != nil {
			b.Fatal(err)
		}
	}
	sinkReply = rep
}

func BenchmarkAppendRequest(b *testing.B) {
	r := NewReader(strings.NewReader("set key:12345 0 0 100 noreply\r\n"+strings.Repeat("v", 100)+"\r\n"), Limits{})
	req := new(Request)
	if err := r.Read(req); err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRequest(buf[:0], req)
	}
	sinkReq = req
}
