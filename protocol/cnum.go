// Numbers and base64 keys read as memcached 1.6 reads them: its
// safe_strto* helpers over C's strtol family, and its lenient base64
// decoder. shepherd must agree with memcached on every token that decides
// how many bytes a request spans or whether memcached refuses it.
package protocol

import "math"

// cSpace reports whether c is white space to C's isspace in the C locale.
func cSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// cStrto parses like C's strtoull in base 10: leading white space, an
// optional sign, digits. It returns the magnitude, whether a minus sign
// was read, and ok false when there are no digits, the magnitude
// overflows 64 bits, or the byte after the digits is neither the end nor
// white space (memcached's endptr check).
func cStrto(b []byte) (mag uint64, neg, ok bool) {
	i := 0
	for i < len(b) && cSpace(b[i]) {
		i++
	}
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	start := i
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if mag > (math.MaxUint64-d)/10 {
			return 0, false, false // ERANGE
		}
		mag = mag*10 + d
	}
	if i == start || (i < len(b) && !cSpace(b[i])) {
		return 0, false, false
	}
	return mag, neg, true
}

// safeStrtoll is memcached's safe_strtoll (and safe_strtol before it
// narrows to 32 bits): a signed 64-bit value or a range error.
func safeStrtoll(b []byte) (int64, bool) {
	mag, neg, ok := cStrto(b)
	switch {
	case !ok:
		return 0, false
	case neg && mag <= 1<<63:
		return int64(-mag), true
	case !neg && mag <= math.MaxInt64:
		return int64(mag), true
	}
	return 0, false
}

// safeStrtol is memcached's safe_strtol on a 64-bit build: strtol's long,
// then stored into an int32 without a range check (so 4294967297 reads 1).
func safeStrtol(b []byte) (int32, bool) {
	v, ok := safeStrtoll(b)
	return int32(v), ok
}

// safeStrtoull is memcached's safe_strtoull: strtoull, refused only when a
// minus sign produced a value that is negative as a signed number.
func safeStrtoull(b []byte) (uint64, bool) {
	mag, neg, ok := cStrto(b)
	if !ok {
		return 0, false
	}
	v := mag
	if neg {
		v = -mag
	}
	if int64(v) < 0 && neg {
		return 0, false
	}
	return v, true
}

// safeStrtoul is memcached's safe_strtoul on a 64-bit build: as
// safeStrtoull, then stored into a uint32 (so 4294967296 reads 0).
func safeStrtoul(b []byte) (uint32, bool) {
	v, ok := safeStrtoull(b)
	return uint32(v), ok
}

// b64Table maps a byte to its base64 value, 0x80 for bytes memcached's
// decoder skips; '=' is 0.
var b64Table = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x80
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	t['='] = 0
	return t
}()

// mcBase64Decode decodes src as memcached's base64_decode does: bytes
// outside the alphabet are skipped, the count of the rest must be a
// multiple of four, and decoding stops after the first padded block. ok
// is false where memcached's decoder returns 0.
func mcBase64Decode(dst, src []byte) ([]byte, bool) {
	count := 0
	for _, c := range src {
		if b64Table[c] != 0x80 {
			count++
		}
	}
	if count == 0 || count%4 != 0 {
		return dst, false
	}
	var block [4]byte
	n, pad, start := 0, 0, len(dst)
	for _, c := range src {
		v := b64Table[c]
		if v == 0x80 {
			continue
		}
		if c == '=' {
			pad++
		}
		block[n] = v
		n++
		if n < 4 {
			continue
		}
		dst = append(dst, block[0]<<2|block[1]>>4, block[1]<<4|block[2]>>2, block[2]<<6|block[3])
		n = 0
		if pad == 0 {
			continue
		}
		if pad > 2 {
			return dst, false
		}
		dst = dst[:len(dst)-pad]
		break
	}
	return dst, len(dst) > start
}

// ParseUint32 reads a number as memcached reads a classic command's flags
// (safe_strtoul: a leading "+" or spaces allowed, 4294967296 reads 0). The
// reader has already refused what memcached refuses; code that acts on a
// request's Args reads them with these, never with strconv.
func ParseUint32(b []byte) (uint32, bool) { return safeStrtoul(b) }

// ParseInt32 reads a number as memcached reads an exptime or a TTL
// (safe_strtol: strtol's long stored into 32 bits).
func ParseInt32(b []byte) (int32, bool) { return safeStrtol(b) }

// ParseUint64 reads a number as memcached reads a CAS value or a delta
// (safe_strtoull).
func ParseUint64(b []byte) (uint64, bool) { return safeStrtoull(b) }
