// Wire: encoding requests for a backend. Every request shepherd sends asks
// for a reply (noreply is stripped, quiet meta commands are followed by mn)
// so that each backend connection's reply stream stays aligned.
package protocol

var crlf = []byte("\r\n")

// AppendRetrieval appends a get-family request for keys. exptime is used by
// gat and gats only.
func AppendRetrieval(dst []byte, cmd Command, exptime []byte, keys [][]byte) []byte {
	dst = append(dst, cmd.String()...)
	if cmd == CmdGat || cmd == CmdGats {
		dst = append(dst, ' ')
		dst = append(dst, exptime...)
	}
	for _, k := range keys {
		dst = append(dst, ' ')
		dst = append(dst, k...)
	}
	return append(dst, crlf...)
}

// AppendRequest appends req, a single-key or keyless command, as a backend
// request. noreply is dropped; a meta command goes with its flags as the
// client sent them, and a quiet one is followed by "mn" so that its
// (possibly empty) reply has an end.
func AppendRequest(dst []byte, req *Request) []byte {
	dst = append(dst, req.Cmd.String()...)
	for _, k := range req.Keys {
		dst = append(dst, ' ')
		dst = append(dst, k...)
	}
	for _, a := range req.Args {
		dst = append(dst, ' ')
		dst = append(dst, a...)
	}
	quiet := req.Cmd.IsMeta() && req.Noreply
	dst = append(dst, crlf...)
	if req.Cmd.IsStorage() || req.Cmd == CmdMetaSet {
		dst = append(dst, req.Data...)
		if req.Tail != nil {
			dst = append(dst, req.Tail...)
		} else {
			dst = append(dst, crlf...)
		}
	}
	if quiet {
		dst = append(dst, "mn\r\n"...)
	}
	return dst
}

// ReplyKindOf tells how the backend's reply to req is framed.
func ReplyKindOf(req *Request) ReplyKind {
	switch {
	case req.Cmd.IsRetrieval():
		return ReplyValues
	case req.Cmd.IsMeta() && req.Noreply:
		return ReplyMetaQuiet
	case req.Cmd.IsMeta():
		return ReplyMeta
	}
	return ReplyLine
}
