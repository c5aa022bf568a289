package placement

import (
	"errors"
	"testing"
)

// A replay copies a stand-in's value with its flags and TTL, and deletes
// the key instead when there is no value to copy: a miss, a failed read,
// a reply that does not parse, or a value herd deleted into its stale
// window (memcached 1.6.18 answers mg after md I with these lines).
func TestCopyOf(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		err   error
		value string
		flags string
		ok    bool
	}{
		{"VA 1 f7 t30\r\nx\r\n", nil, "x", "F7 T30", true},
		{"VA 2 f0 t-1\r\nXX\r\n", nil, "XX", "F0 T0", true}, // no expiry; X is the value, not a flag
		{"VA 2 f0 t5 W\r\nXX\r\n", nil, "XX", "F0 T5", true},
		{"VA 1 f0 t30 X W\r\nx\r\n", nil, "", "", false},
		{"VA 1 f0 t30 Z X\r\nx\r\n", nil, "", "", false},
		{"EN\r\n", nil, "", "", false},
		{"VA 1 f7 t30\r\nx\r\n", errors.New("timeout"), "", "", false},
		{"VA x\r\n", nil, "", "", false},
	} {
		value, flags, ok := CopyOf([]byte(tc.raw), tc.err)
		if string(value) != tc.value || flags != tc.flags || ok != tc.ok {
			t.Errorf("CopyOf(%q, %v) = %q, %q, %v; want %q, %q, %v", tc.raw, tc.err, value, flags, ok, tc.value, tc.flags, tc.ok)
		}
	}
}
