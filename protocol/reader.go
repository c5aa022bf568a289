// Reader: parsing client requests from a connection, with limits checked
// before anything is allocated.
package protocol

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits bound what a client may send. The zero value means the defaults.
type Limits struct {
	MaxKey     int // bytes in a key; default 250
	MaxLine    int // bytes in a command line; default 2048
	MaxGetLine int // bytes in a get/gets/gat/gats line; default 256 KiB
	MaxValue   int // bytes in a data block; default 1 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxKey <= 0 {
		l.MaxKey = 250
	}
	if l.MaxLine <= 0 {
		l.MaxLine = 2048
	}
	if l.MaxGetLine <= 0 {
		l.MaxGetLine = 256 << 10
	}
	if l.MaxValue <= 0 {
		l.MaxValue = 1 << 20
	}
	return l
}

// Errors a Reader returns. A *ClientError is answered and the connection
// kept; ErrUnknownCommand is answered with "ERROR"; ErrLineTooLong is
// answered and the connection closed (a data block may follow it).
var (
	ErrUnknownCommand = errors.New("protocol: unknown command")
	ErrLineTooLong    = errors.New("protocol: line too long")
)

// ClientError is a request the client got wrong; Msg follows "CLIENT_ERROR ".
// The request's data block, if any, has been consumed.
type ClientError struct{ Msg string }

func (e *ClientError) Error() string { return "protocol: client error: " + e.Msg }

func clientErr(format string, a ...any) error { return &ClientError{Msg: fmt.Sprintf(format, a...)} }

var (
	errBadFormat       = &ClientError{Msg: "bad command line format"}
	errFlagsTooLong    = &ClientError{Msg: "options flags too long"}
	errFlagsAreTooLong = &ClientError{Msg: "options flags are too long"}
)

// Reader parses requests from one client connection. It is not safe for
// concurrent use.
type Reader struct {
	br   *bufio.Reader
	lim  Limits
	line []byte // the current command line, owned
	data []byte // the current data block, owned
	keyb []byte // decoded base64 key
}

// NewReader returns a Reader over r with the given limits.
func NewReader(r io.Reader, lim Limits) *Reader {
	lim = lim.withDefaults()
	return &Reader{br: bufio.NewReaderSize(r, 16<<10), lim: lim}
}

// Buffered reports how many bytes are already read and waiting.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Read parses the next request into req, reusing req's slices.
func (r *Reader) Read(req *Request) error {
	req.reset()
	line, err := r.readLine()
	if err != nil {
		return err
	}
	name, rest := nextToken(line)
	req.Cmd = lookupCommand(name)
	if req.Cmd == CmdUnknown {
		return ErrUnknownCommand
	}
	if len(line) > r.lim.MaxLine && (!req.Cmd.IsRetrieval() || len(line) > r.lim.MaxGetLine) {
		return ErrLineTooLong
	}
	if (req.Cmd.IsStorage() || req.Cmd == CmdMetaSet) && len(r.line) == 0 {
		// The line points into the bufio buffer, which reading the data
		// block may overwrite: own it first.
		r.line = append(r.line, rest...)
		rest = r.line
	}
	return r.parse(req, rest)
}

// readLine returns the next line without its line ending. Lines longer than
// MaxGetLine are an error whatever the command.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err == nil {
			if len(r.line) == 0 {
				return trimEOL(chunk), nil // the common case: no copy
			}
			r.line = append(r.line, chunk...)
			return trimEOL(r.line), nil
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && (len(chunk) > 0 || len(r.line) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		r.line = append(r.line, chunk...)
		if len(r.line) > r.lim.MaxGetLine || (len(r.line) > r.lim.MaxLine && !retrievalPrefix(r.line)) {
			return nil, ErrLineTooLong
		}
	}
}

func retrievalPrefix(b []byte) bool {
	return bytes.HasPrefix(b, []byte("get ")) || bytes.HasPrefix(b, []byte("gets ")) ||
		bytes.HasPrefix(b, []byte("gat ")) || bytes.HasPrefix(b, []byte("gats "))
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// nextToken splits off the first space-separated token of b.
func nextToken(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' {
		j++
	}
	return b[i:j], b[j:]
}

// tokens appends every token of b to dst.
func tokens(dst [][]byte, b []byte) [][]byte {
	for {
		var t []byte
		t, b = nextToken(b)
		if len(t) == 0 {
			return dst
		}
		dst = append(dst, t)
	}
}

func lookupCommand(name []byte) Command {
	switch len(name) {
	case 2:
		if name[0] == 'm' {
			switch name[1] {
			case 'g':
				return CmdMetaGet
			case 's':
				return CmdMetaSet
			case 'd':
				return CmdMetaDelete
			case 'a':
				return CmdMetaArithmetic
			case 'n':
				return CmdMetaNoop
			case 'e':
				return CmdMetaDebug
			}
		}
		return CmdUnknown
	case 3:
		switch string(name) {
		case "get":
			return CmdGet
		case "set":
			return CmdSet
		case "add":
			return CmdAdd
		case "cas":
			return CmdCas
		case "gat":
			return CmdGat
		}
	}
	for c := CmdGets; c < numCommands; c++ {
		if string(name) == commandNames[c] {
			return c
		}
	}
	return CmdUnknown
}

// ValidKey reports whether k is a legal key: 1..max bytes, no control
// characters or spaces.
func ValidKey(k []byte, max int) bool {
	if len(k) == 0 || len(k) > max {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func (r *Reader) checkKey(k []byte) error {
	if len(k) > r.lim.MaxKey {
		return clientErr("key too long (%d > %d bytes)", len(k), r.lim.MaxKey)
	}
	if !ValidKey(k, r.lim.MaxKey) {
		return clientErr("key contains control characters")
	}
	return nil
}

// stripNoreply removes a trailing "noreply" token.
func stripNoreply(req *Request, toks [][]byte) [][]byte {
	if n := len(toks); n > 0 && string(toks[n-1]) == "noreply" {
		req.Noreply = true
		return toks[:n-1]
	}
	return toks
}

func (r *Reader) parse(req *Request, rest []byte) error {
	switch {
	case req.Cmd.IsRetrieval():
		return r.parseRetrieval(req, rest)
	case req.Cmd.IsStorage():
		return r.parseStorage(req, rest)
	case req.Cmd.IsMeta():
		return r.parseMeta(req, rest)
	}
	toks := tokens(req.Args, rest)
	if req.Cmd != CmdStats {
		toks = stripNoreply(req, toks)
	}
	switch req.Cmd {
	case CmdDelete:
		return r.parseDelete(req, toks)
	case CmdIncr, CmdDecr:
		return r.parseKeyNumber(req, toks, "invalid numeric delta argument", false)
	case CmdTouch:
		return r.parseKeyNumber(req, toks, "invalid exptime argument", true)
	case CmdFlushAll:
		if len(toks) > 1 || (len(toks) == 1 && !isInt(toks[0], true)) {
			return errBadFormat
		}
	case CmdVerbosity:
		// As memcached: "verbosity noreply" is accepted, "verbosity" is not.
		if len(toks) > 1 || (len(toks) == 0 && !req.Noreply) {
			return ErrUnknownCommand
		}
	}
	// version and quit ignore extra tokens, as memcached does.
	req.Args = toks
	return nil
}

func (r *Reader) parseRetrieval(req *Request, rest []byte) error {
	toks := tokens(req.Keys, rest)
	if req.Cmd == CmdGat || req.Cmd == CmdGats {
		if len(toks) < 2 {
			return ErrUnknownCommand
		}
		if !isInt(toks[0], true) {
			return clientErr("invalid exptime argument")
		}
		req.Args = append(req.Args, toks[0])
		toks = append(toks[:0], toks[1:]...)
	}
	if len(toks) == 0 {
		return ErrUnknownCommand
	}
	for _, k := range toks {
		if err := r.checkKey(k); err != nil {
			return err
		}
	}
	req.Keys = toks
	return nil
}

// parseStorage handles "set key flags exptime bytes [cas] [noreply]" and
// reads the data block, which is consumed even when the line is refused so
// that the connection stays aligned.
func (r *Reader) parseStorage(req *Request, rest []byte) error {
	toks := stripNoreply(req, tokens(req.Args, rest))
	want := 4
	if req.Cmd == CmdCas {
		want = 5
	}
	if len(toks) != want {
		return ErrUnknownCommand
	}
	size, ok := parseSize(toks[3])
	if !ok {
		return errBadFormat
	}
	lineErr := r.checkKey(toks[0])
	if lineErr == nil && (!isUint(toks[1], 32) || !isInt(toks[2], true) || (want == 5 && !isUint(toks[4], 64))) {
		lineErr = errBadFormat
	}
	if lineErr == nil && size > r.lim.MaxValue {
		lineErr = clientErr("object too large for cache (%d > max_item_size %d bytes)", size, r.lim.MaxValue)
	}
	if lineErr != nil {
		return r.swallow(size, lineErr)
	}
	if err := r.readData(req, size); err != nil {
		return err
	}
	req.Keys = append(req.Keys, toks[0])
	req.Args = append(toks[:0], toks[1:]...)
	return nil
}

// swallow discards a refused request's data block and returns cause.
func (r *Reader) swallow(size int, cause error) error {
	if _, err := r.br.Discard(size + 2); err != nil {
		return unexpectedEOF(err)
	}
	return cause
}

// readData reads size bytes and the CRLF that must follow them.
func (r *Reader) readData(req *Request, size int) error {
	if cap(r.data) < size+2 {
		r.data = make([]byte, size+2)
	}
	buf := r.data[:size+2]
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return unexpectedEOF(err)
	}
	if buf[size] != '\r' || buf[size+1] != '\n' {
		return clientErr("bad data chunk")
	}
	req.Data = buf[:size]
	if cap(r.data) > 64<<10 {
		r.data = nil // do not pin a large buffer to an idle connection
	}
	return nil
}

// unexpectedEOF turns io.EOF inside a request into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *Reader) parseDelete(req *Request, toks [][]byte) error {
	if len(toks) == 0 || len(toks) > 2 {
		return ErrUnknownCommand
	}
	if len(toks) == 2 && string(toks[1]) != "0" {
		return clientErr("bad command line format.  Usage: delete <key> [noreply]")
	}
	if err := r.checkKey(toks[0]); err != nil {
		return err
	}
	req.Keys = append(req.Keys, toks[0])
	req.Args = toks[:0]
	return nil
}

func (r *Reader) parseKeyNumber(req *Request, toks [][]byte, msg string, signed bool) error {
	if len(toks) != 2 {
		return ErrUnknownCommand
	}
	if err := r.checkKey(toks[0]); err != nil {
		return err
	}
	ok := isUint(toks[1], 64)
	if signed {
		ok = isInt(toks[1], true)
	}
	if !ok {
		return clientErr("%s", msg)
	}
	req.Keys = append(req.Keys, toks[0])
	req.Args = append(toks[:0], toks[1])
	return nil
}

// parseMeta handles "mX <key> <flags>*" and ms's "<datalen>". The q flag is
// taken out of Args and reported as Noreply.
func (r *Reader) parseMeta(req *Request, rest []byte) error {
	toks := tokens(req.Args, rest)
	if req.Cmd == CmdMetaNoop {
		req.Args = toks
		return nil
	}
	if len(toks) == 0 {
		if req.Cmd == CmdMetaDebug {
			return errBadFormat
		}
		return ErrUnknownCommand // as memcached answers a meta command without a key
	}
	key, flags := toks[0], toks[1:]
	size := -1
	if req.Cmd == CmdMetaSet {
		if len(flags) == 0 {
			return errBadFormat
		}
		n, ok := parseSize(flags[0])
		if !ok {
			return errBadFormat
		}
		size = n
	}
	kept := toks[:0] // overwrites the key's slot, which key holds
	var seen [128]bool
	dup := false
	for i, f := range flags {
		if i > 0 || size < 0 { // ms's first token is its data length
			dup = dup || (f[0] < 128 && seen[f[0]])
			if f[0] < 128 {
				seen[f[0]] = true
			}
		}
		switch {
		case len(f) == 1 && f[0] == 'q':
			req.Noreply = true
			continue
		case len(f) == 1 && f[0] == 'b':
			req.Base64 = true
		}
		kept = append(kept, f)
	}
	lineErr := r.checkMetaKey(req, key)
	if lineErr == nil && len(flags) > MaxMetaFlags+boolInt(size >= 0) {
		// memcached refuses such a line before reading its data block; a
		// backend must never see it, or its reply stream would slip.
		lineErr = errFlagsTooLong
		if size < 0 {
			lineErr = errFlagsAreTooLong // memcached words it so for mg, md and ma
		}
	}
	if lineErr == nil && dup {
		lineErr = clientErr("duplicate flag")
	}
	if lineErr == nil && size > r.lim.MaxValue {
		lineErr = clientErr("object too large for cache (%d > max_item_size %d bytes)", size, r.lim.MaxValue)
	}
	if lineErr != nil {
		if size >= 0 {
			return r.swallow(size, lineErr)
		}
		return lineErr
	}
	if size >= 0 {
		if err := r.readData(req, size); err != nil {
			return err
		}
	}
	req.Keys = append(req.Keys, key)
	req.Args = kept
	return nil
}

// MaxMetaFlags is the most flags a meta command may carry (memcached's
// limit).
const MaxMetaFlags = 16

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (r *Reader) checkMetaKey(req *Request, key []byte) error {
	if !req.Base64 {
		return r.checkKey(key)
	}
	if len(key) > r.lim.MaxKey { // memcached refuses the encoded token too
		return errBadFormat
	}
	n := base64.StdEncoding.DecodedLen(len(key))
	if cap(r.keyb) < n {
		r.keyb = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(r.keyb[:n], key)
	if err != nil || n == 0 || !ValidKey(key, len(key)) {
		return clientErr("bad base64 key")
	}
	if n > r.lim.MaxKey {
		return clientErr("key too long (%d > %d bytes)", n, r.lim.MaxKey)
	}
	return nil
}

// RouteKey returns the bytes a request's key hashes by: the decoded key
// for meta commands with the b flag, the key itself otherwise.
func RouteKey(req *Request, key []byte, scratch []byte) []byte {
	if !req.Base64 {
		return key
	}
	n := base64.StdEncoding.DecodedLen(len(key))
	if cap(scratch) < n {
		scratch = make([]byte, n)
	}
	n, _ = base64.StdEncoding.Decode(scratch[:n], key)
	return scratch[:n]
}

// parseSize parses a data block length: a non-negative decimal int.
func parseSize(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
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

func isUint(b []byte, bits int) bool {
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	_, err := strconv.ParseUint(string(b), 10, bits)
	return err == nil
}

func isInt(b []byte, signed bool) bool {
	if signed && len(b) > 1 && b[0] == '-' {
		b = b[1:]
	}
	return isUint(b, 63)
}
