// ParseNode: twemproxy's server syntax, good and bad.

package ring

import (
	"errors"
	"testing"
)

func TestParseNode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Node
	}{
		{"full", "127.0.0.1:21211:1 cache-a", Node{"127.0.0.1:21211", 1, "cache-a"}},
		{"no name", "127.0.0.1:21211:3", Node{"127.0.0.1:21211", 3, ""}},
		{"no weight", "127.0.0.1:21211", Node{"127.0.0.1:21211", 1, ""}},
		{"no weight, name", "cache.local:11211 a", Node{"cache.local:11211", 1, "a"}},
		{"spaces", "  10.0.0.1:11211:2   b  ", Node{"10.0.0.1:11211", 2, "b"}},
		{"ipv6", "[::1]:11211:2 v6", Node{"[::1]:11211", 2, "v6"}},
		{"ipv6 no weight", "[fe80::1]:22122", Node{"[fe80::1]:22122", 1, ""}},
		{"unix", "/var/run/mc.sock:2 sock", Node{"/var/run/mc.sock", 2, "sock"}},
		{"unix no weight", "/var/run/mc.sock", Node{"/var/run/mc.sock", 1, ""}},
		{"unix colon in dir", "/run/a:b/mc.sock", Node{"/run/a:b/mc.sock", 1, ""}},
		{"big weight", "h:1:2147483647", Node{"h:1", 2147483647, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNode(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseNode(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseNodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrSyntax},
		{"blank", "   ", ErrSyntax},
		{"three fields", "h:1:1 a b", ErrSyntax},
		{"no port", "127.0.0.1", ErrSyntax},
		{"empty port", "127.0.0.1:", ErrSyntax},
		{"no host", ":11211:1", ErrSyntax},
		{"port zero", "h:0:1", ErrSyntax},
		{"port too big", "h:65536:1", ErrSyntax},
		{"port not a number", "h:http:1", ErrSyntax},
		{"port signed", "h:+1:1", ErrSyntax},
		{"bare ipv6", "::1:11211:1", ErrSyntax},
		{"ipv6 unclosed", "[::1:11211", ErrSyntax},
		{"ipv6 no port", "[::1]", ErrSyntax},
		{"weight zero", "h:1:0", ErrWeight},
		{"weight negative", "h:1:-1", ErrWeight},
		{"weight empty", "h:1:", ErrWeight},
		{"weight word", "h:1:x name", ErrWeight},
		{"weight overflow", "h:1:99999999999999999999", ErrWeight},
		{"unix weight zero", "/tmp/mc.sock:0", ErrWeight},
		{"unix weight empty", "/tmp/mc.sock:", ErrWeight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseNode(%q) = %+v, %v; want error %v", tt.in, got, err, tt.want)
			}
		})
	}
}
