// The differential fuzzer's generator: seeded byte streams of classic and
// meta commands, well-formed and malformed, in one key namespace per stream.
package proxy_test

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

// gen writes one stream. It is not safe for concurrent use.
type gen struct {
	r    *rand.Rand
	ns   string // key prefix: fresh state for every stream
	b    strings.Builder
	cmds int
	// small keeps values under 1 KiB (the isolation test's attackers: big
	// values only cost time there).
	small bool
}

func newGen(seed uint64, ns string) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, 0x5eed)), ns: ns}
}

// pick returns one of xs.
func pick[T any](g *gen, xs ...T) T { return xs[g.r.IntN(len(xs))] }

// chance reports true with probability 1/n.
func (g *gen) chance(n int) bool { return g.r.IntN(n) == 0 }

// stream returns about n commands' worth of bytes, or nil when a line of
// it (perhaps two commands a mutation joined) is a retrieval with a key
// over 250 bytes: see longGetKey.
func (g *gen) stream(n int) []byte {
	for g.cmds < n {
		g.command()
	}
	s := g.b.String()
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		get := len(f) > 0 && (f[0] == "get" || f[0] == "gets" || f[0] == "gat" || f[0] == "gats" || f[0] == "bget")
		if get && longGetKey(line) {
			return nil
		}
		if len(line) > 2048 && !strings.HasPrefix(line, "get ") && !strings.HasPrefix(line, "gets ") {
			return nil // memcached's answer depends on how the line arrives
		}
	}
	return []byte(s)
}

// command appends one command, sometimes mutated.
func (g *gen) command() {
	g.cmds++
	var c strings.Builder
	switch g.r.IntN(20) {
	case 0, 1, 2, 3:
		g.storage(&c)
	case 4, 5, 6:
		g.retrieval(&c)
	case 7:
		g.keyNumber(&c)
	case 8:
		g.deleteCmd(&c)
	case 9:
		g.misc(&c)
	case 10, 11, 12:
		g.metaGet(&c)
	case 13, 14:
		g.metaSet(&c)
	case 15:
		g.metaOther(&c)
	case 16:
		g.junk(&c)
	default:
		g.storage(&c)
	}
	s := c.String()
	if len(s) < 2048 && g.chance(12) {
		if m := g.mutate(s); !longGetKey(m) {
			s = m
		}
	}
	g.b.WriteString(s)
}

// longGetKey reports whether a line of s is a retrieval with a key over
// 250 bytes. memcached answers it and also drops its unsent replies to the
// commands before it (conn_release_items), so what the client gets depends
// on timing; an allowed difference, tested on its own.
func longGetKey(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		// As memcached: drop a \r just before the \n, then read a C string.
		line, _, _ = strings.Cut(strings.TrimSuffix(line, "\r"), "\x00")
		for _, k := range strings.Split(line, " ") {
			if len(k) > 250 {
				return true // any command: a mutation may turn it into a get
			}
		}
	}
	return false
}

// key returns a key of the stream, now and then a malformed one.
func (g *gen) key() string {
	k := g.ns + pick(g, "a", "b", "c", "num", "k1", "k2")
	switch g.r.IntN(30) {
	case 0:
		return g.ns + strings.Repeat("L", 250-len(g.ns)) // the longest legal key
	case 1:
		return g.ns + strings.Repeat("X", 251-len(g.ns)) // not in retrievals: see longGetKey
	case 2:
		return k + pick(g, "\x01", "\x7f", "\t", "\r", "\xff", "\x00x", "\x0b")
	case 3:
		return pick(g, "", "noreply", "0")
	}
	return k
}

func (g *gen) b64key() string {
	k := base64.StdEncoding.EncodeToString([]byte(g.key()))
	switch g.r.IntN(8) {
	case 0:
		return strings.TrimRight(k, "=") // memcached wants the padding
	case 1:
		return "!" + k // memcached skips bytes outside the alphabet
	case 2:
		return pick(g, "====", "A===", "AA==", "@@@@", "Zm9v")
	}
	return k
}

// num returns a number token, often one memcached reads in a surprising
// way. None is a small positive number: as a TTL it would expire at a
// moment that differs between the runs being compared.
func (g *gen) num() string {
	return pick(g, "0", "1000", "500", "100", "-1", "+300", "0007000", "4294967295", "4294967296",
		"18446744073709551615", "18446744073709551616", "9223372036854775808", "abc", "1x", "300\t", "-0", "",
		"2147483647", "2147483648", "4294967396")
}

func (g *gen) exptime() string {
	if g.chance(4) {
		return g.num()
	}
	return pick(g, "0", "0", "1000", "-1", "2592001", "99999")
}

// value returns n bytes that start with a letter: memcached reads a
// value made only of white space past its end when asked to incr it, and
// one with leading zeros may shrink (see README, allowed differences).
func (g *gen) value(n int) string {
	const alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b strings.Builder
	b.WriteByte(alpha[g.r.IntN(26)])
	for i := 1; i < n; i++ {
		switch {
		case g.chance(40):
			b.WriteString(pick(g, "\r\n", "\n", "\x00", "\xff", " "))
		default:
			b.WriteByte(alpha[g.r.IntN(len(alpha))])
		}
	}
	return b.String()[:n]
}

// dataLen returns the declared length and the data actually sent.
func (g *gen) dataLen() (decl string, data string) {
	n := pick(g, 0, 1, 3, 10, 100, 1000)
	if g.chance(200) && !g.small {
		n = pick(g, 300<<10, 1<<20, 1<<20+1, 1048000)
	}
	data = g.value(n)
	decl = fmt.Sprint(n)
	switch g.r.IntN(25) {
	case 0:
		decl = fmt.Sprint(n + 1) // the data block runs into the next line
	case 1:
		decl = pick(g, "-1", "abc", "+3", "3\t", "4294967299", "2147483648", "2147483646", "")
		data = g.value(3)
	case 2:
		data += "XY" // a bad data chunk
		return decl, data[:n] + "XY"
	}
	return decl, data + "\r\n"
}

func (g *gen) noreply() string {
	if g.chance(4) {
		return " noreply"
	}
	return ""
}

func (g *gen) storage(c *strings.Builder) {
	cmd := pick(g, "set", "set", "set", "add", "replace", "append", "prepend", "cas")
	flags := pick(g, "0", "0", "5", "4294967295")
	if g.chance(8) {
		flags = g.num()
	}
	decl, data := g.dataLen()
	fmt.Fprintf(c, "%s %s %s %s %s", cmd, g.key(), flags, g.exptime(), decl)
	if cmd == "cas" {
		c.WriteString(" " + pick(g, "999999999999", "0", "x", "18446744073709551615", "-1"))
	}
	c.WriteString(g.noreply())
	if g.chance(15) {
		c.WriteString(" " + pick(g, "extra", "1", "noreply", "0"))
	}
	c.WriteString("\r\n" + data)
}

func (g *gen) retrieval(c *strings.Builder) {
	cmd := pick(g, "get", "get", "gets", "gat", "gats", "bget")
	c.WriteString(cmd)
	if cmd == "gat" || cmd == "gats" {
		if !g.chance(10) {
			c.WriteString(" " + g.exptime())
		}
	}
	n := g.r.IntN(6)
	if (cmd == "get" || cmd == "gets") && g.chance(10) {
		n = 30 + g.r.IntN(40) // more than memcached splits at once
	}
	for i := 0; i < n; i++ {
		k := g.key()
		for len(k) > 250 {
			k = g.key()
		}
		c.WriteString(pick(g, " ", " ", "  ") + k)
	}
	c.WriteString(pick(g, "\r\n", "\r\n", "\n", " \r\n"))
}

func (g *gen) keyNumber(c *strings.Builder) {
	// No decr, and no delta that wraps: a number that gets shorter is
	// padded in place or stored anew as memcached's timing has it (see
	// README, allowed differences).
	cmd := pick(g, "incr", "incr", "touch")
	arg := pick(g, "1", "5", "100")
	if g.chance(3) {
		arg = pick(g, "0", "+300", "abc", "-1", "", "1x", "300\t", "18446744073709551616")
	}
	if cmd == "touch" {
		arg = g.exptime()
	}
	fmt.Fprintf(c, "%s %s %s%s", cmd, g.key(), arg, g.noreply())
	if g.chance(10) {
		c.WriteString(" junk")
	}
	c.WriteString("\r\n")
	if g.chance(3) {
		fmt.Fprintf(c, "set %snum 0 0 2\r\n%d\r\n", g.ns, 10+g.r.IntN(90))
	}
}

func (g *gen) deleteCmd(c *strings.Builder) {
	c.WriteString("delete " + g.key())
	c.WriteString(pick(g, "", "", " 0", " noreply", " 0 noreply", " 1", " 1 noreply", " x y z", " noreply 0"))
	c.WriteString("\r\n")
}

func (g *gen) misc(c *strings.Builder) {
	c.WriteString(pick(g, "version\r\n", "verbosity 0\r\n", "verbosity\r\n", "verbosity x\r\n",
		"verbosity 0 noreply\r\n", "verbosity noreply\r\n", "mn\r\n", "mn x y\r\n", "flush_all\r\n",
		"flush_all 0\r\n", "flush_all noreply\r\n", "flush_all x\r\n", "flush_all -1\r\n",
		"flush_all 0 0 0\r\n", "\r\n", "\n", " \r\n", "quit\r\n"))
}

// flag returns one meta flag token, sometimes malformed.
func (g *gen) flag() string {
	f := pick(g, "v", "k", "c", "f", "s", "t", "h", "l", "u", "q", "O123", "T100", "N100", "R30",
		"I", "E", "P", "L", "b", "F5", "C999999999", "MS", "ME", "MA", "MP", "MR", "MI", "M+", "J5", "D3")
	switch g.r.IntN(12) {
	case 0:
		f = pick(g, "qq", "q9", "quiet", "vv", "kx", "bx", "Oabc"+strings.Repeat("x", 40), "Tx", "N", "Fx",
			"F4294967296", "C-1", "Cx", "Mxy", "M", "Mz", "Jx", "D-1", "Z", "z", "1", "\x7f", "\x80", "\xff", "T-1", "T2147483648")
	case 1:
		f = string(rune('A'+g.r.IntN(58))) + g.num()
	}
	return f
}

func (g *gen) flags(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(" " + g.flag())
	}
	return b.String()
}

func (g *gen) nflags() int {
	if g.chance(15) {
		return 15 + g.r.IntN(10) // around memcached's token limit
	}
	return g.r.IntN(4)
}

func (g *gen) metaKey() (key, extra string) {
	if g.chance(6) {
		return g.b64key(), " b"
	}
	return g.key(), ""
}

func (g *gen) metaGet(c *strings.Builder) {
	k, b := g.metaKey()
	fmt.Fprintf(c, "mg %s%s%s\r\n", k, b, g.flags(g.nflags()))
	if g.chance(4) {
		c.WriteString("mn\r\n")
	}
}

func (g *gen) metaSet(c *strings.Builder) {
	k, b := g.metaKey()
	decl, data := g.dataLen()
	if g.chance(30) {
		decl = ""
	}
	fmt.Fprintf(c, "ms %s %s%s%s\r\n%s", k, decl, b, g.flags(g.nflags()), data)
}

func (g *gen) metaOther(c *strings.Builder) {
	k, b := g.metaKey()
	cmd := pick(g, "md", "md", "ma", "ma", "me")
	if cmd == "me" && g.chance(3) {
		b = " b"
	}
	fmt.Fprintf(c, "%s %s%s%s\r\n", cmd, k, b, g.flags(g.nflags()))
}

func (g *gen) junk(c *strings.Builder) {
	switch g.r.IntN(5) {
	case 0:
		c.WriteString(pick(g, "bogus\r\n", "GETS x\r\n", "m\r\n", "mz k\r\n", "g\r\n", "gx k\r\n",
			"mg\r\n", "ms\r\n", "ms k\r\n", "md\r\n", "me\r\n", "get\r\n", "gat\r\n", "gat 10\r\n",
			"gat k\r\n", "set\r\n", "set a b 0 0 1\r\n", "incr\r\n", "delete\r\n", "touch k\r\n", "cas k 0 0 1\r\n"))
	default:
		n := 1 + g.r.IntN(40)
		var b []byte
		for i := 0; i < n; i++ {
			b = append(b, byte(g.r.IntN(256)))
		}
		c.Write(b)
		c.WriteString("\r\n")
	}
}

// mutate flips, inserts or deletes a byte of s.
func (g *gen) mutate(s string) string {
	if len(s) == 0 {
		return s
	}
	b := []byte(s)
	i := g.r.IntN(len(b))
	switch g.r.IntN(4) {
	case 0:
		b[i] = byte(g.r.IntN(256))
	case 1:
		b = append(b[:i], b[i+1:]...)
	case 2:
		b = append(b[:i], append([]byte{pick(g, byte(' '), '\r', '\n', 0, 'q', '0', 0x80)}, b[i:]...)...)
	default:
		b[i] ^= 1 << g.r.IntN(8)
	}
	return string(b)
}
