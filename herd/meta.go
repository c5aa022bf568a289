// Meta: the consumer-side view of a backend that speaks memcached's meta
// protocol, and the parse of a meta reply's header line.
package herd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Backend runs one command for key on the node that owns it. cmd is "mg",
// "ms" or "md" with meta flags (value is ms's data), or "get" for a
// backend without the meta protocol, in which case the backend answers
// as if it were "mg <key> v f": "VA <n> f<flags>" or "EN". It returns the
// reply's header line (without CRLF) and its value.
type Backend interface {
	Meta(ctx context.Context, cmd string, key []byte, flags string, value []byte) (line string, val []byte, err error)
}

// BackendFunc adapts a function to Backend.
type BackendFunc func(ctx context.Context, cmd string, key []byte, flags string, value []byte) (string, []byte, error)

// Meta calls f.
func (f BackendFunc) Meta(ctx context.Context, cmd string, key []byte, flags string, value []byte) (string, []byte, error) {
	return f(ctx, cmd, key, flags, value)
}

// ErrUnexpected is a backend reply herd does not understand.
var ErrUnexpected = errors.New("herd: unexpected backend reply")

// reply is a parsed meta reply.
type reply struct {
	code    string // VA, HD, EN, NF, NS, EX
	value   []byte
	cas     uint64
	flags   uint32
	win     bool // W: this reader won the right to refill
	stale   bool // X: the value is stale
	pending bool // Z: another reader has already won
}

func parseReply(line string, val []byte) (reply, error) {
	toks := strings.Fields(line)
	if len(toks) == 0 {
		return reply{}, ErrUnexpected
	}
	r := reply{code: toks[0], value: val}
	switch r.code {
	case "VA": // VA <size> <flags>*
		if len(toks) < 2 {
			return r, fmt.Errorf("%w: %q", ErrUnexpected, line)
		}
		if _, err := strconv.ParseUint(toks[1], 10, 32); err != nil {
			return r, fmt.Errorf("%w: %q", ErrUnexpected, line)
		}
		toks = toks[1:]
	case "HD", "EN", "NF", "NS", "EX":
	default:
		return r, fmt.Errorf("%w: %q", ErrUnexpected, line)
	}
	for _, t := range toks[1:] {
		if err := r.flag(t); err != nil {
			return r, fmt.Errorf("%w: %q", ErrUnexpected, line)
		}
	}
	return r, nil
}

func (r *reply) flag(t string) error {
	var err error
	switch t[0] {
	case 'W':
		r.win = true
	case 'X':
		r.stale = true
	case 'Z':
		r.pending = true
	case 'c':
		r.cas, err = strconv.ParseUint(t[1:], 10, 64)
	case 'f':
		var f uint64
		f, err = strconv.ParseUint(t[1:], 10, 32)
		r.flags = uint32(f)
	}
	return err
}

// placeholder reports a cold miss another reader is filling: memcached
// vivified an empty item (N flag) and handed the win to someone.
func (r reply) placeholder() bool { return (r.win || r.pending) && !r.stale }

// ParseValue turns a "VA <n> f<flags> ..." reply into a Result, for
// callers that read unprotected keys the same way.
func ParseValue(line string, val []byte) (Result, error) {
	r, err := parseReply(line, val)
	if err != nil || r.code != "VA" {
		return Result{}, err
	}
	return hit(r), nil
}
