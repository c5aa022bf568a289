// Meta flags read as memcached 1.6.18 reads them (_meta_flag_preparse in
// proto_text.c): a flag is its first byte; the rest of the token is its
// argument.
package protocol

// Meta command limits, as memcached has them.
const (
	// MaxMetaTokens bounds the tokens of a meta command line, counted as
	// memcached counts them (command, key, flags and one for the end).
	maxMetaTokens = 20
	// maxTokens is how many tokens memcached splits a line into before it
	// leaves the rest of the line unsplit (MAX_TOKENS less the end marker).
	maxTokens = 23
	// maxOpaque bounds an O flag token.
	maxOpaque = 32
)

// metaFlags is what memcached's preparse makes of a meta command's flags.
type metaFlags struct {
	quiet  bool   // a flag starting with q
	base64 bool   // a flag starting with b
	mode   byte   // the argument of M
	err    string // the error memcached answers, without "CLIENT_ERROR "; "" if none
}

// parseMetaFlags reads flags as memcached's preparse does. A duplicate or
// unknown flag stops it at once; a bad argument is noted and reading goes
// on, so the last such note is the error.
func parseMetaFlags(flags [][]byte, key []byte, scratch []byte) metaFlags {
	var mf metaFlags
	var seen [127]bool
	bad := false
	for _, f := range flags {
		o := f[0]
		if o >= 127 || seen[o] {
			mf.err = "duplicate flag"
			return mf
		}
		seen[o] = true
		arg := f[1:]
		switch o {
		case 'b':
			mf.base64 = true
			if _, ok := mcBase64Decode(scratch[:0], key); !ok {
				mf.err, bad = "error decoding key", true
			}
		case 'N', 'T', 'R':
			if _, ok := safeStrtol(arg); !ok {
				mf.err, bad = "bad token in command line format", true
			}
		case 'F':
			if _, ok := safeStrtoul(arg); !ok {
				bad = true // memcached leaves the message as it was
			}
		case 'C':
			if _, ok := safeStrtoull(arg); !ok {
				mf.err, bad = "bad token in command line format", true
			}
		case 'M':
			if len(f) != 2 {
				mf.err, bad = "incorrect length for M token", true
			} else {
				mf.mode = f[1]
			}
		case 'J':
			if _, ok := safeStrtoull(arg); !ok {
				mf.err, bad = "invalid numeric initial value", true
			}
		case 'D':
			if _, ok := safeStrtoull(arg); !ok {
				mf.err, bad = "invalid numeric delta value", true
			}
		case 'q':
			mf.quiet = true
		case 'l', 'O', 'P', 'L', 'k', 's', 't', 'c', 'f', 'v', 'h', 'u', 'I':
		default:
			mf.err = "invalid flag"
			return mf
		}
	}
	if bad && mf.err == "" {
		mf.err = "bad command line format"
	}
	return mf
}

// anyFlag reports whether a token of flags starts with c: memcached's
// reading of the q and b flags, whatever else the line holds.
func anyFlag(flags [][]byte, c byte) bool {
	for _, f := range flags {
		if f[0] == c {
			return true
		}
	}
	return false
}
