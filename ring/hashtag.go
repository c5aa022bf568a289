// Hash tags: hashing only the tagged part of a key, as twemproxy does.

package ring

import (
	"bytes"
	"fmt"
)

// parseHashTag checks a hash_tag option: empty, or exactly two bytes.
func parseHashTag(s string) (tag [2]byte, ok bool, err error) {
	switch len(s) {
	case 0:
		return tag, false, nil
	case 2:
		return [2]byte{s[0], s[1]}, true, nil
	}
	return tag, false, fmt.Errorf("%w: got %q", ErrHashTag, s)
}

// hashTag returns the part of key that is hashed: the bytes between the
// first tag[0] and the first tag[1] after it, when both are found and the
// span between them is not empty; otherwise the whole key.
func hashTag(key []byte, tag [2]byte) []byte {
	start := bytes.IndexByte(key, tag[0])
	if start < 0 {
		return key
	}
	rest := key[start+1:]
	end := bytes.IndexByte(rest, tag[1])
	if end <= 0 {
		return key
	}
	return rest[:end]
}
