// Key hash functions, by twemproxy's names, bit-compatible with twemproxy
// and libmemcached's libhashkit on x86 (where C char is signed).

package ring

import (
	"crypto/md5"
	"encoding/binary"
	"hash/crc32"
	"math/bits"
	"slices"
)

// hashFunc hashes a key to the 32-bit value both ketama and modula place.
type hashFunc func(key []byte) uint32

// hashes maps twemproxy's hash names to their functions.
var hashes = map[string]hashFunc{
	"one_at_a_time": hashOneAtATime,
	"md5":           hashMD5,
	"crc16":         hashCRC16,
	"crc32":         hashCRC32,
	"crc32a":        hashCRC32a,
	"fnv1_64":       hashFNV1_64,
	"fnv1a_64":      hashFNV1a64,
	"fnv1_32":       hashFNV1_32,
	"fnv1a_32":      hashFNV1a32,
	"hsieh":         hashHsieh,
	"murmur":        hashMurmur,
	"jenkins":       hashJenkins,
}

// Hashes returns the hash names Options.Hash accepts, sorted.
func Hashes() []string {
	names := make([]string, 0, len(hashes))
	for name := range hashes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// signed widens a key byte the way C does with a signed char: bytes >= 0x80
// become 0xffffff80 and up. twemproxy and libhashkit feed (uint32_t)key[i]
// from a const char *, so non-ASCII keys hash with these high bits set.
func signed(b byte) uint32 { return uint32(int32(int8(b))) }

// hashMD5 is the first four bytes of the key's md5, little-endian.
func hashMD5(key []byte) uint32 {
	sum := md5.Sum(key)
	return binary.LittleEndian.Uint32(sum[:4])
}

// hashOneAtATime is Bob Jenkins' one-at-a-time hash (libmemcached's default).
func hashOneAtATime(key []byte) uint32 {
	var h uint32
	for _, b := range key {
		h += signed(b)
		h += h << 10
		h ^= h >> 6
	}
	h += h << 3
	h ^= h >> 11
	h += h << 15
	return h
}

const (
	fnv64Init  = 0xcbf29ce484222325
	fnv64Prime = 0x100000001b3
	fnv32Init  = 2166136261
	fnv32Prime = 16777619
)

// hashFNV1_64 is FNV-1 in 64 bits, truncated to the low 32.
func hashFNV1_64(key []byte) uint32 {
	h := uint64(fnv64Init)
	for _, b := range key {
		h *= fnv64Prime
		h ^= uint64(int64(int8(b)))
	}
	return uint32(h)
}

// hashFNV1a64 is twemproxy's "fnv1a_64", which despite its name runs in 32
// bits: the 64-bit offset basis and prime are truncated to uint32 first.
func hashFNV1a64(key []byte) uint32 {
	h := uint32(fnv64Init & 0xffffffff)
	for _, b := range key {
		h ^= signed(b)
		h *= uint32(fnv64Prime & 0xffffffff)
	}
	return h
}

// hashFNV1_32 is FNV-1 in 32 bits.
func hashFNV1_32(key []byte) uint32 {
	h := uint32(fnv32Init)
	for _, b := range key {
		h *= fnv32Prime
		h ^= signed(b)
	}
	return h
}

// hashFNV1a32 is FNV-1a in 32 bits.
func hashFNV1a32(key []byte) uint32 {
	h := uint32(fnv32Init)
	for _, b := range key {
		h ^= signed(b)
		h *= fnv32Prime
	}
	return h
}

// hashCRC32 is libmemcached's "crc": bits 16..30 of the IEEE CRC-32.
func hashCRC32(key []byte) uint32 {
	return crc32.ChecksumIEEE(key) >> 16 & 0x7fff
}

// hashCRC32a is the full IEEE CRC-32.
func hashCRC32a(key []byte) uint32 { return crc32.ChecksumIEEE(key) }

// crc16Table is CRC-16/XMODEM's: polynomial 0x1021, not reflected.
var crc16Table = makeCRC16Table()

func makeCRC16Table() (t [256]uint32) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = uint32(c)
	}
	return t
}

// hashCRC16 is twemproxy 0.5.0's crc16: CRC-16/XMODEM run in a uint32 that
// is never masked, so the low 16 bits are the CRC and the high 16 carry
// what earlier steps shifted up.
func hashCRC16(key []byte) uint32 {
	var c uint32
	for _, b := range key {
		c = c<<8 ^ crc16Table[byte(c>>8)^b]
	}
	return c
}

// hashMurmur is MurmurHash2 seeded with 0xdeadbeef*len, as libhashkit does.
func hashMurmur(key []byte) uint32 {
	const m = 0x5bd1e995
	n := uint32(len(key))
	h := 0xdeadbeef*n ^ n
	for ; len(key) >= 4; key = key[4:] {
		k := binary.LittleEndian.Uint32(key) * m
		k ^= k >> 24
		h = h*m ^ k*m
	}
	switch len(key) {
	case 3:
		h ^= uint32(key[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	return h ^ h>>15
}

// hashHsieh is Paul Hsieh's SuperFastHash. Its three-byte tail reads the
// last byte as a signed char, which this keeps.
func hashHsieh(key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	var h uint32
	for ; len(key) >= 4; key = key[4:] {
		h += get16(key)
		tmp := get16(key[2:])<<11 ^ h
		h = h<<16 ^ tmp
		h += h >> 11
	}
	switch len(key) {
	case 3:
		h += get16(key)
		h ^= h << 16
		h ^= signed(key[2]) << 18
		h += h >> 11
	case 2:
		h += get16(key)
		h ^= h << 11
		h += h >> 17
	case 1:
		h += uint32(key[0])
		h ^= h << 10
		h += h >> 1
	}
	h ^= h << 3
	h += h >> 5
	h ^= h << 4
	h += h >> 17
	h ^= h << 25
	return h + h>>6
}

func get16(b []byte) uint32 { return uint32(binary.LittleEndian.Uint16(b)) }

// hashJenkins is Bob Jenkins' lookup3 hashlittle with initval 13.
func hashJenkins(key []byte) uint32 {
	a := 0xdeadbeef + uint32(len(key)) + 13
	b, c := a, a
	for ; len(key) > 12; key = key[12:] {
		a += binary.LittleEndian.Uint32(key)
		b += binary.LittleEndian.Uint32(key[4:])
		c += binary.LittleEndian.Uint32(key[8:])
		a, b, c = jenkinsMix(a, b, c)
	}
	if len(key) == 0 {
		return c
	}
	var tail [12]byte
	copy(tail[:], key)
	a += binary.LittleEndian.Uint32(tail[:])
	b += binary.LittleEndian.Uint32(tail[4:])
	c += binary.LittleEndian.Uint32(tail[8:])
	return jenkinsFinal(a, b, c)
}

func jenkinsMix(a, b, c uint32) (uint32, uint32, uint32) {
	a -= c
	a ^= bits.RotateLeft32(c, 4)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 6)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 8)
	b += a
	a -= c
	a ^= bits.RotateLeft32(c, 16)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 19)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 4)
	b += a
	return a, b, c
}

func jenkinsFinal(a, b, c uint32) uint32 {
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}
