// Herd exactness: the commands other than get/gets on a protected key,
// translated so that they answer as memcached would on the key's logical
// state (placeholders and stale values are absent).
package proxy

import (
	"context"
	"strconv"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/protocol"
)

// exact answers a single-key command on a protected key; ok is false
// when it should go to the backend as it is.
func (h herdCmd) exact(req *protocol.Request, key []byte, rule *herd.Rule) (reply []byte, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), herdTimeout)
	defer cancel()
	var a herd.Answer
	var err error
	switch req.Cmd {
	case protocol.CmdAdd:
		a, err = h.g.Add(ctx, h.b, key, storageItem(req))
	case protocol.CmdReplace:
		a, err = h.g.Replace(ctx, h.b, key, storageItem(req))
	case protocol.CmdAppend:
		a, err = h.g.Concat(ctx, h.b, key, 'A', req.Data)
	case protocol.CmdPrepend:
		a, err = h.g.Concat(ctx, h.b, key, 'P', req.Data)
	case protocol.CmdCas:
		cas, _ := protocol.ParseUint64(req.Args[3])
		a, err = h.g.CompareAndSwap(ctx, h.b, key, storageItem(req), cas)
	case protocol.CmdIncr, protocol.CmdDecr:
		delta, _ := protocol.ParseUint64(req.Args[0])
		mode := byte('D')
		if req.Cmd == protocol.CmdIncr {
			mode = 'I'
		}
		a, err = h.g.Arithmetic(ctx, h.b, key, mode, delta)
	case protocol.CmdTouch:
		ttl, _ := protocol.ParseInt32(req.Args[0])
		a, err = h.g.Touch(ctx, h.b, key, int64(ttl))
	case protocol.CmdDelete:
		a, err = h.g.Invalidate(ctx, h.b, key, rule)
	case protocol.CmdMetaGet, protocol.CmdMetaSet, protocol.CmdMetaDelete, protocol.CmdMetaArithmetic:
		return h.meta(ctx, req, key)
	default:
		return nil, false
	}
	return h.answer(req, a, err), true
}

// storageItem is a classic storage command's data and header fields (the
// reader has checked them).
func storageItem(req *protocol.Request) herd.Item {
	flags, _ := protocol.ParseUint32(req.Args[0])
	ttl, _ := protocol.ParseInt32(req.Args[1])
	return herd.Item{Value: req.Data, Flags: flags, TTL: int64(ttl)}
}

var outcomeText = [...]string{
	herd.Stored: "STORED\r\n", herd.NotStored: "NOT_STORED\r\n", herd.Exists: "EXISTS\r\n",
	herd.NotFound: "NOT_FOUND\r\n", herd.Deleted: "DELETED\r\n", herd.Touched: "TOUCHED\r\n",
}

// answer renders a herd answer as memcached's reply line.
func (h herdCmd) answer(req *protocol.Request, a herd.Answer, err error) []byte {
	switch {
	case req.Noreply:
		return nil
	case err != nil:
		h.c.s.m.serverErrors.Add(1)
		return []byte("SERVER_ERROR " + errText(err) + "\r\n")
	case a.Outcome == herd.Number || a.Outcome == herd.ClientError:
		return append(a.Value, "\r\n"...)
	}
	return []byte(outcomeText[a.Outcome])
}

// meta answers a client's own meta command on a protected key that
// is logically absent but has an item (a placeholder or a stale value)
// as memcached answers for an absent key; anything else goes to the
// backend as it is.
func (h herdCmd) meta(ctx context.Context, req *protocol.Request, key []byte) ([]byte, bool) {
	flags, ok := metaFlags(req)
	if !ok || flags['N'] { // invalid: memcached's own error; N: the client's own herd
		return nil, false
	}
	st, r, err := h.g.Peek(ctx, h.b, key)
	if err != nil {
		return h.answer(req, herd.Answer{}, err), true
	}
	if req.Cmd == protocol.CmdMetaSet && metaMode(req) == 'E' && (st == herd.Placeholder || st == herd.Stale) {
		// add: replace the item, guarded by the CAS read (which giving a
		// win back would change; the item goes either way)
		setMode(req, []byte("C"+strconv.FormatUint(r.CAS, 10)))
		return nil, false
	}
	h.g.GiveBack(ctx, h.b, key, &r)
	if st == herd.Live || st == herd.Absent {
		return nil, false
	}
	switch {
	case req.Cmd == protocol.CmdMetaGet && req.Noreply:
		return nil, true // EN is quiet
	case req.Cmd == protocol.CmdMetaGet:
		return missLine("EN", req), true
	case req.Cmd != protocol.CmdMetaSet || flags['C']:
		return missLine("NF", req), true
	}
	switch metaMode(req) {
	case 'A', 'P', 'R':
		return missLine("NS", req), true
	}
	return nil, false // set
}

// metaFlags reports which flags req carries, and false for anything this
// file would not answer exactly as memcached does (then the backend
// answers).
func metaFlags(req *protocol.Request) (seen [128]bool, ok bool) {
	for i, f := range req.Args {
		if req.Cmd == protocol.CmdMetaSet && i == 0 {
			continue // the data length
		}
		switch f[0] {
		case 'b', 'c', 'f', 'h', 'k', 'l', 's', 't', 'u', 'v', 'I', 'q':
			ok = true // memcached reads these by their first byte ("qq" is q)
		case 'O':
			ok = len(f) <= 32
		case 'M':
			ok = len(f) == 2 && validMode(req.Cmd, f[1])
		case 'C', 'D', 'J':
			_, ok = protocol.ParseUint64(f[1:])
		case 'F':
			_, ok = protocol.ParseUint32(f[1:])
		case 'N', 'R', 'T':
			_, ok = protocol.ParseInt32(f[1:])
		default:
			ok = false
		}
		if !ok {
			return seen, false
		}
		seen[f[0]] = true
	}
	return seen, true
}

func validMode(cmd protocol.Command, m byte) bool {
	if cmd == protocol.CmdMetaArithmetic {
		return m == 'I' || m == 'D' || m == '+' || m == '-'
	}
	return cmd == protocol.CmdMetaSet && (m == 'E' || m == 'A' || m == 'P' || m == 'R' || m == 'S')
}

// metaMode is an ms's M flag's mode, or 0.
func metaMode(req *protocol.Request) byte {
	for _, f := range req.Args[1:] {
		if f[0] == 'M' {
			return f[1]
		}
	}
	return 0
}

// setMode replaces an ms's M flag with tok.
func setMode(req *protocol.Request, tok []byte) {
	for i, f := range req.Args[1:] {
		if f[0] == 'M' {
			req.Args[i+1] = tok
		}
	}
}

// missLine is memcached's reply with code to a meta command on an absent
// key: the code, then the O and k flags in the order asked.
func missLine(code string, req *protocol.Request) []byte {
	b := []byte(code)
	for _, f := range req.Args {
		switch {
		case f[0] == 'O':
			b = append(append(b, ' '), f...)
		case f[0] == 'k' && req.Base64:
			b = append(append(append(b, " k"...), req.Key()...), " b"...)
		case f[0] == 'k':
			b = append(append(b, " k"...), req.Key()...)
		}
	}
	return append(b, "\r\n"...)
}
