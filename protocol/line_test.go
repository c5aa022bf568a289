// The command line as memcached reads it: a C string, and still intact
// after the data block behind it has been read.
package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestLineIsCString: memcached reads the line up to its first NUL; a NUL
// first leaves an empty command (ERROR), however long the line, not a
// line too long. (memcached 1.6.18 answers ERROR to "\x00" and 3000 a's.)
func TestLineIsCString(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("\x00"+strings.Repeat("a", 3000)+"\r\nversion\r\n"), Limits{})
	var req Request
	if err := r.Read(&req); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("a long line starting with NUL: got %v; want ErrUnknownCommand (memcached: ERROR)", err)
	}
	if err := r.Read(&req); err != nil || req.Cmd != CmdVersion {
		t.Errorf("next command: got %v, %v; want version", req.Cmd, err)
	}
}

// chunks is a reader that returns one chunk per Read, as a client's
// writes may arrive.
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	if (*c)[0] = (*c)[0][n:]; len((*c)[0]) == 0 {
		*c = (*c)[1:]
	}
	return n, nil
}

// TestLineOwnedAcrossData: a storage command's key and arguments survive
// the read of its data block, which refills the buffer the line was read
// into (the block arrives in a second write).
func TestLineOwnedAcrossData(t *testing.T) {
	t.Parallel()
	value := bytes.Repeat([]byte("v"), 1000)
	for _, head := range []string{"set key 7 0 1000\r\n", "ms key 1000 F7\r\n"} {
		in := chunks{append([]byte(head), value[:10]...), append(append([]byte(nil), value[10:]...), "\r\n"...)}
		var req Request
		if err := NewReader(&in, Limits{}).Read(&req); err != nil {
			t.Fatalf("%q: %v", head, err)
		}
		if string(req.Key()) != "key" || len(req.Args) == 0 || string(req.Args[0]) != map[bool]string{true: "7", false: "1000"}[req.Cmd == CmdSet] || !bytes.Equal(req.Data, value) {
			t.Errorf("%q with its data in a second write: got key %q, args %q, %d bytes of data; want key \"key\", the line's args, the 1000 bytes", head, req.Key(), req.Args, len(req.Data))
		}
	}
}

func TestValidKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"", false},
		{"k", true},
		{strings.Repeat("k", 250), true},
		{strings.Repeat("k", 251), false},
		{"a b", false},
		{"a\x1fb", false},
		{"a\x7fb", false},
		{"a\x80b", true}, // bytes over 0x7f are not control characters
		{"a!b", true},    // '!' is the first printable byte after the space
	} {
		if got := ValidKey([]byte(tc.key), 250); got != tc.want {
			t.Errorf("ValidKey(%q, 250): got %v; want %v", tc.key, got, tc.want)
		}
	}
}

// TestStorageSizeLimit: memcached adds 2 (the CRLF) to a storage
// command's size in an int, so 2147483645 is a size (too large: its block
// is read and dropped) and 2147483646 a bad format.
func TestStorageSizeLimit(t *testing.T) {
	t.Parallel()
	var req Request
	err := NewReader(strings.NewReader("set k 0 0 2147483645\r\n"), Limits{}).Read(&req)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("set of 2147483645 bytes, then EOF: got %v; want unexpected EOF (the block is being skipped)", err)
	}
	err = NewReader(strings.NewReader("set k 0 0 2147483646\r\n"), Limits{}).Read(&req)
	if !errors.Is(err, errBadFormat) {
		t.Errorf("set of 2147483646 bytes: got %v; want bad command line format", err)
	}
}

// TestParseSize: a backend's block length is 1 to 10 decimal digits.
func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"9", 9, true},
		{"1234567890", 1234567890, true},
		{"12345678901", 0, false},
		{"", 0, false},
		{"1/", 0, false}, // '/' sits just below '0'
		{"1:", 0, false}, // ':' just above '9'
		{"-1", 0, false},
	} {
		if got, ok := parseSize([]byte(tc.in)); got != tc.want || ok != tc.ok {
			t.Errorf("parseSize(%q): got %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestDataBufferKept: a data buffer of up to 64 KiB is kept for the next
// request; a larger one is dropped, so an idle connection pins none.
func TestDataBufferKept(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size int
		kept bool
	}{{64<<10 - 2, true}, {64<<10 - 1, false}} {
		in := fmt.Sprintf("set k 0 0 %d\r\n%s\r\n", tc.size, strings.Repeat("v", tc.size))
		r := NewReader(strings.NewReader(in), Limits{})
		var req Request
		if err := r.Read(&req); err != nil {
			t.Fatal(err)
		}
		if kept := r.data != nil; kept != tc.kept {
			t.Errorf("a %d-byte block (buffer %d): kept %v; want %v", tc.size, tc.size+2, kept, tc.kept)
		}
	}
}

// TestUnknownMCommandLikeHTTP: an unknown two-letter m command is an
// ERROR even on a line that ends like an HTTP request; a longer one closes
// the connection, as any other HTTP-like line does.
func TestUnknownMCommandLikeHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		want error
	}{
		{"mz / HTTP/1.1\r\n", ErrUnknownCommand},
		{"mzz / HTTP/1.1\r\n", ErrClose},
	} {
		var req Request
		if err := NewReader(strings.NewReader(tc.line), Limits{}).Read(&req); !errors.Is(err, tc.want) {
			t.Errorf("%q: got %v; want %v", tc.line, err, tc.want)
		}
	}
}

// TestTooLargeUnlinks: a set too large deletes its key as memcached does
// ("avoid stale data"); add, replace, append and prepend do not.
func TestTooLargeUnlinks(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"set", "add", "replace", "append", "prepend"} {
		var req Request
		err := NewReader(strings.NewReader(cmd+" k 0 0 6\r\nhello!\r\n"), Limits{MaxValue: 5}).Read(&req)
		var ce *ClientError
		if !errors.As(err, &ce) || ce.Msg != "object too large for cache" || (string(ce.Unlink) == "k") != (cmd == "set") {
			t.Errorf("%s of 6 bytes over a limit of 5: got %v (unlink %q); want too large, unlinking k only for set", cmd, err, ce.Unlink)
		}
	}
}

func TestIsUpper(t *testing.T) {
	t.Parallel()
	for c := 0; c < 256; c++ {
		if got, want := isUpper(byte(c)), c >= 'A' && c <= 'Z'; got != want {
			t.Errorf("isUpper(%q): got %v; want %v", byte(c), got, want)
		}
	}
}

func TestCommandNames(t *testing.T) {
	t.Parallel()
	if got := Command(numCommands).String(); got != "unknown" {
		t.Errorf("Command(numCommands).String(): got %q; want \"unknown\"", got)
	}
	cs := Commands()
	if len(cs) != int(numCommands)-1 || cs[0] != CmdGet || cs[len(cs)-1] != numCommands-1 {
		t.Errorf("Commands(): got %v; want every command from get to the last", cs)
	}
}
