// A cache of key hashes for one goroutine.

package ring

import (
	"hash/maphash"
	"slices"
)

// Sums remembers the hashes of recent keys, so that a hot key's md5 is
// computed once rather than on every lookup (md5 was about a fifth of
// shepherd's CPU in 100-key gets). It is direct-mapped: each key has one
// slot, chosen by a seeded maphash of the key, and a key that lands on a
// taken slot replaces what was there. A slot holds the whole key, compared
// byte for byte, and the hash function and tag it was hashed with, so a
// hit is always the sum Lookup would compute: the cache can be slow, never
// wrong. Keys longer than sumsKeyMax are not cached, nor are keys of
// rings whose hash is cheaper than a slot (all but md5: fnv1a_64 hashes a
// short key in about 14 ns, a slot is found in about 70). It does not allocate
// after NewSums. Not safe for concurrent use: one per event loop.
type Sums struct {
	seed  maphash.Seed
	slots []sumSlot
}

const (
	sumsSlots  = 4096 // a power of two
	sumsKeyMax = 64
)

type sumSlot struct {
	spec hashSpec
	n    uint8 // key length; 0: empty (an empty key is not cached)
	sum  uint32
	key  [sumsKeyMax]byte
}

// hashSpec names what a ring hashes a key with: the hash function (its
// index among Hashes) and the hash tag.
type hashSpec struct {
	hash   uint8
	tagged bool
	tag    [2]byte
	slow   bool // md5: worth caching (the others hash a short key faster than a slot is found)
}

// NewSums returns an empty cache (about 300 KiB).
func NewSums() *Sums {
	return &Sums{seed: maphash.MakeSeed(), slots: make([]sumSlot, sumsSlots)}
}

// LookupCached is Lookup, taking key's hash from s when s holds it and
// keeping it there when not. A nil s is Lookup.
func (r *Ring) LookupCached(key []byte, s *Sums) int {
	if s == nil || !r.spec.slow || len(key) == 0 || len(key) > sumsKeyMax {
		return r.Lookup(key)
	}
	slot := &s.slots[maphash.Bytes(s.seed, key)&(sumsSlots-1)]
	if slot.spec == r.spec && int(slot.n) == len(key) && string(slot.key[:len(key)]) == string(key) {
		return r.pick.pick(slot.sum)
	}
	k := key
	if r.tagged {
		k = hashTag(key, r.tag)
	}
	sum := r.sum(k)
	slot.spec, slot.n, slot.sum = r.spec, uint8(len(key)), sum
	copy(slot.key[:], key)
	return r.pick.pick(sum)
}

// specOf is the hashSpec of a ring hashing with the function named name.
func specOf(name string, tag [2]byte, tagged bool) hashSpec {
	i, _ := slices.BinarySearch(Hashes(), name)
	return hashSpec{hash: uint8(i), tagged: tagged, tag: tag, slow: name == "md5"}
}
