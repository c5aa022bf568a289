// Numbers and base64 keys as memcached reads them: C's white space,
// strtol's bounds, and the lenient base64 decoder, case by case.
package protocol

import "testing"

func TestCSpace(t *testing.T) {
	t.Parallel()
	for c := 0; c < 256; c++ {
		want := c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
		if got := cSpace(byte(c)); got != want {
			t.Errorf("cSpace(%#x): got %v; want %v (C's isspace)", c, got, want)
		}
	}
}

func TestCStrto(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		mag      uint64
		neg, ok  bool
		whatIsIt string
	}{
		{"12", 12, false, true, "digits"},
		{"\t\v 12", 12, false, true, "leading white space is skipped"},
		{"12\r", 12, false, true, "white space may end the number"},
		{"-7", 7, true, true, "a minus sign"},
		{"+7", 7, false, true, "a plus sign"},
		{"", 0, false, false, "nothing"},
		{"   ", 0, false, false, "only white space"},
		{"-", 0, false, false, "a sign without digits"},
		{"12x", 0, false, false, "a byte after the digits"},
		{"18446744073709551615", 1<<64 - 1, false, true, "the largest uint64"},
		{"18446744073709551616", 0, false, false, "one over: ERANGE"},
	} {
		mag, neg, ok := cStrto([]byte(tc.in))
		if mag != tc.mag || neg != tc.neg || ok != tc.ok {
			t.Errorf("%s: cStrto(%q): got %d, %v, %v; want %d, %v, %v", tc.whatIsIt, tc.in, mag, neg, ok, tc.mag, tc.neg, tc.ok)
		}
	}
}

func TestSafeStrtoll(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"-9223372036854775808", -1 << 63, true},
		{"-9223372036854775809", 0, false},
		{"9223372036854775807", 1<<63 - 1, true},
		{"9223372036854775808", 0, false},
		{"x", 0, false},
	} {
		if got, ok := safeStrtoll([]byte(tc.in)); got != tc.want || ok != tc.ok {
			t.Errorf("safeStrtoll(%q): got %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSafeStrtoull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"-0", 0, true}, // negative zero is zero, not a negative number
		{"-1", 0, false},
		{"-18446744073709551615", 1, true}, // strtoull negates: memcached takes it
		{"18446744073709551615", 1<<64 - 1, true},
		{"x", 0, false},
	} {
		if got, ok := safeStrtoull([]byte(tc.in)); got != tc.want || ok != tc.ok {
			t.Errorf("safeStrtoull(%q): got %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMcBase64Decode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"YWJj", "abc", true},
		{"YWI=", "ab", true},
		{"YQ==", "a", true},     // two pad bytes: one byte of data
		{"Y===", "", false},     // three: no byte, memcached refuses
		{"Y Q=\n=", "a", true},  // bytes outside the alphabet are skipped
		{"YQ==YWJj", "a", true}, // decoding stops after the first padded block
		{"YWJ", "", false},
		{"", "", false},
	} {
		got, ok := mcBase64Decode(nil, []byte(tc.in))
		if ok != tc.ok || (ok && string(got) != tc.want) {
			t.Errorf("mcBase64Decode(%q): got %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestMetaFlagByteRange: memcached's preparse takes a flag byte of 127 or
// more as a duplicate (its seen table has 127 entries), not an unknown flag.
func TestMetaFlagByteRange(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"\x7f", "\x80", "\xff"} {
		if got := parseMetaFlags([][]byte{[]byte(f)}, []byte("k"), nil); got.err != "duplicate flag" {
			t.Errorf("flag %q: got %q; want \"duplicate flag\"", f, got.err)
		}
	}
}
