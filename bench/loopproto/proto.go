// The text protocol as the prototypes need it: client requests (get,
// gets, set, version) parsed from a byte buffer in place, backend replies
// parsed one element at a time, and keys placed on nodes by FNV-1a. The
// parsers never block and never copy: they say how many bytes make one
// complete element, or 0 when more must be read.
package main

import (
	"bytes"
	"errors"
)

// Limits on what a client may send.
const (
	maxLine  = 4096    // a command line, CRLF included
	maxValue = 1 << 20 // a set's data block
	maxKeys  = 1024    // keys in one get
)

// errProtocol ends a client connection that sent something the
// prototypes cannot parse; the proxy answers ERROR and closes.
var errProtocol = errors.New("loopproto: bad request")

// Request kinds.
const (
	reqGet     = iota // get or gets: keys
	reqSet            // set: forwarded verbatim to the key's node
	reqVersion        // answered by the proxy
	reqUnknown        // answered ERROR by the proxy
)

// request is one parsed client command; its slices point into the buffer
// it was parsed from and are valid until that buffer is reused.
type request struct {
	kind int
	verb []byte   // "get" or "gets"
	keys [][]byte // get: every key; set: the one key
	wire []byte   // the whole command as received (line, and data for set)
}

// parser holds the scratch one connection's parsing reuses.
type parser struct {
	keys [][]byte
}

// next parses the first complete request in buf. n is its length in
// bytes, 0 when buf holds no complete request yet; err means the stream
// cannot be parsed and the connection should end.
func (p *parser) next(buf []byte) (r request, n int, err error) {
	eol := bytes.IndexByte(buf, '\n')
	if eol < 0 {
		if len(buf) > maxLine {
			return r, 0, errProtocol
		}
		return r, 0, nil
	}
	line := bytes.TrimSuffix(buf[:eol], []byte{'\r'})
	n = eol + 1
	verb, rest, _ := bytes.Cut(line, []byte{' '})
	p.keys = p.keys[:0]
	switch string(verb) {
	case "get", "gets":
		p.keys = fields(p.keys, rest)
		if len(p.keys) == 0 || len(p.keys) > maxKeys {
			return r, 0, errProtocol
		}
		return request{kind: reqGet, verb: verb, keys: p.keys, wire: buf[:n]}, n, nil
	case "set":
		return p.set(buf, rest, n)
	case "version":
		return request{kind: reqVersion, wire: buf[:n]}, n, nil
	}
	return request{kind: reqUnknown, wire: buf[:n]}, n, nil
}

// set parses "set <key> <flags> <exptime> <bytes>\r\n<data>\r\n"; n is the
// line's length. noreply is refused: every request here has one reply.
func (p *parser) set(buf, args []byte, n int) (request, int, error) {
	f := fields(p.keys[:0], args)
	p.keys = f
	if len(f) != 4 {
		return request{}, 0, errProtocol
	}
	size, ok := atoi(f[3])
	if !ok || size > maxValue {
		return request{}, 0, errProtocol
	}
	total := n + size + 2
	if len(buf) < total {
		return request{}, 0, nil
	}
	if buf[total-2] != '\r' || buf[total-1] != '\n' {
		return request{}, 0, errProtocol
	}
	return request{kind: reqSet, keys: f[:1], wire: buf[:total]}, total, nil
}

// fields appends the space-separated words of s to dst, without allocating
// once dst has room.
func fields(dst [][]byte, s []byte) [][]byte {
	for len(s) > 0 {
		i := bytes.IndexByte(s, ' ')
		if i < 0 {
			return append(dst, s)
		}
		if i > 0 {
			dst = append(dst, s[:i])
		}
		s = s[i+1:]
	}
	return dst
}

// valueSize reads <bytes> of "VALUE <key> <flags> <bytes> [<cas>]\r\n".
func valueSize(line []byte) (int, bool) {
	rest := bytes.TrimRight(line, "\r\n")
	for range 3 {
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			return 0, false
		}
		rest = rest[i+1:]
	}
	if i := bytes.IndexByte(rest, ' '); i >= 0 {
		rest = rest[:i]
	}
	return atoi(rest)
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Reply elements a backend sends.
const (
	elemValue = iota // "VALUE k f n [cas]\r\n<data>\r\n": one hit of a get
	elemEnd          // "END\r\n": the end of a get
	elemLine         // any other line: a set's STORED..., or an error
)

// nextReply parses the first complete element of a backend's replies in
// buf: its kind and length (0: incomplete). A VALUE header that cannot
// be parsed is an error: the stream is out of step.
func nextReply(buf []byte) (kind, n int, err error) {
	eol := bytes.IndexByte(buf, '\n')
	if eol < 0 {
		return 0, 0, nil
	}
	line := buf[:eol+1]
	switch {
	case bytes.Equal(line, []byte("END\r\n")):
		return elemEnd, len(line), nil
	case !bytes.HasPrefix(line, []byte("VALUE ")):
		return elemLine, len(line), nil
	}
	size, ok := valueSize(line)
	if !ok {
		return 0, 0, errBackendProtocol
	}
	total := len(line) + size + 2
	if len(buf) < total {
		return elemValue, 0, nil
	}
	return elemValue, total, nil
}

var errBackendProtocol = errors.New("loopproto: backend sent an unparsable reply")

// nodeOf places key on one of n nodes by 32-bit FNV-1a.
func nodeOf(key []byte, n int) int {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % uint32(n))
}

// appendGet appends "<verb> k...\r\n" with the keys whose node is node.
func appendGet(dst, verb []byte, keys [][]byte, nodes []uint8, node int) []byte {
	dst = append(dst, verb...)
	for i, k := range keys {
		if int(nodes[i]) == node {
			dst = append(append(dst, ' '), k...)
		}
	}
	return append(dst, '\r', '\n')
}

var (
	replyEnd      = []byte("END\r\n")
	replyError    = []byte("ERROR\r\n")
	replyVersion  = []byte("VERSION 0.0.0-loopproto\r\n")
	replyBackend  = []byte("SERVER_ERROR backend unavailable\r\n")
	replyBadInput = []byte("CLIENT_ERROR bad command line format\r\n")
)
