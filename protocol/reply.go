// Reply: reading a backend's replies. A reply that does not parse leaves
// the stream in doubt; ReadReply then returns an error and the caller must
// close the connection.
package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ReplyKind is how a reply is framed.
type ReplyKind uint8

// Reply framings.
const (
	ReplyLine      ReplyKind = iota // one status line, a number, VERSION, or an error
	ReplyValues                     // VALUE blocks until END
	ReplyMeta                       // one meta reply (two-letter code), and a data block after VA
	ReplyMetaQuiet                  // meta replies until MN; MN itself is not kept
)

// MaxBackendValue bounds a data block read from a backend.
const MaxBackendValue = 64 << 20

// ErrMalformed means a backend reply could not be parsed; the stream is in doubt.
var ErrMalformed = errors.New("protocol: malformed backend reply")

// ErrWrongKey means a get reply named a key that was not asked for, or
// answered the keys out of request order: the stream is in doubt.
var ErrWrongKey = errors.New("protocol: get reply keys are not the requested keys in order")

// FlushSize is how many bytes of a values reply ReadValues holds before it
// hands them to a Flusher.
const FlushSize = 256 << 10

// Reply is one backend reply, kept in wire form so it can be relayed as is.
// Its zero value is an empty reply ready for ReadReply.
type Reply struct {
	Raw    []byte // the reply as received (for ReplyMetaQuiet without the MN line)
	Items  []Item // the values of a ReplyValues reply wholly in Raw, in order
	Values int    // VALUE blocks read, including those already flushed

	flushes int // Flush calls so far
}

// Flusher takes the front part of a large values reply while the rest is
// still being read. ReadValues calls Flush when Raw holds FlushSize bytes
// or more; Flush takes Raw's bytes and leaves Raw empty (it may swap in
// another buffer). A Flush error ends the read with that error.
type Flusher interface {
	Flush(rep *Reply) error
}

// Item locates one VALUE block inside Reply.Raw.
type Item struct {
	KeyStart, KeyEnd int // Raw[KeyStart:KeyEnd] is the key
	Start, End       int // Raw[Start:End] is "VALUE ...\r\n<data>\r\n"
}

// Key returns item i's key.
func (r *Reply) Key(i int) []byte { return r.Raw[r.Items[i].KeyStart:r.Items[i].KeyEnd] }

// Value returns item i's whole VALUE block.
func (r *Reply) Value(i int) []byte { return r.Raw[r.Items[i].Start:r.Items[i].End] }

// IsError reports whether the reply is ERROR, CLIENT_ERROR or SERVER_ERROR.
func (r *Reply) IsError() bool { return isErrorLine(r.Raw) }

// Reset empties r, keeping its buffers.
func (r *Reply) Reset() {
	r.Raw = r.Raw[:0]
	r.Items = r.Items[:0]
	r.Values = 0
	r.flushes = 0
}

func isErrorLine(b []byte) bool {
	return bytes.HasPrefix(b, []byte("ERROR")) || bytes.HasPrefix(b, []byte("CLIENT_ERROR")) ||
		bytes.HasPrefix(b, []byte("SERVER_ERROR"))
}

// ReadReply reads one reply of the given kind into rep (after resetting it).
// An error line from the backend is a reply, not an error.
func ReadReply(br *bufio.Reader, kind ReplyKind, rep *Reply) error {
	rep.Reset()
	switch kind {
	case ReplyValues:
		return readValues(br, rep, nil, false, nil)
	case ReplyMeta:
		return readMeta(br, rep)
	case ReplyMetaQuiet:
		return readMetaQuiet(br, rep)
	}
	line, err := appendLine(br, rep)
	if err != nil {
		return err
	}
	return checkStatusLine(line)
}

// checkStatusLine refuses a one-line reply that is not a status line.
func checkStatusLine(line []byte) error {
	if !isStatusLine(line) {
		return fmt.Errorf("%w: %q for a one-line reply", ErrMalformed, truncate(line))
	}
	return nil
}

// isStatusLine reports whether line can answer a storage command, delete,
// incr/decr, touch, flush_all, verbosity or version. Anything else means
// the stream is out of step with the requests.
func isStatusLine(line []byte) bool {
	switch string(line) {
	case "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND", "DELETED", "TOUCHED", "OK":
		return true
	}
	return isErrorLine(line) || bytes.HasPrefix(line, []byte("VERSION ")) || isUint(line, 64)
}

// appendLine appends one CRLF-terminated line to rep.Raw and returns it
// (without CRLF).
func appendLine(br *bufio.Reader, rep *Reply) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, errLongLine(br.Size())
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if err := checkEOL(line); err != nil {
		return nil, err
	}
	start := len(rep.Raw)
	rep.Raw = append(rep.Raw, line...)
	return rep.Raw[start : len(rep.Raw)-2], nil
}

// errLongLine is the error for a line that did not fit a reader's buffer
// of size bytes.
func errLongLine(size int) error {
	return fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, size)
}

// checkEOL refuses a line, as read up to and including its LF, that does
// not end in CRLF.
func checkEOL(line []byte) error {
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return fmt.Errorf("%w: line without CRLF", ErrMalformed)
	}
	return nil
}

// appendData appends a data block of n bytes and its CRLF. rep.Raw grows
// as the bytes arrive, so a size that is declared but not sent costs no
// more memory than what was sent. With a Flusher, rep.Raw is flushed
// whenever it reaches FlushSize, so a block of any size needs a bounded
// buffer; the CRLF is always read in one piece so that it can be checked.
func appendData(br *bufio.Reader, rep *Reply, n int, f Flusher) error {
	if err := checkDataSize(n); err != nil {
		return err
	}
	for left := n + 2; left > 0; {
		if err := maybeFlush(rep, f); err != nil {
			return err
		}
		chunk := dataChunk(rep, left, f)
		if r := left - chunk; r == 1 {
			chunk-- // leave the whole CRLF for the last chunk
		}
		if cap(rep.Raw)-len(rep.Raw) >= chunk {
			rep.Raw = rep.Raw[:len(rep.Raw)+chunk] // read over, no need to clear
		} else {
			rep.Raw = append(rep.Raw, make([]byte, chunk)...)
		}
		if _, err := io.ReadFull(br, rep.Raw[len(rep.Raw)-chunk:]); err != nil {
			return unexpectedEOF(err)
		}
		left -= chunk
	}
	return checkDataEnd(rep.Raw[len(rep.Raw)-2:])
}

// checkDataSize refuses a data block size out of bounds.
func checkDataSize(n int) error {
	if n < 0 || n > MaxBackendValue {
		return fmt.Errorf("%w: value size %d", ErrMalformed, n)
	}
	return nil
}

// checkDataEnd refuses a data block whose last two bytes, end, are not CRLF.
func checkDataEnd(end []byte) error {
	if end[0] != '\r' || end[1] != '\n' {
		return fmt.Errorf("%w: data block without CRLF", ErrMalformed)
	}
	return nil
}

// dataChunk is how much of a data block's left bytes to read at once:
// 64 KiB, or more when rep.Raw already has room for it (a reused buffer),
// but with a Flusher never far past FlushSize.
func dataChunk(rep *Reply, left int, f Flusher) int {
	chunk := max(64<<10, cap(rep.Raw)-len(rep.Raw))
	if f != nil {
		chunk = min(chunk, max(64<<10, FlushSize-len(rep.Raw)))
	}
	return min(left, chunk)
}

// maybeFlush hands rep to f once it has grown to FlushSize.
func maybeFlush(rep *Reply, f Flusher) error {
	if f == nil || len(rep.Raw) < FlushSize {
		return nil
	}
	if err := f.Flush(rep); err != nil {
		return err
	}
	rep.Items = rep.Items[:0] // their offsets were into the flushed bytes
	rep.flushes++
	return nil
}

// ReadValues reads one reply to a get, gets, gat or gats (after resetting
// rep) and checks it against keys, the keys of the request as they appear
// on its line (see RetrievalKeys): each VALUE must name one of them, in
// request order; keys without a VALUE are misses. A reply that does not
// match is ErrWrongKey, and the stream is in doubt. f, if not nil, takes
// the reply in parts as it grows (see Flusher).
func ReadValues(br *bufio.Reader, rep *Reply, keys []byte, f Flusher) error {
	rep.Reset()
	return readValues(br, rep, keys, true, f)
}

// RetrievalKeys returns the keys of a get-family request line as sent on
// the wire ("gat 10 a b\r\n" gives "a b"), for ReadValues.
func RetrievalKeys(line []byte) []byte {
	cmd, rest := nextToken(line)
	if len(cmd) >= 3 && string(cmd[:3]) == "gat" {
		_, rest = nextToken(rest) // the exptime
	}
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	// Only the line's own CR goes: memcached takes any other '\r' as part
	// of a key.
	return bytes.TrimLeft(bytes.TrimSuffix(rest, []byte("\r")), " ")
}

// matchKey consumes the requested keys up to and including the first one
// equal to key, and reports whether there was one.
func matchKey(keys *[]byte, key []byte) bool {
	for len(*keys) > 0 {
		var k []byte
		k, *keys = nextToken(*keys)
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

func readValues(br *bufio.Reader, rep *Reply, keys []byte, check bool, f Flusher) error {
	for {
		if err := maybeFlush(rep, f); err != nil {
			return err
		}
		start := len(rep.Raw)
		line, err := appendLine(br, rep)
		if err != nil {
			return err
		}
		key, size, end, err := valuesLine(line, rep.Values, &keys, check)
		if end || err != nil {
			return err
		}
		keyStart := start + keyOffset(line)
		rep.Values++
		flushes := rep.flushes
		if err := appendData(br, rep, size, f); err != nil {
			return err
		}
		if rep.flushes == flushes { // else the block is split: no Item
			rep.Items = append(rep.Items, Item{KeyStart: keyStart, KeyEnd: keyStart + len(key), Start: start, End: len(rep.Raw)})
		}
	}
}

// valuesLine reads one line of a values reply after values VALUE blocks:
// end when it ends the reply (END, or an error line before any value),
// else the key and data size of a VALUE line, checked against the
// requested keys left in *keys when check is set.
func valuesLine(line []byte, values int, keys *[]byte, check bool) (key []byte, size int, end bool, err error) {
	if string(line) == "END" {
		return nil, 0, true, nil
	}
	if !bytes.HasPrefix(line, []byte("VALUE ")) {
		if isErrorLine(line) && values == 0 {
			return nil, 0, true, nil
		}
		return nil, 0, false, fmt.Errorf("%w: %q in a get reply", ErrMalformed, truncate(line))
	}
	key, size, ok := parseValueLine(line)
	if !ok {
		return nil, 0, false, fmt.Errorf("%w: bad VALUE line %q", ErrMalformed, truncate(line))
	}
	if check && !matchKey(keys, key) {
		return nil, 0, false, fmt.Errorf("%w: got VALUE %q", ErrWrongKey, truncate(key))
	}
	return key, size, false, nil
}

// keyOffset is where the key starts in a VALUE line.
func keyOffset(line []byte) int { return len(line) - len(bytes.TrimLeft(line[6:], " ")) }

// ParseValueLine parses a VALUE line of a get reply, without its CRLF:
// the key and the size of the data block that follows.
func ParseValueLine(line []byte) (key []byte, size int, ok bool) {
	if !bytes.HasPrefix(line, []byte("VALUE ")) {
		return nil, 0, false
	}
	return parseValueLine(line)
}

// parseValueLine parses "VALUE <key> <flags> <bytes> [<cas>]".
func parseValueLine(line []byte) (key []byte, size int, ok bool) {
	rest := line[6:]
	key, rest = nextToken(rest)
	flags, rest := nextToken(rest)
	sz, rest := nextToken(rest)
	casTok, rest := nextToken(rest)
	extra, _ := nextToken(rest)
	if len(key) == 0 || !isUint(flags, 32) || len(extra) != 0 || (len(casTok) > 0 && !isUint(casTok, 64)) {
		return nil, 0, false
	}
	size, ok = parseSize(sz)
	return key, size, ok
}

// readMeta reads one meta reply: "<CD> <flags>*" with a data block after
// VA, or an error line.
func readMeta(br *bufio.Reader, rep *Reply) error {
	line, err := appendLine(br, rep)
	if err != nil {
		return err
	}
	n, err := metaLine(line)
	if n < 0 || err != nil {
		return err
	}
	return appendData(br, rep, n, nil)
}

// metaLine checks the line of a meta reply and returns the size of the
// data block that follows it, or -1 for none.
func metaLine(line []byte) (int, error) {
	if isErrorLine(line) {
		return -1, nil
	}
	if len(line) < 2 || !isUpper(line[0]) || !isUpper(line[1]) || (len(line) > 2 && line[2] != ' ') {
		return -1, fmt.Errorf("%w: meta reply %q", ErrMalformed, truncate(line))
	}
	if line[0] != 'V' || line[1] != 'A' {
		return -1, nil
	}
	sz, _ := nextToken(line[2:])
	n, ok := parseSize(sz)
	if !ok {
		return -1, fmt.Errorf("%w: bad VA line %q", ErrMalformed, truncate(line))
	}
	return n, nil
}

func readMetaQuiet(br *bufio.Reader, rep *Reply) error {
	for i := 0; ; i++ {
		start := len(rep.Raw)
		if err := readMeta(br, rep); err != nil {
			return err
		}
		if string(rep.Raw[start:]) == "MN\r\n" {
			rep.Raw = rep.Raw[:start]
			return nil
		}
		if i > 0 {
			return errManyQuiet()
		}
	}
}

// errManyQuiet is the error for a second reply before MN.
func errManyQuiet() error { return fmt.Errorf("%w: more than one reply before MN", ErrMalformed) }

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
