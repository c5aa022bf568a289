// Hash functions against golden vectors from reference implementations.

package ring

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestHashVectors checks every row of testdata/hashvectors.tsv, computed by
// libmemcached's libhashkit (whose functions twemproxy copied) and zlib.
func TestHashVectors(t *testing.T) {
	f, err := os.Open("testdata/hashvectors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, key, want, ok := parseVector(t, sc.Text())
		if !ok {
			continue
		}
		rows[name]++
		if got := hashes[name](key); got != want {
			t.Errorf("%s(%q): got %08x; want %08x", name, key, got, want)
		}
	}
	for _, name := range []string{"one_at_a_time", "md5", "crc32", "crc32a", "fnv1_64",
		"fnv1a_64", "fnv1_32", "fnv1a_32", "murmur", "jenkins"} {
		if rows[name] < 50 {
			t.Errorf("%s: %d vectors; want >= 50", name, rows[name])
		}
	}
}

func parseVector(t *testing.T, line string) (name string, key []byte, want uint32, ok bool) {
	t.Helper()
	if strings.HasPrefix(line, "#") {
		return "", nil, 0, false
	}
	f := strings.Split(line, "\t")
	if len(f) != 3 {
		t.Fatalf("bad vector line %q", line)
	}
	key, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(f[2], 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	if hashes[f[0]] == nil {
		t.Fatalf("vector for unknown hash %q", f[0])
	}
	return f[0], key, uint32(v), true
}

// TestHashKnown pins values with no library reference on this machine
// (crc16, hsieh) and classic check values; nutcracker's golden placements
// (twemproxy_crc16.tsv, twemproxy_hsieh.tsv) back them up.
func TestHashKnown(t *testing.T) {
	tests := []struct {
		hash string
		key  string
		want uint32
	}{
		{"crc32a", "123456789", 0xcbf43926},               // CRC-32/IEEE check value
		{"fnv1a_32", "a", 0xe40c292c},                     // FNV-1a test suite
		{"fnv1_32", "a", 0x050c5d7e},                      // FNV-1 test suite
		{"fnv1a_64", "\x80", 0x79fdec5f},                  // (0x84222325 ^ 0xffffff80) * 0x1b3: the byte is a signed char
		{"one_at_a_time", "", 0},                          // no bytes, no mixing
		{"hsieh", "", 0},                                  // twemproxy returns 0 for no bytes
		{"md5", "", 0xd98c1dd4},                           // d41d8cd9... little-endian
		{"jenkins", "", 0xdeadbeef + 13},                  // lookup3 returns c untouched
		{"murmur", "", 0},                                 // seed 0 ^ length 0, mixed
		{"crc32", "123456789", 0xcbf43926 >> 16 & 0x7fff}, // libmemcached's "crc"
	}
	for _, tt := range tests {
		if got := hashes[tt.hash]([]byte(tt.key)); got != tt.want {
			t.Errorf("%s(%q): got %08x; want %08x", tt.hash, tt.key, got, tt.want)
		}
	}
	// twemproxy's crc16 never masks its uint32: only the low half is the
	// CRC-16/XMODEM check value.
	if got := hashCRC16([]byte("123456789")); got&0xffff != 0x31c3 {
		t.Errorf("crc16(123456789) & 0xffff: got %04x; want 31c3", got&0xffff)
	}
}

func TestHashes(t *testing.T) {
	got := Hashes()
	slices.Sort(got)
	want := []string{"crc16", "crc32", "crc32a", "fnv1_32", "fnv1_64", "fnv1a_32", "fnv1a_64",
		"hsieh", "jenkins", "md5", "murmur", "one_at_a_time"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Hashes() = %v; want %v", got, want)
	}
}
