// Tests of the meta reply parse: the reply lines memcached 1.6 sends for
// herd's mg, ms and md (the well-formed cases are lines memcached 1.6.18
// sent, the rest are built like them), and lines herd must refuse.
package herd

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestParseReply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line string
		val        string
		want       reply
	}{
		{"hit", "VA 3 f5 c9", "abc", reply{code: "VA", value: []byte("abc"), flags: 5, cas: 9}},
		{"hit without flags", "VA 3", "abc", reply{code: "VA", value: []byte("abc")}},
		{"vivified, won", "VA 0 f0 c1 W", "", reply{code: "VA", value: []byte{}, cas: 1, win: true}},
		{"vivified, pending", "VA 0 f0 c1 Z", "", reply{code: "VA", value: []byte{}, cas: 1, pending: true}},
		{"stale, won", "VA 3 f0 c3 X W", "abc", reply{code: "VA", value: []byte("abc"), cas: 3, stale: true, win: true}},
		{"stale, pending", "VA 3 f0 c3 Z X", "abc", reply{code: "VA", value: []byte("abc"), cas: 3, stale: true, pending: true}},
		{"HD with cas", "HD c2", "", reply{code: "HD", cas: 2}},
		{"HD won", "HD c5 W", "", reply{code: "HD", cas: 5, win: true}},
		{"HD pending stale", "HD c3 Z X", "", reply{code: "HD", cas: 3, pending: true, stale: true}},
		{"HD bare", "HD", "", reply{code: "HD"}},
		{"EN", "EN", "", reply{code: "EN"}},
		{"NF", "NF", "", reply{code: "NF"}},
		{"NS", "NS", "", reply{code: "NS"}},
		{"EX", "EX", "", reply{code: "EX"}},
		{"other flags ignored", "VA 2 t-1 s2 h1 l5 kfoo O77 b c8 f1", "hi", reply{code: "VA", value: []byte("hi"), cas: 8, flags: 1}},
		{"extra blanks", "  HD   c7  W ", "", reply{code: "HD", cas: 7, win: true}},
		{"largest cas", "HD c18446744073709551615", "", reply{code: "HD", cas: math.MaxUint64}},
		{"largest flags", "VA 1 f4294967295", "x", reply{code: "VA", value: []byte("x"), flags: math.MaxUint32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var val []byte
			if tc.val != "" || tc.want.value != nil {
				val = []byte(tc.val)
			}
			got, err := parseReply(tc.line, val)
			if err != nil {
				t.Fatalf("parseReply(%q): error %v; want nil", tc.line, err)
			}
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", tc.want); g != w || string(got.value) != string(tc.want.value) {
				t.Errorf("parseReply(%q) = %s; want %s", tc.line, g, w)
			}
		})
	}
}

func TestParseReplyMalformed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line string
		bug        string // set: the case shows a bug and is skipped
	}{
		{name: "empty", line: ""},
		{name: "blank", line: "   "},
		{name: "lower case", line: "va 3 f0"},
		{name: "text protocol value", line: "VALUE k 0 3"},
		{name: "END", line: "END"},
		{name: "ERROR", line: "ERROR"},
		{name: "SERVER_ERROR", line: "SERVER_ERROR out of memory storing object"},
		{name: "CLIENT_ERROR", line: "CLIENT_ERROR bad data chunk"},
		{name: "MN", line: "MN"},
		{name: "ME", line: "ME k exp=-1 la=1 cas=2 fetch=no cls=1 size=63"},
		{name: "code glued to flag", line: "HDc5"},
		{name: "VA without size", line: "VA"},
		{name: "VA with a size that is no number", line: "VA abc f0"},
		{name: "cas that is no number", line: "HD cabc W"},
		{name: "cas overflow", line: "HD c18446744073709551616"},
		{name: "flags that are no number", line: "VA 1 fxyz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip("BUG: " + tc.bug)
			}
			var (
				err      error
				panicked any
			)
			func() {
				defer func() { panicked = recover() }()
				_, err = parseReply(tc.line, nil)
			}()
			if panicked != nil {
				t.Fatalf("parseReply(%q) panicked: %v; want ErrUnexpected", tc.line, panicked)
			}
			if !errors.Is(err, ErrUnexpected) {
				t.Errorf("parseReply(%q): error %v; want ErrUnexpected", tc.line, err)
			}
		})
	}
}

func TestPlaceholder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"VA 0 c1 W", true},    // vivified: this reader fills
		{"VA 0 c1 Z", true},    // vivified: another reader fills
		{"HD c1 Z", true},      // the same seen by a mg without v
		{"VA 3 c3 X W", false}, // stale value: served, not held
		{"VA 3 c3 Z X", false},
		{"VA 3 c2", false}, // a plain hit
		{"EN", false},
		{"HD", false},
	} {
		r, err := parseReply(tc.line, nil)
		if err != nil {
			t.Fatalf("parseReply(%q): %v", tc.line, err)
		}
		if got := r.placeholder(); got != tc.want {
			t.Errorf("placeholder() of %q = %v; want %v", tc.line, got, tc.want)
		}
	}
}

func TestParseValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line, val string
		want            Result
		err             error
	}{
		{"hit", "VA 5 f12 c44", "hello", Result{Found: true, Value: []byte("hello"), Flags: 12, CAS: 44}, nil},
		{"hit as a get answers", "VA 2 f0", "hi", Result{Found: true, Value: []byte("hi")}, nil},
		{"miss", "EN", "", Result{}, nil},
		{"no value", "HD c3", "", Result{}, nil},
		{"garbage", "SERVER_ERROR busy", "", Result{}, ErrUnexpected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseValue(tc.line, []byte(tc.val))
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("ParseValue(%q): error %v; want %v", tc.line, err, tc.err)
			}
			if got.Found != tc.want.Found || string(got.Value) != string(tc.want.Value) || got.Flags != tc.want.Flags || got.CAS != tc.want.CAS || got.Lease != (Lease{}) {
				t.Errorf("ParseValue(%q) = %+v; want %+v", tc.line, got, tc.want)
			}
		})
	}
}

func TestSecs(t *testing.T) {
	t.Parallel()
	for d, want := range map[string]string{"0s": "1", "500ms": "1", "1s": "1", "1.9s": "1", "90s": "90", "720h": "2592000"} {
		if got := secs(mustDuration(t, d)); got != want {
			t.Errorf("secs(%s) = %s; want %s", d, got, want)
		}
	}
}
