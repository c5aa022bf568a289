package placement

import (
	"testing"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// The longest matching prefix wins, whatever order the routes are listed
// in; of two equal prefixes the first listed; no match is the default.
func TestRouter(t *testing.T) {
	routes := []Prefix[string]{{"a", "A"}, {"abc:", "ABC"}, {"ab", "AB"}, {"ab", "AB2"}, {"x", "X"}}
	r := NewRouter("def", routes)
	for key, want := range map[string]string{
		"abc:1": "ABC", "abc:": "ABC", "abc": "AB", "ab": "AB", "a": "A", "az": "A",
		"x": "X", "": "def", "b": "def", "zabc:": "def",
	} {
		if got := r.Pool([]byte(key)); got != want {
			t.Errorf("Pool(%q) = %s; want %s", key, got, want)
		}
	}
	if routes[0].To != "A" || routes[1].To != "ABC" {
		t.Errorf("NewRouter reordered the caller's routes: %v", routes)
	}
	if got := NewRouter("only", nil).Pool([]byte("k")); got != "only" {
		t.Errorf("no routes: Pool = %s; want the default", got)
	}
}

// A base64 meta key routes by its decoding, kept in scratch; any other key
// by itself, leaving scratch alone.
func TestKey(t *testing.T) {
	scratch := make([]byte, 0, 16)
	plain := &protocol.Request{}
	if k := Key(plain, []byte("Zm9v"), &scratch); string(k) != "Zm9v" || cap(scratch) != 16 {
		t.Fatalf("plain key: %q, scratch cap %d; want the key itself, scratch untouched", k, cap(scratch))
	}
	b64 := &protocol.Request{Base64: true}
	k := Key(b64, []byte("Zm9v"), &scratch)
	if string(k) != "foo" || len(scratch) != 0 || &scratch[:1][0] != &k[0] {
		t.Fatalf("base64 key: %q, scratch len %d; want foo, decoded into scratch, kept empty for the next", k, len(scratch))
	}
}
