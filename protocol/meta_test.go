// Tests of the meta request builder and reply parser: named cases, and
// fuzzing that checks every request built is one the Reader (and so
// memcached) accepts as built.
//
//	go test -run=NONE -fuzz=FuzzParseMetaReply -fuzztime=60s ./protocol/
//	go test -run=NONE -fuzz=FuzzAppendMeta -fuzztime=60s ./protocol/
package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestAppendMeta(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		req  MetaRequest
		want string
	}{
		{"herd read", MetaRequest{Cmd: CmdMetaGet, Key: []byte("k"), Return: ReturnValue | ReturnFlags | ReturnCAS, Vivify: 10}, "mg k v f c N10\r\n"},
		{"look", MetaRequest{Cmd: CmdMetaGet, Key: []byte("k"), Return: ReturnCAS | ReturnSize | ReturnTTL}, "mg k c t s\r\n"},
		{"touch to no expiry", MetaRequest{Cmd: CmdMetaGet, Key: []byte("k"), SetTTL: true}, "mg k T0\r\n"},
		{"guarded fill", MetaRequest{Cmd: CmdMetaSet, Key: []byte("k"), Value: []byte("hi"), CAS: 7, Flags: 3, TTL: 60, SetTTL: true}, "ms k 2 C7 F3 T60\r\nhi\r\n"},
		{"add", MetaRequest{Cmd: CmdMetaSet, Key: []byte("k"), Value: nil, Mode: 'E'}, "ms k 0 ME\r\n\r\n"},
		{"invalidate", MetaRequest{Cmd: CmdMetaDelete, Key: []byte("k"), CAS: 9, TTL: 30, SetTTL: true, Invalidate: true}, "md k C9 T30 I\r\n"},
		{"decr", MetaRequest{Cmd: CmdMetaArithmetic, Key: []byte("k"), Return: ReturnValue, CAS: 4, Mode: 'D', Delta: 0}, "ma k v C4 MD D0\r\n"},
		{"binary key", MetaRequest{Cmd: CmdMetaDelete, Key: []byte("a b")}, "md YSBi b\r\n"},
		{"binary key ms", MetaRequest{Cmd: CmdMetaSet, Key: []byte("a\nb"), Value: []byte("x")}, "ms YQpi 1 b\r\nx\r\n"},
		{"classic get", MetaRequest{Cmd: CmdGet, Key: []byte("k"), Return: ReturnValue}, "get k\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendMeta(nil, &tc.req)); got != tc.want {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

func TestParseMetaReply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"value", "VA 2 f5 c9 t-1 s2\r\nhi\r\n", `VA "hi" f5 c9 t-1 s2 live`},
		{"win on a miss", "VA 0 c3 W\r\n\r\n", `VA "" c3 W placeholder`},
		{"placeholder taken", "HD c3 s0 Z\r\n", `HD c3 Z placeholder`},
		{"stale won", "VA 2 c4 X W\r\nv1\r\n", `VA "v1" c4 X W`},
		{"stale taken", "HD c4 Z X\r\n", `HD c4 X Z`},
		{"empty value a client set", "VA 0 c5\r\n\r\n", `VA "" c5 live`},
		{"miss with opaque and key", "EN O12 kfoo\r\n", `EN`},
		{"stored", "HD O1 c8\r\n", `HD c8 live`},
		{"not stored", "NS\r\n", `NS`},
		{"exists", "EX\r\n", `EX`},
		{"not found", "NF\r\n", `NF`},
		{"noop", "MN\r\n", `MN`},
		{"client error", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", `error "CLIENT_ERROR cannot increment or decrement non-numeric value"`},
		{"server error", "SERVER_ERROR out of memory\r\n", `error "SERVER_ERROR out of memory"`},
		{"no CRLF", "HD", "ErrMetaReply"},
		{"bare LF", "HD\n", "ErrMetaReply"},
		{"unknown code", "XX\r\n", "ErrMetaReply"},
		{"lower case", "hd\r\n", "ErrMetaReply"},
		{"code glued to flag", "HDc1\r\n", "ErrMetaReply"},
		{"short data", "VA 3\r\nhi\r\n", "ErrMetaReply"},
		{"long data", "VA 1\r\nhi\r\n", "ErrMetaReply"},
		{"data without CRLF", "VA 2\r\nhixx", "ErrMetaReply"},
		{"no size", "VA\r\n\r\n", "ErrMetaReply"},
		{"negative size", "VA -1\r\n\r\n", "ErrMetaReply"},
		{"huge size", "VA 99999999999\r\n\r\n", "ErrMetaReply"},
		{"data after HD", "HD\r\nhi\r\n", "ErrMetaReply"},
		{"cas overflow", "HD c18446744073709551616\r\n", "ErrMetaReply"},
		{"flags overflow", "HD f4294967296\r\n", "ErrMetaReply"},
		{"bad ttl", "HD t-2\r\n", "ErrMetaReply"},
		{"negative s flag", "HD s-1\r\n", "ErrMetaReply"},
		{"empty line", "\r\n", "ErrMetaReply"},
		{"empty cas", "HD c\r\n", "ErrMetaReply"},
		{"max cas", "HD c18446744073709551615\r\n", "HD c18446744073709551615 live"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseMetaReply([]byte(tc.in))
			if got := showMeta(r, err); got != tc.want {
				t.Errorf("ParseMetaReply(%q): got %s; want %s", tc.in, got, tc.want)
			}
		})
	}
}

func showMeta(r MetaReply, err error) string {
	switch {
	case errors.Is(err, ErrMetaReply):
		return "ErrMetaReply"
	case err != nil:
		return err.Error()
	case r.Code == "":
		return fmt.Sprintf("error %q", r.Error)
	}
	s := string(r.Code)
	if r.Code == MetaValue {
		s += fmt.Sprintf(" %q", r.Value)
	}
	for _, f := range []struct {
		on   bool
		text string
	}{
		{r.Flags != 0, fmt.Sprintf(" f%d", r.Flags)}, {r.CAS != 0, fmt.Sprintf(" c%d", r.CAS)},
		{r.HasTTL, fmt.Sprintf(" t%d", r.TTL)}, {r.Size != 0, fmt.Sprintf(" s%d", r.Size)},
		{r.Stale, " X"}, {r.Win, " W"}, {r.Taken, " Z"},
		{r.Placeholder(), " placeholder"}, {r.Live(), " live"},
	} {
		if f.on {
			s += f.text
		}
	}
	return s
}

func FuzzParseMetaReply(f *testing.F) {
	for _, s := range []string{"VA 2 f5 c9 t-1\r\nhi\r\n", "HD c4 Z X\r\n", "EN\r\n", "VA 0 W\r\n\r\n", "CLIENT_ERROR x\r\n", "HD s0 t5 W\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := ParseMetaReply(raw)
		if err != nil {
			return
		}
		if r.Code == "" && r.Error == "" {
			t.Fatalf("ParseMetaReply(%q): no code and no error line", raw)
		}
		if r.Code == MetaValue && !bytes.HasSuffix(raw, append(append([]byte("\r\n"), r.Value...), "\r\n"...)) {
			t.Fatalf("ParseMetaReply(%q): value %q is not the data block", raw, r.Value)
		}
		if r.Code != MetaValue && r.Value != nil {
			t.Fatalf("ParseMetaReply(%q): %s with a value", raw, r.Code)
		}
	})
}

// FuzzAppendMeta: whatever herd asks for, the request built parses as one
// request with the key (in base64 when needed) and the data as given.
func FuzzAppendMeta(f *testing.F) {
	f.Add(uint8(0), []byte("k"), []byte("v"), uint8(7), uint64(3), uint32(1), int64(-1), true, int64(10), true, byte('E'), uint64(1))
	f.Add(uint8(2), []byte("a b\r\n"), []byte(""), uint8(0), uint64(0), uint32(0), int64(0), false, int64(0), false, byte(0), uint64(0))
	f.Fuzz(func(t *testing.T, cmd uint8, key, value []byte, ret uint8, cas uint64, flags uint32, ttl int64, setTTL bool, viv int64, inv bool, mode byte, delta uint64) {
		if len(key) == 0 || len(key) > 187 || len(value) > 1000 || (mode != 0 && (mode <= ' ' || mode >= 0x7f)) {
			return // herd never sends these: empty or over-long keys, control bytes as a mode
		}
		cmds := []Command{CmdMetaGet, CmdMetaSet, CmdMetaDelete, CmdMetaArithmetic}
		req := MetaRequest{Cmd: cmds[int(cmd)%len(cmds)], Key: key, Value: value, Return: MetaReturn(ret & 31),
			CAS: cas, Flags: flags, TTL: ttl, SetTTL: setTTL, Vivify: viv, Invalidate: inv, Mode: mode, Delta: delta}
		wire := AppendMeta(nil, &req)
		rd := NewReader(bytes.NewReader(wire), Limits{})
		var got Request
		if err := rd.Read(&got); err != nil {
			t.Fatalf("AppendMeta(%+v) = %q: Read: %v", req, wire, err)
		}
		if got.Cmd != req.Cmd || !bytes.Equal(RouteKey(&got, got.Key(), nil), key) {
			t.Fatalf("AppendMeta(%+v) = %q: read back %s %q", req, wire, got.Cmd, got.Key())
		}
		if req.Cmd == CmdMetaSet && !bytes.Equal(got.Data, value) {
			t.Fatalf("AppendMeta(%+v) = %q: data %q; want %q", req, wire, got.Data, value)
		}
		if rd.Buffered() != 0 {
			t.Fatalf("AppendMeta(%+v) = %q: %d bytes left over", req, wire, rd.Buffered())
		}
	})
}

var (
	sinkMeta MetaReply
	sinkWire []byte
)

func BenchmarkParseMetaReply(b *testing.B) {
	for name, raw := range map[string]string{"hit": "VA 5 f0 c12345 s5\r\nhello\r\n", "stale win": "VA 5 c12345 X W\r\nhello\r\n", "miss": "EN\r\n"} {
		in := []byte(raw)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				sinkMeta, _ = ParseMetaReply(in)
			}
		})
	}
}

func BenchmarkAppendMeta(b *testing.B) {
	req := MetaRequest{Cmd: CmdMetaGet, Key: []byte("thread:12345"), Return: ReturnValue | ReturnFlags | ReturnCAS, Vivify: 10}
	b.ReportAllocs()
	buf := make([]byte, 0, 128)
	for range b.N {
		sinkWire = AppendMeta(buf[:0], &req)
	}
}
