// Frame: finding whole requests and replies in a byte slice without
// blocking, for an event loop that reads into buffers of its own. Requests
// are only framed here (Reader.Read still parses them); replies are framed
// and checked in one pass, as ReadReply checks them.
package protocol

import (
	"bytes"
	"errors"
)

// replyBufSize is the bufio size backend connections read replies with
// (proxy/backend's wire). ReadReply over such a reader fails a line that
// does not fit; FrameReply fails the same lines.
const replyBufSize = 32 << 10

// FrameRequest returns the length n of the first whole request at the
// start of buf, a client's unparsed input: its line, and for a storage
// command or ms, the data block of the declared size and the two bytes
// after it. Reader.Read over exactly buf[:n] consumes all n bytes.
//
// n is 0 and ok true when more bytes are needed. ok is false when the
// request is one the caller should not frame itself but hand, with the
// bytes after it, to a Reader: binary protocol, a line over MaxLine (or
// MaxGetLine) or none within it, a blank line, a NUL in the line, a storage
// or ms line that memcached refuses or whose data block is over MaxValue.
// FrameRequest does not allocate and is safe for concurrent use.
func FrameRequest(buf []byte, lim Limits) (n int, ok bool) {
	lim = lim.withDefaults()
	maxLine := min(lim.MaxLine, lim.MaxGetLine)
	if len(buf) > 0 && buf[0] == BinaryRequestMagic {
		return 0, false
	}
	lf := bytes.IndexByte(buf[:min(len(buf), maxLine+2)], '\n')
	if lf < 0 {
		if len(buf) > maxLine || bytes.IndexByte(buf, 0) >= 0 {
			return 0, false
		}
		return 0, true
	}
	size, ok := dataSize(trimEOL(buf[:lf+1]), lim, maxLine)
	switch {
	case !ok:
		return 0, false
	case size < 0:
		return lf + 1, true
	case len(buf) < lf+1+size+2:
		return 0, true
	}
	return lf + 1 + size + 2, true
}

// dataSize reads a whole command line as Reader.Read does and returns the
// size of the data block after it, -1 for none, or ok false when the line
// is not one to frame (see FrameRequest).
func dataSize(line []byte, lim Limits, maxLine int) (size int, ok bool) {
	if len(line) == 0 || len(line) > maxLine || bytes.IndexByte(line, 0) >= 0 {
		return 0, false
	}
	var arr [8][]byte // every token of a storage line that is not refused
	t, count := someTokens(arr[:0], line)
	if count == 0 {
		return 0, false
	}
	cmd := lookupCommand(t[0])
	n := min(count, maxTokens) + 1 // as ntokens
	switch {
	case cmd.IsStorage():
		nargs := 3
		if cmd == CmdCas {
			nargs = 4
		}
		if n != nargs+3 && n != nargs+4 {
			return 0, false
		}
		size, ok = storageSize(t, cmd == CmdCas, lim.MaxKey)
	case cmd == CmdMetaSet:
		if count < 2 {
			return 0, false
		}
		var err error
		size, err = metaSetSize(t, n, lim.MaxKey)
		ok = err == nil
	default:
		return -1, true
	}
	return size, ok && size <= lim.MaxValue
}

// someTokens appends the first cap(dst)-len(dst) tokens of b to dst and
// counts all of them.
func someTokens(dst [][]byte, b []byte) ([][]byte, int) {
	count := 0
	for {
		var tok []byte
		tok, b = nextToken(b)
		if len(tok) == 0 {
			return dst, count
		}
		if len(dst) < cap(dst) {
			dst = append(dst, tok)
		}
		count++
	}
}

// FrameReply is ReadReply(kind) over a byte slice, in one pass and without
// blocking: it returns the length n of the one whole reply at the start of
// buf, or n == 0 and a nil error when buf does not hold all of it yet.
// err, wrapping ErrMalformed or ErrWrongKey, is what ReadReply would
// return on the same bytes; it is reported once the offending line or
// block is whole, as a reader would find it, and the stream is in doubt.
// Lines are bounded as a reader with a 32 KiB buffer bounds them.
//
// For ReplyValues, keys as RetrievalKeys gives them (non-nil, even if
// empty) are checked as ReadValues checks them; nil keys are not checked.
// values counts the VALUE blocks, and their Items, with offsets into
// buf[:n], are appended to items and returned (on an incomplete reply or
// an error, items as passed). For ReplyMetaQuiet, n includes the closing
// "MN\r\n": buf[:n-4] is what ReadReply keeps as Raw.
//
// FrameReply does not allocate, except for an error, and is safe for
// concurrent use.
func FrameReply(buf []byte, kind ReplyKind, keys []byte, items []Item) (n int, values int, outItems []Item, err error) {
	f := replyFrame{buf: buf}
	switch kind {
	case ReplyValues:
		outItems, err = f.valueBlocks(keys, keys != nil, items)
	case ReplyMeta:
		err = f.meta()
	case ReplyMetaQuiet:
		err = f.metaQuiet()
	default:
		var line []byte
		if line, err = f.line(); err == nil {
			err = checkStatusLine(line)
		}
	}
	if err != nil {
		if err == errShort {
			err = nil
		}
		return 0, 0, items, err
	}
	if kind != ReplyValues {
		outItems = items
	}
	return f.off, f.nvalues, outItems, nil
}

// errShort is a replyFrame's "the reply goes on past the buffer".
var errShort = errors.New("protocol: short buffer")

// replyFrame walks a reply in buf; buf[:off] has been read.
type replyFrame struct {
	buf     []byte
	off     int
	nvalues int // VALUE blocks read
}

// line reads one line, returned without its CRLF.
func (f *replyFrame) line() ([]byte, error) {
	rest := f.buf[f.off:]
	lf := bytes.IndexByte(rest[:min(len(rest), replyBufSize)], '\n')
	if lf < 0 {
		if len(rest) >= replyBufSize {
			return nil, errLongLine(replyBufSize)
		}
		return nil, errShort
	}
	if err := checkEOL(rest[:lf+1]); err != nil {
		return nil, err
	}
	f.off += lf + 1
	return rest[:lf-1], nil
}

// data reads a data block of n bytes and its CRLF.
func (f *replyFrame) data(n int) error {
	if err := checkDataSize(n); err != nil {
		return err
	}
	if len(f.buf)-f.off < n+2 {
		return errShort
	}
	f.off += n + 2
	return checkDataEnd(f.buf[f.off-2 : f.off])
}

// valueBlocks reads VALUE blocks until END, appending their Items to items.
func (f *replyFrame) valueBlocks(keys []byte, check bool, items []Item) ([]Item, error) {
	for {
		start := f.off
		line, err := f.line()
		if err != nil {
			return items, err
		}
		key, size, end, err := valuesLine(line, f.nvalues, &keys, check)
		if end || err != nil {
			return items, err
		}
		f.nvalues++
		if err := f.data(size); err != nil {
			return items, err
		}
		keyStart := start + keyOffset(line)
		items = append(items, Item{KeyStart: keyStart, KeyEnd: keyStart + len(key), Start: start, End: f.off})
	}
}

// meta reads one meta reply and its data block, if any.
func (f *replyFrame) meta() error {
	line, err := f.line()
	if err != nil {
		return err
	}
	n, err := metaLine(line)
	if n < 0 || err != nil {
		return err
	}
	return f.data(n)
}

// metaQuiet reads at most one meta reply, then MN.
func (f *replyFrame) metaQuiet() error {
	for i := 0; ; i++ {
		start := f.off
		if err := f.meta(); err != nil {
			return err
		}
		if string(f.buf[start:f.off]) == "MN\r\n" {
			return nil
		}
		if i > 0 {
			return errManyQuiet()
		}
	}
}
