// Reader: parsing client requests from a connection, with limits checked
// before anything is allocated.
package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
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
// answered and the connection closed (a data block may follow it);
// ErrClose closes the connection without an answer, as memcached does
// when a line looks like HTTP.
var (
	ErrUnknownCommand = errors.New("protocol: unknown command")
	ErrLineTooLong    = errors.New("protocol: line too long")
	ErrClose          = errors.New("protocol: request closes the connection")
)

// ClientError is a request refused with the reply memcached gives it:
// "CLIENT_ERROR <Msg>", or "SERVER_ERROR <Msg>" when Server is set, or
// nothing when Silent (noreply). The request's data block, if any, has
// been consumed as memcached consumes it.
type ClientError struct {
	Msg    string
	Server bool
	Silent bool
	// Unlink, when set, is a key memcached deletes as it refuses the
	// request (a set or ms too large to store: "avoid stale data"); the
	// refusal is only faithful if the key is deleted too. Unlink64 says
	// it is in base64 (ms with the b flag).
	Unlink   []byte
	Unlink64 bool
}

func (e *ClientError) Error() string { return "protocol: client error: " + e.Msg }

// Reply returns the line a client gets for e, with its CRLF, or nil.
func (e *ClientError) Reply() []byte {
	switch {
	case e.Silent:
		return nil
	case e.Server:
		return []byte("SERVER_ERROR " + e.Msg + "\r\n")
	}
	return []byte("CLIENT_ERROR " + e.Msg + "\r\n")
}

func clientErr(msg string) *ClientError { return &ClientError{Msg: msg} }

// silentIf returns e, silent when noreply is set.
func silentIf(e *ClientError, noreply bool) error {
	if noreply {
		return &ClientError{Msg: e.Msg, Server: e.Server, Silent: true}
	}
	return e
}

// tooLarge is memcached's refusal of a value too large to store; a set
// (any ms) also deletes the key's old value.
func tooLarge(key []byte, unlink, b64, noreply bool) *ClientError {
	e := &ClientError{Msg: errTooLarge.Msg, Server: true, Silent: noreply}
	if unlink {
		e.Unlink, e.Unlink64 = bytes.Clone(key), b64
	}
	return e
}

var (
	errBadFormat  = clientErr("bad command line format")
	errExptime    = clientErr("invalid exptime argument")
	errTooLarge   = &ClientError{Msg: "object too large for cache", Server: true}
	errDeleteArgs = clientErr("bad command line format.  Usage: delete <key> [noreply]")
)

// Reader parses requests from one client connection as memcached 1.6.18
// parses them (proto_text.c), so that what a backend is sent is answered
// exactly as shepherd expects, and what shepherd refuses itself gets
// memcached's own reply. It is not safe for concurrent use.
type Reader struct {
	br   *bufio.Reader
	lim  Limits
	line []byte // the current command line, owned
	data []byte // the current data block, owned
	keyb []byte // scratch: a decoded base64 key
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
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i] // memcached reads the line as a C string
	}
	name, _ := nextToken(line)
	req.Cmd = lookupCommand(name)
	if len(line) > r.lim.MaxLine && !req.Cmd.IsRetrieval() {
		return ErrLineTooLong
	}
	if len(line) > r.lim.MaxGetLine {
		return r.refuseLongGet(line)
	}
	if (req.Cmd.IsStorage() || req.Cmd == CmdMetaSet) && len(r.line) == 0 {
		// The line points into the bufio buffer, which reading the data
		// block may overwrite: own it first.
		r.line = append(r.line, line...)
		line = r.line
	}
	return r.parse(req, tokens(req.Args, line))
}

// readLine returns the next line without its line ending. A retrieval
// line longer than MaxGetLine is read to its end and refused; any other
// line longer than MaxLine is ErrLineTooLong.
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
		if len(r.line) > r.lim.MaxLine && !retrievalPrefix(r.line) {
			return nil, ErrLineTooLong
		}
		if len(r.line) > r.lim.MaxGetLine {
			return nil, r.skipLongGet()
		}
	}
}

// skipLongGet reads the rest of a retrieval line too long to keep. memcached
// answers a line holding a key over the key limit with CLIENT_ERROR bad
// command line format; shepherd answers the same, and "line too long" to
// a line of valid keys it will not buffer. The connection stays.
func (r *Reader) skipLongGet() error {
	sc := keyScan{max: r.lim.MaxKey}
	sc.feed(r.line)
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err == nil {
			sc.feed(trimEOL(chunk))
			break
		}
		if err != bufio.ErrBufferFull {
			return unexpectedEOF(err)
		}
		sc.feed(chunk)
	}
	r.line = r.line[:0]
	return sc.refusal()
}

// refuseLongGet answers a whole retrieval line longer than MaxGetLine.
func (r *Reader) refuseLongGet(line []byte) error {
	sc := keyScan{max: r.lim.MaxKey}
	sc.feed(line)
	return sc.refusal()
}

// refusal is the answer to a scanned line too long to keep.
func (s *keyScan) refusal() error {
	if s.long {
		return errBadFormat
	}
	return clientErr("line too long")
}

// keyScan looks for a token longer than max across the chunks of a line,
// up to its first NUL (where memcached's C string ends).
type keyScan struct {
	max, run  int
	long, cut bool
}

func (s *keyScan) feed(b []byte) {
	for _, c := range b {
		switch {
		case s.cut:
			return
		case c == 0:
			s.cut = true
		case c == ' ':
			s.run = 0
		default:
			s.run++
			s.long = s.long || s.run > s.max
		}
	}
}

func retrievalPrefix(b []byte) bool {
	b = bytes.TrimLeft(b, " ")
	return bytes.HasPrefix(b, []byte("get ")) || bytes.HasPrefix(b, []byte("gets ")) ||
		bytes.HasPrefix(b, []byte("gat ")) || bytes.HasPrefix(b, []byte("gats ")) ||
		bytes.HasPrefix(b, []byte("bget "))
}

// trimEOL drops the line's \n and one \r before it (memcached keeps a lone
// \r, but the line it makes is refused as shepherd refuses an empty one).
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
	case 4:
		if string(name) == "bget" { // memcached's ancient alias of get
			return CmdGet
		}
	}
	for c := CmdGets; c < numCommands; c++ {
		if string(name) == commandNames[c] {
			return c
		}
	}
	return CmdUnknown
}

// ValidKey reports whether k is a key that any text command can carry
// and that shepherd itself sends as is: 1..max bytes, no control
// characters or spaces. Clients may send any key memcached accepts; see
// Reader.
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

// ntokens is memcached's count of a line's tokens: at most maxTokens are
// split off, and one more marks the end.
func ntokens(t [][]byte) int { return min(len(t), maxTokens) + 1 }

// noreplyAt reports memcached's set_noreply_maybe: the last split token
// is "noreply".
func noreplyAt(t [][]byte) bool { return string(t[ntokens(t)-2]) == "noreply" }

// parse reads the tokenized line t (t[0] is the command) into req.
func (r *Reader) parse(req *Request, t [][]byte) error {
	if len(t) == 0 || len(t[0]) < 2 {
		return ErrUnknownCommand
	}
	switch {
	case req.Cmd.IsRetrieval():
		return r.parseRetrieval(req, t)
	case req.Cmd.IsStorage():
		return r.parseStorage(req, t)
	case req.Cmd.IsMeta():
		return r.parseMeta(req, t)
	}
	switch req.Cmd {
	case CmdDelete:
		return r.parseDelete(req, t)
	case CmdIncr, CmdDecr:
		return r.parseKeyNumber(req, t, "invalid numeric delta argument", false)
	case CmdTouch:
		return r.parseKeyNumber(req, t, "invalid exptime argument", true)
	case CmdFlushAll:
		return parseFlushAll(req, t)
	case CmdVerbosity:
		return parseVerbosity(req, t)
	case CmdStats:
		req.Args = append(t[:0], t[1:]...)
		return nil
	case CmdUnknown:
		return unknownCommand(t)
	}
	req.Args = t[:0] // version and quit ignore extra tokens, as memcached does
	return nil
}

// unknownCommand is memcached's answer to a command it does not know: it
// closes a connection whose line ends like an HTTP request line, unless the
// command starts with a letter memcached sorts its commands by.
func unknownCommand(t [][]byte) error {
	switch t[0][0] {
	case 'g', 's', 'a', 'c', 'i', 'd', 't':
		return ErrUnknownCommand
	case 'm':
		if len(t[0]) == 2 {
			return ErrUnknownCommand
		}
	}
	if bytes.HasPrefix(t[ntokens(t)-2], []byte("HTTP/")) {
		return ErrClose
	}
	return ErrUnknownCommand
}

func (r *Reader) parseRetrieval(req *Request, t [][]byte) error {
	if len(t) < 2 {
		return ErrUnknownCommand
	}
	keys := t[1:]
	if req.Cmd == CmdGat || req.Cmd == CmdGats {
		if _, ok := safeStrtol(t[1]); !ok {
			return errExptime
		}
		keys = t[2:] // "gat 10" with no key is a plain END
	}
	for _, k := range keys {
		if len(k) > r.lim.MaxKey {
			return errBadFormat
		}
	}
	req.Keys = append(req.Keys, keys...)
	req.Args = t[:0]
	if req.Cmd == CmdGat || req.Cmd == CmdGats {
		req.Args = append(t[:0], t[1])
	}
	return nil
}

// parseStorage handles "set key flags exptime bytes [cas] [noreply]" as
// memcached's process_update_command: a refused line reads no data block
// unless only its size was refused, and noreply silences every refusal.
func (r *Reader) parseStorage(req *Request, t [][]byte) error {
	nargs := 3 // flags, exptime, bytes
	if req.Cmd == CmdCas {
		nargs = 4
	}
	if n := ntokens(t); n != nargs+3 && n != nargs+4 {
		return ErrUnknownCommand
	}
	req.Noreply = noreplyAt(t)
	size, ok := storageSize(t, nargs == 4, r.lim.MaxKey)
	if !ok {
		return silentIf(errBadFormat, req.Noreply)
	}
	if size > r.lim.MaxValue {
		return r.swallow(size, tooLarge(t[1], req.Cmd == CmdSet, false, req.Noreply))
	}
	if err := r.readData(req, size); err != nil {
		return err
	}
	req.Keys = append(req.Keys, t[1])
	req.Args = append(t[:0], t[2:2+nargs]...)
	return nil
}

// storageSize checks the tokens t of a storage line whose token count is
// right, as memcached does before it knows the data block's fate: the key
// length, flags, exptime, size and (cas) unique. ok false is "bad command
// line format" with no data block read; otherwise a block of size bytes
// and its two-byte terminator follows, stored or swallowed.
func storageSize(t [][]byte, cas bool, maxKey int) (size int, ok bool) {
	if len(t[1]) > maxKey {
		return 0, false
	}
	_, okFlags := safeStrtoul(t[2])
	_, okExp := safeStrtol(t[3])
	size32, okSize := safeStrtol(t[4])
	if !okFlags || !okExp || !okSize || size32 < 0 || size32 > math.MaxInt32-2 {
		return 0, false
	}
	if cas {
		if _, ok := safeStrtoull(t[5]); !ok {
			return 0, false
		}
	}
	return int(size32), true
}

// swallow discards a refused request's data block and returns cause.
func (r *Reader) swallow(size int, cause error) error {
	if _, err := r.br.Discard(size + 2); err != nil {
		return unexpectedEOF(err)
	}
	return cause
}

// readData reads size bytes and the two that should follow them, CRLF;
// any other two bytes go in req.Tail, for memcached to refuse.
func (r *Reader) readData(req *Request, size int) error {
	if cap(r.data) < size+2 {
		r.data = make([]byte, size+2)
	}
	buf := r.data[:size+2]
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return unexpectedEOF(err)
	}
	req.Data = buf[:size]
	if buf[size] != '\r' || buf[size+1] != '\n' {
		req.Tail = buf[size:]
	}
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

// parseDelete is memcached's process_delete_command: "delete <key>",
// optionally followed by "0", "noreply" or both in that order.
func (r *Reader) parseDelete(req *Request, t [][]byte) error {
	n := ntokens(t)
	if n < 3 || n > 5 {
		return ErrUnknownCommand
	}
	if n > 3 {
		hold0 := string(t[2]) == "0"
		req.Noreply = noreplyAt(t)
		if !(n == 4 && (hold0 || req.Noreply)) && !(n == 5 && hold0 && req.Noreply) {
			return silentIf(errDeleteArgs, req.Noreply)
		}
	}
	if len(t[1]) > r.lim.MaxKey {
		return silentIf(errBadFormat, req.Noreply)
	}
	req.Keys = append(req.Keys, t[1])
	req.Args = t[:0]
	return nil
}

// parseKeyNumber handles incr, decr and touch: "<cmd> <key> <n> [noreply]".
func (r *Reader) parseKeyNumber(req *Request, t [][]byte, msg string, signed bool) error {
	if n := ntokens(t); n != 4 && n != 5 {
		return ErrUnknownCommand
	}
	req.Noreply = noreplyAt(t)
	if len(t[1]) > r.lim.MaxKey {
		return silentIf(errBadFormat, req.Noreply)
	}
	_, ok := safeStrtoull(t[2])
	if signed {
		_, ok = safeStrtol(t[2])
	}
	if !ok {
		return silentIf(clientErr(msg), req.Noreply)
	}
	req.Keys = append(req.Keys, t[1])
	req.Args = append(t[:0], t[2])
	return nil
}

// parseFlushAll is memcached's "flush_all [delay] [noreply]"; Args holds
// the delay when there is one.
func parseFlushAll(req *Request, t [][]byte) error {
	n := ntokens(t)
	if n > 4 {
		return ErrUnknownCommand
	}
	req.Noreply = noreplyAt(t)
	if n == 3 && req.Noreply || n == 2 {
		req.Args = t[:0]
		return nil
	}
	if _, ok := safeStrtol(t[1]); !ok {
		return silentIf(errExptime, req.Noreply)
	}
	req.Args = append(t[:0], t[1])
	return nil
}

// parseVerbosity is memcached's "verbosity <level> [noreply]"; shepherd
// answers it itself.
func parseVerbosity(req *Request, t [][]byte) error {
	if n := ntokens(t); n != 3 && n != 4 {
		return ErrUnknownCommand
	}
	req.Noreply = noreplyAt(t)
	if _, ok := safeStrtoul(t[1]); !ok {
		return silentIf(errBadFormat, req.Noreply)
	}
	req.Args = append(t[:0], t[1])
	return nil
}

// parseMeta handles "mX <key> <flags>*". mg, md, ma and me go to the
// backend as sent: memcached answers each with exactly one reply, or none
// when a flag starts with q, which Noreply marks so that the request is
// framed with mn. ms is checked here, as memcached checks it, because
// its data block's fate depends on the line.
func (r *Reader) parseMeta(req *Request, t [][]byte) error {
	switch {
	case req.Cmd == CmdMetaNoop:
		req.Args = t[:0]
		return nil
	case len(t) < 2 && req.Cmd == CmdMetaDebug:
		return errBadFormat
	case len(t) < 2:
		return ErrUnknownCommand // as memcached answers a meta command without a key
	case req.Cmd == CmdMetaSet:
		return r.parseMetaSet(req, t)
	case req.Cmd == CmdMetaDebug:
		req.Base64 = len(t) > 2 && string(t[2]) == "b"
	default:
		req.Noreply = anyFlag(t[2:], 'q')
		req.Base64 = anyFlag(t[2:], 'b')
	}
	req.Keys = append(req.Keys, t[1])
	req.Args = append(t[:0], t[2:]...)
	return nil
}

// parseMetaSet is memcached's process_mset_command up to reading the data
// block: errors before the size is known read no data; later ones
// swallow it. Every error is answered, quiet or not.
func (r *Reader) parseMetaSet(req *Request, t [][]byte) error {
	size, err := metaSetSize(t, ntokens(t), r.lim.MaxKey)
	if err != nil {
		return err
	}
	if err := r.checkMetaSet(t[1], t[3:], size); err != nil {
		return r.swallow(size, err)
	}
	if err := r.readData(req, size); err != nil {
		return err
	}
	req.Noreply = anyFlag(t[3:], 'q')
	req.Base64 = anyFlag(t[3:], 'b')
	req.Keys = append(req.Keys, t[1])
	req.Args = append(t[:0], t[2:]...)
	return nil
}

// metaSetSize checks an ms line's key and size tokens, t[1] and t[2], and
// its token count n (ntokens) as memcached does before it knows the size.
// An error is answered with no data block read; otherwise a block of size
// bytes and its two-byte terminator follows, stored or swallowed.
func metaSetSize(t [][]byte, n int, maxKey int) (int, error) {
	switch {
	case len(t[1]) > maxKey || n == 3:
		return 0, errBadFormat
	case n > maxMetaTokens:
		return 0, clientErr("options flags too long")
	}
	size32, ok := safeStrtol(t[2])
	if !ok || size32 < 0 || size32 > math.MaxInt32-2 {
		return 0, errBadFormat
	}
	return int(size32), nil
}

// checkMetaSet returns the error memcached answers an ms line with once it
// knows the size, in memcached's order: flags, mode, opaque, size.
func (r *Reader) checkMetaSet(key []byte, flags [][]byte, size int) error {
	mf := parseMetaFlags(flags, key, r.keyb)
	if mf.err != "" {
		return clientErr(mf.err)
	}
	switch mf.mode {
	case 0, 'E', 'A', 'P', 'R', 'S':
	default:
		return clientErr("invalid mode for ms M token")
	}
	for _, f := range flags {
		if f[0] == 'O' && len(f) > maxOpaque {
			return clientErr("opaque token too long")
		}
	}
	if size > r.lim.MaxValue {
		return tooLarge(key, true, mf.base64, false)
	}
	return nil
}

// RouteKey returns the bytes a request's key hashes by: the key as
// memcached decodes it for meta commands with the b flag, the key itself
// otherwise (also when it does not decode: memcached refuses it anyway).
func RouteKey(req *Request, key []byte, scratch []byte) []byte {
	if !req.Base64 {
		return key
	}
	k, ok := mcBase64Decode(scratch[:0], key)
	if !ok {
		// A copy, never key itself: callers keep the result as scratch,
		// which must not alias the reader's buffer.
		return append(k[:0], key...)
	}
	return k
}

// parseSize parses a backend's data block length: a non-negative decimal int.
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

// isUint reports whether b is a plain decimal that fits in bits.
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
