// Tests of the binary protocol refusal: telling a binary request from a
// text one by its first byte, and the error response a binary client gets.
package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestIsBinary: the magic byte 0x80 starts a binary request, anything else
// a text one, and looking does not consume the byte: the text request that
// follows still parses, and a binary header still reads whole.
func TestIsBinary(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("get k\r\n"), Limits{})
	if bin, err := r.IsBinary(); bin || err != nil {
		t.Errorf("IsBinary on %q: %v, %v; want false, nil", "get k\r\n", bin, err)
	}
	var req Request
	if err := r.Read(&req); err != nil || req.Cmd != CmdGet || len(req.Keys) != 1 || string(req.Keys[0]) != "k" {
		t.Errorf("Read after IsBinary: %s, %v; want get of k (IsBinary must not consume)", show(&req), err)
	}

	hdr := make([]byte, binaryHeaderLen)
	hdr[0], hdr[1] = BinaryRequestMagic, 0x0a // noop
	copy(hdr[12:16], "\x01\x02\x03\x04")      // opaque
	r = NewReader(bytes.NewReader(hdr), Limits{})
	if bin, err := r.IsBinary(); !bin || err != nil {
		t.Errorf("IsBinary on a binary header: %v, %v; want true, nil", bin, err)
	}
	if got := r.BinaryHeader(); !bytes.Equal(got[:], hdr) {
		t.Errorf("BinaryHeader: % x; want % x", got, hdr)
	}

	r = NewReader(strings.NewReader(""), Limits{})
	if bin, err := r.IsBinary(); bin || !errors.Is(err, io.EOF) {
		t.Errorf("IsBinary on a closed, empty connection: %v, %v; want false, EOF", bin, err)
	}
}

// TestBinaryShortHeader: a header cut short reads as what arrived, zeros
// after it, instead of waiting or failing.
func TestBinaryShortHeader(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("\x80\x0a\x00"), Limits{})
	want := [binaryHeaderLen]byte{0x80, 0x0a}
	if got := r.BinaryHeader(); got != want {
		t.Errorf("BinaryHeader of 3 bytes: % x; want % x", got, want)
	}
}

// TestAppendBinaryError: the response a binary client gets is a whole
// binary response (protocol_binary.h): magic 0x81, the request's opcode
// and opaque, status 0x0081 (unknown command), and a body that says why,
// its length in the header.
func TestAppendBinaryError(t *testing.T) {
	t.Parallel()
	var req [binaryHeaderLen]byte
	req[0], req[1] = BinaryRequestMagic, 0x01 // set
	copy(req[12:16], "\xde\xad\xbe\xef")
	out := AppendBinaryError([]byte("x"), req)
	if out[0] != 'x' {
		t.Fatalf("AppendBinaryError did not append: % x", out[:1])
	}
	resp := out[1:]
	if len(resp) < binaryHeaderLen {
		t.Fatalf("response of %d bytes; want a 24-byte header and a body", len(resp))
	}
	h, body := resp[:binaryHeaderLen], resp[binaryHeaderLen:]
	if h[0] != 0x81 || h[1] != 0x01 {
		t.Errorf("magic, opcode: %#x, %#x; want 0x81, the request's 0x01", h[0], h[1])
	}
	if st := binary.BigEndian.Uint16(h[6:8]); st != 0x0081 {
		t.Errorf("status %#04x; want 0x0081 (unknown command)", st)
	}
	if n := binary.BigEndian.Uint32(h[8:12]); int(n) != len(body) || !strings.Contains(string(body), "text protocol") {
		t.Errorf("body length %d, body %q; want the length of a body that points to the text protocol", n, body)
	}
	if !bytes.Equal(h[12:16], req[12:16]) {
		t.Errorf("opaque % x; want the request's % x", h[12:16], req[12:16])
	}
	if !bytes.Equal(h[2:6], make([]byte, 4)) || !bytes.Equal(h[16:24], make([]byte, 8)) {
		t.Errorf("key and extras lengths, data type, CAS: % x, % x; want zeros", h[2:6], h[16:24])
	}
}
