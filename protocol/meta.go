// Meta: the meta commands shepherd sends on its own account (herd reads,
// fills and invalidations, replay) and the one parser of their replies, as
// memcached's doc/protocol.txt "Meta Commands" describes them.
package protocol

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// MetaReturn says what a meta reply should carry.
type MetaReturn uint8

// Return flags of a meta request.
const (
	ReturnValue MetaReturn = 1 << iota // v
	ReturnFlags                        // f
	ReturnCAS                          // c
	ReturnTTL                          // t
	ReturnSize                         // s
)

// MetaRequest is one meta command. Zero fields send no flag; the zero
// value is no command (set Cmd and Key). It is a plain value, not shared:
// build one per command.
type MetaRequest struct {
	// Cmd is CmdMetaGet, CmdMetaSet, CmdMetaDelete or CmdMetaArithmetic;
	// CmdGet or CmdGets reads with a classic get or gets (for backends
	// without the meta protocol) and takes no flags.
	Cmd Command
	// Key is the raw key; one the text protocol cannot carry travels in
	// base64 (the b flag).
	Key    []byte
	Value  []byte     // ms: the data block
	Return MetaReturn // what the reply carries
	CAS    uint64     // C: act only if the item's CAS is this
	Flags  uint32     // F (ms): client flags to store
	TTL    int64      // T: sent when SetTTL (ms: exptime; mg: touch; md with I: stale TTL)
	SetTTL bool
	Vivify int64 // N<secs> (mg): a miss creates a placeholder and wins; 0 sends none
	// Invalidate is md's I: mark the item stale instead of deleting it.
	Invalidate bool
	Mode       byte   // M<mode>: ms E A P R S, ma I D; 0 sends none
	Delta      uint64 // D (ma), always sent for ma
}

// AppendMeta appends r as a backend request.
func AppendMeta(dst []byte, r *MetaRequest) []byte {
	dst = append(append(dst, r.Cmd.String()...), ' ')
	if r.Cmd == CmdGet || r.Cmd == CmdGets {
		return append(append(dst, r.Key...), crlf...)
	}
	b64 := !ValidKey(r.Key, 250)
	if b64 {
		dst = base64.StdEncoding.AppendEncode(dst, r.Key)
	} else {
		dst = append(dst, r.Key...)
	}
	if r.Cmd == CmdMetaSet {
		dst = strconv.AppendInt(append(dst, ' '), int64(len(r.Value)), 10)
	}
	if b64 {
		dst = append(dst, " b"...)
	}
	dst = r.appendFlags(dst)
	dst = append(dst, crlf...)
	if r.Cmd == CmdMetaSet {
		dst = append(append(dst, r.Value...), crlf...)
	}
	return dst
}

func (r *MetaRequest) appendFlags(dst []byte) []byte {
	for i, c := range "vfcts" {
		if r.Return&(1<<i) != 0 {
			dst = append(dst, ' ', byte(c))
		}
	}
	if r.CAS != 0 {
		dst = strconv.AppendUint(append(dst, " C"...), r.CAS, 10)
	}
	if r.Cmd == CmdMetaSet && r.Flags != 0 {
		dst = strconv.AppendUint(append(dst, " F"...), uint64(r.Flags), 10)
	}
	if r.SetTTL {
		dst = strconv.AppendInt(append(dst, " T"...), r.TTL, 10)
	}
	if r.Vivify > 0 {
		dst = strconv.AppendInt(append(dst, " N"...), r.Vivify, 10)
	}
	if r.Invalidate {
		dst = append(dst, " I"...)
	}
	if r.Mode != 0 {
		dst = append(dst, ' ', 'M', r.Mode)
	}
	if r.Cmd == CmdMetaArithmetic {
		dst = strconv.AppendUint(append(dst, " D"...), r.Delta, 10)
	}
	return dst
}

// MetaCode is a meta reply's two-letter status.
type MetaCode string

// Meta reply codes.
const (
	MetaValue     MetaCode = "VA" // a value follows
	MetaOK        MetaCode = "HD" // done (or found, without a value)
	MetaMiss      MetaCode = "EN" // mg: not found
	MetaNotFound  MetaCode = "NF"
	MetaNotStored MetaCode = "NS"
	MetaExists    MetaCode = "EX" // the CAS did not match
	MetaNoop      MetaCode = "MN"
)

// MetaReply is a parsed meta reply; the zero value is no reply. Value
// aliases the parsed bytes.
type MetaReply struct {
	Code   MetaCode // "" for an error line, which Error then holds
	Error  string   // ERROR, CLIENT_ERROR ... or SERVER_ERROR ... (without CRLF)
	Value  []byte   // VA's data block
	Flags  uint32   // f
	CAS    uint64   // c
	TTL    int64    // t: seconds left, -1 for none; valid when HasTTL
	HasTTL bool
	Size   int  // s
	Win    bool // W: this request won the right to refill
	Stale  bool // X: the item is marked stale
	Taken  bool // Z: another request already won
}

// ErrMetaReply is a meta reply that does not parse.
var ErrMetaReply = errors.New("protocol: malformed meta reply")

// ParseMetaReply parses one whole meta reply: its line, and after VA the
// data block, each with its CRLF. Flags it does not know (O, k, b, ...)
// are skipped.
func ParseMetaReply(raw []byte) (MetaReply, error) {
	nl := bytes.IndexByte(raw, '\n')
	if nl < 1 || raw[nl-1] != '\r' {
		return MetaReply{}, fmt.Errorf("%w: no CRLF", ErrMetaReply)
	}
	line, rest := raw[:nl-1], raw[nl+1:]
	if isErrorLine(line) {
		return MetaReply{Error: string(line)}, checkEmpty(rest)
	}
	tok, toks := nextToken(line)
	code := metaCode(tok)
	if code == "" || (len(line) > 2 && line[2] != ' ') {
		return MetaReply{}, fmt.Errorf("%w: %q", ErrMetaReply, truncate(line))
	}
	r := MetaReply{Code: code}
	if r.Code == MetaValue {
		var err error
		if r.Value, toks, err = dataBlock(toks, rest); err != nil {
			return MetaReply{}, err
		}
	} else if err := checkEmpty(rest); err != nil {
		return MetaReply{}, err
	}
	for {
		var t []byte
		if t, toks = nextToken(toks); len(t) == 0 {
			return r, nil
		}
		if err := r.flag(t); err != nil {
			return MetaReply{}, fmt.Errorf("%w: flag %q in %q", ErrMetaReply, t, truncate(line))
		}
	}
}

// metaCode returns the code tok names, or "" (without allocating).
func metaCode(tok []byte) MetaCode {
	for _, c := range [...]MetaCode{MetaValue, MetaOK, MetaMiss, MetaNotFound, MetaNotStored, MetaExists, MetaNoop} {
		if string(tok) == string(c) {
			return c
		}
	}
	return ""
}

// dataBlock takes VA's size token and checks the block that follows.
func dataBlock(toks, rest []byte) (value, after []byte, err error) {
	sz, toks := nextToken(toks)
	n, ok := parseSize(sz)
	if !ok || len(rest) != n+2 || rest[n] != '\r' || rest[n+1] != '\n' {
		return nil, nil, fmt.Errorf("%w: VA %q with %d bytes of data", ErrMetaReply, sz, len(rest))
	}
	return rest[:n], toks, nil
}

func checkEmpty(rest []byte) error {
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after the reply line", ErrMetaReply, len(rest))
	}
	return nil
}

func (r *MetaReply) flag(t []byte) error {
	var err error
	v := string(t[1:])
	switch t[0] {
	case 'W':
		r.Win = true
	case 'X':
		r.Stale = true
	case 'Z':
		r.Taken = true
	case 'c':
		r.CAS, err = strconv.ParseUint(v, 10, 64)
	case 'f':
		var f uint64
		f, err = strconv.ParseUint(v, 10, 32)
		r.Flags = uint32(f)
	case 't':
		r.TTL, err = strconv.ParseInt(v, 10, 64)
		r.HasTTL = err == nil && r.TTL >= -1
		if err == nil && !r.HasTTL {
			err = strconv.ErrRange
		}
	case 's':
		r.Size, err = strconv.Atoi(v)
		if err == nil && r.Size < 0 {
			err = strconv.ErrRange
		}
	}
	return err
}

// Placeholder reports an item memcached created on a miss for a refill
// (N flag) that no one has filled: empty, its win handed out, not stale.
// A value a client stored is never one, unless the client itself asked
// memcached for a win on it (mg R) and the value is empty.
func (r *MetaReply) Placeholder() bool {
	return (r.Win || r.Taken) && !r.Stale && len(r.Value) == 0 && r.Size == 0
}

// Live reports, for an mg reply, a value a client stored and did not delete.
func (r *MetaReply) Live() bool {
	return (r.Code == MetaValue || r.Code == MetaOK) && !r.Stale && !r.Placeholder()
}
