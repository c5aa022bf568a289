// Meta-protocol conformance: a differential test. Each case, taken from
// memcached's doc/protocol.txt (1.6.18, the version CI installs), runs
// against memcached directly and through shepherd in front of that same
// node, and the replies must be the same bytes once metaNormalize has
// masked what legitimately differs.
package proxy_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// metaCase is one conformance case. Each step is written in one go
// (pipelined) followed by "mn\r\n", and its replies are read up to that
// last MN (one more MN than the step has mn commands of its own).
//
// Steps are templates, expanded per side so that the two sides use
// different keys of the same length (so that sizes in me output agree):
//
//	{x}       key x: the side's prefix ("d012." or "s012.") and "x"
//	{250:x}   key x padded with '-' to 250 bytes, the longest legal key
//	{b64:x}   key x in base64, for the b flag
//	{bin:x}   key x followed by the bytes 00 20 ff, in base64
//	{cas}     the last CAS this side has seen in the case (c token or cas=)
//	{cas-1}   one less than that: a stale CAS
type metaCase struct {
	name  string
	steps []string
	// own, when set, holds per step the normalized reply shepherd gives by
	// itself instead of relaying memcached's; the direct reply is logged.
	own []string
	// bug, when set, skips the case: it shows a shepherd discrepancy.
	bug string
}

func TestMetaConformance(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	for i, tc := range metaCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.bug != "" {
				t.Skip("BUG: " + tc.bug)
			}
			direct := &metaSide{c: dial(t, f.nodes[0].Addr), prefix: fmt.Sprintf("d%03d.", i)}
			proxied := &metaSide{c: dial(t, f.addr), prefix: fmt.Sprintf("s%03d.", i)}
			for j, step := range tc.steps {
				d, derr := direct.run(step)
				s, serr := proxied.run(step)
				if tc.own != nil {
					t.Logf("case %s: memcached alone answers %q", tc.name, d)
					if s != tc.own[j] {
						t.Fatalf("case %s: through shepherd %q; want shepherd's own %q", tc.name, s, tc.own[j])
					}
				} else if d != s {
					t.Fatalf("case %s: direct %q; through shepherd %q", tc.name, d, s)
				}
				if derr != nil || serr != nil {
					t.Fatalf("case %s: read errors: direct %v; through shepherd %v", tc.name, derr, serr)
				}
			}
		})
	}
}

// metaSide is one side of a case: a connection and its key namespace.
type metaSide struct {
	c      *conn
	prefix string
	back   map[string]string // expansion -> placeholder, to map replies back
	cas    uint64
}

var metaPlaceholder = regexp.MustCompile(`\{(cas-1|cas|(250|b64|bin):[a-z0-9]+|[a-z0-9]+)\}`)

// run sends one step and returns its normalized replies.
func (s *metaSide) run(step string) (string, error) {
	s.c.send(s.expand(step) + "mn\r\n")
	frames, err := metaRead(s.c, metaNoops(step)+1)
	s.capture(frames)
	return metaNormalize(frames, s.back), err
}

// metaNoops counts the mn commands a step holds: lines "mn" or "mn ...".
// (A data block that holds such a line would be miscounted; none does.)
func metaNoops(step string) int {
	n := 0
	for _, line := range strings.Split(step, "\n") {
		if line == "mn\r" || strings.HasPrefix(line, "mn ") {
			n++
		}
	}
	return n
}

func (s *metaSide) expand(step string) string {
	return metaPlaceholder.ReplaceAllStringFunc(step, func(m string) string {
		name := m[1 : len(m)-1]
		switch {
		case name == "cas":
			return strconv.FormatUint(s.cas, 10)
		case name == "cas-1":
			return strconv.FormatUint(s.cas-1, 10)
		}
		var v string
		switch kind, rest, _ := strings.Cut(name, ":"); kind {
		case "250":
			v = s.prefix + rest
			v += strings.Repeat("-", 250-len(v))
		case "b64":
			v = base64.StdEncoding.EncodeToString([]byte(s.prefix + rest))
		case "bin":
			v = base64.StdEncoding.EncodeToString([]byte(s.prefix + rest + "\x00 \xff"))
		default:
			v = s.prefix + name
		}
		if s.back == nil {
			s.back = make(map[string]string)
		}
		s.back[v] = m
		return v
	})
}

var (
	metaCASToken = regexp.MustCompile(`^c([1-9][0-9]*)$`)
	metaCASField = regexp.MustCompile(`^cas=([0-9]+)$`)
)

// capture remembers the last CAS value the replies showed.
func (s *metaSide) capture(frames []metaFrame) {
	for _, fr := range frames {
		for _, tok := range strings.Fields(fr.head) {
			m := metaCASToken.FindStringSubmatch(tok)
			if m == nil {
				m = metaCASField.FindStringSubmatch(tok)
			}
			if m != nil {
				s.cas, _ = strconv.ParseUint(m[1], 10, 64)
			}
		}
	}
}

// metaFrame is one reply line and the data block that follows it, if any.
type metaFrame struct {
	head string // without CRLF
	data []byte // with its CRLF; nil when the line has no data block
}

// metaRead reads replies up to and including the n-th MN line. A data
// block follows "VA <size> ..." and "VALUE <key> <flags> <size> ..." lines
// and is read by its length, so that a value may hold anything.
func metaRead(c *conn, n int) ([]metaFrame, error) {
	var frames []metaFrame
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for n > 0 {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return append(frames, metaFrame{head: "<read error: " + err.Error() + "> " + line}), err
		}
		fr := metaFrame{head: strings.TrimSuffix(line, "\r\n")}
		if size, ok := metaDataSize(fr.head); ok {
			fr.data = make([]byte, size+2)
			if _, err := io.ReadFull(c.br, fr.data); err != nil {
				return append(frames, fr), err
			}
		}
		if fr.head == "MN" {
			n--
		}
		frames = append(frames, fr)
	}
	return frames, nil
}

// metaDataSize reports the size of the data block that follows head.
func metaDataSize(head string) (int, bool) {
	f := strings.Fields(head)
	switch {
	case len(f) >= 2 && f[0] == "VA":
		n, err := strconv.Atoi(f[1])
		return n, err == nil
	case len(f) >= 4 && f[0] == "VALUE":
		n, err := strconv.Atoi(f[3])
		return n, err == nil
	}
	return 0, false
}

// metaNormalize renders frames as wire bytes, masking in reply lines (never
// in data blocks) what legitimately differs between the two sides:
//   - the side's keys become their placeholders ({a}, {b64:a}, ...);
//   - CAS values: c<n> with n > 0 becomes c#, me's cas=<n> becomes cas=#,
//     and the CAS of a gets VALUE line becomes #;
//   - TTL countdowns: t<n> and me's exp=<n> are rounded to the nearest
//     hundred seconds (t500 and t499 both become t~5), so cases use TTLs
//     that are multiples of 100; t-1 and exp=-1 (no expiry) stay. memcached
//     1.6.18 prints exp as minus the seconds left (exp=-500): the sign stays;
//   - seconds since last access: l<n> and me's la=<n> become l# and la=#.
//
// Opaques, keys, sizes, client flags, hit bits, W/X/Z and codes stay as sent.
func metaNormalize(frames []metaFrame, back map[string]string) string {
	var olds []string
	for k := range back {
		olds = append(olds, k)
	}
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	var pairs []string
	for _, k := range olds {
		pairs = append(pairs, k, back[k])
	}
	keys := strings.NewReplacer(pairs...)
	var b strings.Builder
	for _, fr := range frames {
		b.WriteString(metaMask(keys.Replace(fr.head)))
		b.WriteString("\r\n")
		b.Write(fr.data)
	}
	return b.String()
}

var metaCodes = map[string]bool{"VA": true, "HD": true, "EN": true, "NF": true, "NS": true, "EX": true, "MN": true, "ME": true}

// metaMask masks the volatile tokens of one meta reply line.
func metaMask(head string) string {
	toks := strings.Split(head, " ")
	if toks[0] == "VALUE" && len(toks) == 5 {
		toks[4] = "#" // the CAS of a gets
		return strings.Join(toks, " ")
	}
	if !metaCodes[toks[0]] {
		return head
	}
	for i := 1; i < len(toks); i++ {
		if i == 1 && toks[0] == "VA" {
			continue // the data size
		}
		toks[i] = metaMaskToken(toks[i])
	}
	return strings.Join(toks, " ")
}

var metaVolatile = regexp.MustCompile(`^(c|t|l|cas=|exp=|la=)(-?)([0-9]+)$`)

func metaMaskToken(tok string) string {
	m := metaVolatile.FindStringSubmatch(tok)
	switch {
	case m == nil, m[1] == "c" && m[3] == "0", m[2] == "-" && m[3] == "1":
		return tok
	case m[1] == "t" || m[1] == "exp=":
		n, _ := strconv.Atoi(m[3])
		return m[1] + m[2] + "~" + strconv.Itoa((n+50)/100)
	}
	return m[1] + m[2] + "#"
}

// metaCases lists the cases, grouped as protocol.txt describes the commands.
func metaCases() []metaCase {
	var cs []metaCase
	for _, group := range [][]metaCase{metaGetCases(), metaSetCases(), metaDeleteCases(),
		metaArithmeticCases(), metaOtherCases(), metaPipelineCases(), metaOwnCases()} {
		cs = append(cs, group...)
	}
	return cs
}

func metaGetCases() []metaCase {
	opaque32 := "O" + strings.Repeat("o", 31)
	return []metaCase{
		{name: "mg/miss", steps: []string{"mg {a} v\r\nmg {a}\r\nmg {a} v k O1 t c f s\r\n"}},
		{name: "mg/hit v s f t c k O", steps: []string{
			"ms {a} 5 T0 F42\r\nhello\r\nmg {a} v s f t c k O123\r\nmg {a} s\r\nmg {a}\r\n"}},
		{name: "mg/flags come back in request order", steps: []string{
			"ms {a} 2 F3 T0\r\nhi\r\nmg {a} O9 k f s v\r\nmg {a} s f O8 k\r\n"}},
		{name: "mg/q suppresses EN", steps: []string{"mg {a} v q\r\nmg {a} q\r\nmg {a} k O1 q\r\n"}},
		{name: "mg/q on a hit", steps: []string{"ms {a} 2\r\nhi\r\nmg {a} v q\r\nmg {a} q\r\nmg {a} k q O4\r\n"}},
		{name: "mg/h l u", steps: []string{"ms {a} 2\r\nhi\r\nmg {a} h l\r\nmg {a} h l t\r\nmg {b} u h\r\n",
			"ms {b} 1\r\nx\r\nmg {b} u h\r\nmg {b} h\r\nmg {b} h\r\n"}},
		{name: "mg/T touches", steps: []string{"ms {a} 1 T100\r\nx\r\nmg {a} T500 t v\r\nmg {a} t\r\nmg {b} T500 t\r\n"}},
		{name: "mg/T to no expiry", steps: []string{"ms {a} 1 T100\r\nx\r\nmg {a} T0 t\r\nmg {a} t\r\n"}},
		{name: "mg/N vivifies: W then Z", steps: []string{
			"mg {a} N300 v c t s\r\nmg {a} N300 v t\r\nmg {a} v t\r\n",
			"ms {a} 3 T600\r\nnew\r\nmg {a} v t\r\nmg {a} N300 v\r\n"}},
		{name: "mg/N with q", steps: []string{"mg {a} N300 q v\r\nmg {a} N300 q v\r\nmg {a} q k\r\n"}},
		{name: "mg/N without v", steps: []string{"mg {a} N300 t\r\nmg {a} N300 s t\r\n"}},
		{name: "mg/R wins recache below TTL", steps: []string{
			"ms {a} 1 T100\r\nx\r\nmg {a} R200 v t\r\nmg {a} R200 v t\r\nmg {a} R5 v\r\n",
			"ms {b} 1 T500\r\ny\r\nmg {b} R200 v t\r\n"}},
		{name: "mg/X after md I", steps: []string{
			"ms {a} 1 T100\r\nx\r\nmd {a} I T300\r\nmg {a} v t\r\nmg {a} v\r\nmg {a} v q\r\n"}},
		{name: "mg/b base64 key", steps: []string{
			"ms {b64:a} 2 b\r\nhi\r\nmg {b64:a} b k v\r\nmg {a} k v\r\nmg {b64:z} b v\r\nmg {b64:z} b k O1\r\n"}},
		{name: "mg/b binary key", steps: []string{
			"ms {bin:a} 3 b F5\r\nbin\r\nmg {bin:a} b k v f\r\nmg {bin:a} v\r\n"}},
		{name: "mg/O empty and 32 bytes", steps: []string{
			"ms {a} 2\r\nhi\r\nmg {a} O v\r\nmg {a} k O\r\nmg {a} v " + opaque32 + "\r\nmg {b} " + opaque32 + "\r\n"}},
		{name: "mg/O over 32 bytes", steps: []string{"mg {a} v " + opaque32 + "o\r\n"}},
		{name: "mg/P and L ignored", steps: []string{"ms {a} 2\r\nhi\r\nmg {a} P/foo Lbar v\r\n"}},
		{name: "mg/invalid flag", steps: []string{"mg {a} j\r\nmg {a} v 1\r\n"}},
		{name: "mg/duplicate flag", steps: []string{"ms {a} 2\r\nhi\r\nmg {a} v v\r\nmg {a} k O1 O2\r\n"}},
		{name: "mg/duplicate q", steps: []string{"ms {a} 2\r\nhi\r\nmg {a} q q v\r\n"}},
		{name: "mg/key of 250 bytes", steps: []string{"ms {250:a} 2\r\nhi\r\nmg {250:a} v k\r\nme {250:a}\r\nmd {250:a}\r\n"}},
		{name: "mg/no key", steps: []string{"mg\r\n"}},
		{name: "mg/extra spaces", steps: []string{"ms {a} 2\r\nhi\r\nmg  {a}   v  k\r\n"}},
	}
}

func metaSetCases() []metaCase {
	big := strings.Repeat("x", 1<<20) // shepherd's limit, over memcached's item size
	return []metaCase{
		{name: "ms/T F", steps: []string{"ms {a} 2 T0 F7\r\nhi\r\nmg {a} v f t s\r\n"}},
		{name: "ms/T TTL", steps: []string{"ms {a} 2 T500\r\nhi\r\nmg {a} t v\r\nme {a}\r\n"}},
		{name: "ms/T-1 expires at once", steps: []string{"ms {a} 2 T-1\r\nhi\r\nmg {a} v\r\n"}},
		{name: "ms/F 32 bits and over", steps: []string{
			"ms {a} 2 F4294967295\r\nhi\r\nmg {a} f\r\nms {b} 2 F4294967296\r\nhi\r\nmg {b} f\r\nms {c} 2 Fx\r\nhi\r\n"}},
		{name: "ms/c k O", steps: []string{"ms {a} 2 c k O5\r\nhi\r\nms {b} 2 MR c k O6\r\nhi\r\n"}},
		{name: "ms/empty value", steps: []string{"ms {a} 0\r\n\r\nmg {a} v s\r\n"}},
		{name: "ms/value holding reply lines", steps: []string{"ms {a} 12\r\nMN\r\nVA 1\r\nEN\r\nmg {a} v\r\nmg {a} s\r\n"}},
		{name: "ms/C match", steps: []string{"ms {a} 2 c\r\nhi\r\n", "ms {a} 2 C{cas} c\r\nyo\r\nmg {a} v\r\n"}},
		{name: "ms/C mismatch EX", steps: []string{"ms {a} 2 c\r\nhi\r\n", "ms {a} 2 C{cas-1} c\r\nyo\r\nmg {a} v\r\n"}},
		{name: "ms/C on a miss NF", steps: []string{"ms {a} 2 C123\r\nhi\r\nmg {a} v\r\n"}},
		{name: "ms/I with an older CAS marks stale", steps: []string{
			"ms {a} 2 c\r\nhi\r\nmg {a} c\r\n", "ms {a} 2 I C{cas-1}\r\nyo\r\nmg {a} v c\r\nmg {a} v\r\n"}},
		{name: "ms/I with a newer CAS", steps: []string{"ms {a} 2 c\r\nhi\r\n", "ms {a} 2 I C18446744073709551615\r\nyo\r\nmg {a} v\r\n"}},
		{name: "ms/I alone", steps: []string{"ms {a} 2 I\r\nhi\r\nmg {a} v\r\n"}},
		{name: "ms/q hides HD only", steps: []string{
			"ms {a} 2 q\r\nhi\r\nms {a} 2 q ME\r\nho\r\nms {b} 2 q MR\r\nho\r\nms {a} 2 q C1\r\nho\r\nmg {a} v\r\n"}},
		{name: "ms/ME add", steps: []string{"ms {a} 1 ME\r\na\r\nms {a} 1 ME\r\nb\r\nmg {a} v\r\n"}},
		{name: "ms/MA append", steps: []string{"ms {a} 1 MA\r\nb\r\nms {a} 1\r\na\r\nms {a} 1 MA F9\r\nz\r\nmg {a} v f\r\n"}},
		{name: "ms/MP prepend", steps: []string{"ms {a} 1 MP\r\nb\r\nms {a} 1\r\na\r\nms {a} 1 MP\r\nz\r\nmg {a} v\r\n"}},
		{name: "ms/MR replace", steps: []string{"ms {a} 1 MR\r\nb\r\nms {a} 1\r\na\r\nms {a} 1 MR\r\nz\r\nmg {a} v\r\n"}},
		{name: "ms/MS set", steps: []string{"ms {a} 1 MS\r\nb\r\nms {a} 1 MS T0\r\nc\r\nmg {a} v\r\n"}},
		{name: "ms/lowercase mode", steps: []string{"ms {a} 1 Ms\r\nb\r\nms {a} 1 Me\r\nc\r\nmg {a} v\r\n"}},
		{name: "ms/invalid mode", steps: []string{"ms {a} 1 MX\r\nq\r\nmg {a} v\r\n"}},
		{name: "ms/MA with C", steps: []string{"ms {a} 1 c\r\na\r\n",
			"ms {a} 1 MA C{cas-1}\r\nb\r\nms {a} 1 MP C{cas}\r\nc\r\nmg {a} v\r\n"}},
		{name: "ms/b base64", steps: []string{"ms {b64:a} 2 b k\r\nhi\r\nmg {a} v\r\n"}},
		{name: "ms/invalid flag", steps: []string{"ms {a} 2 x\r\nhi\r\nmg {a} v\r\n"}},
		{name: "ms/bad T token", steps: []string{"ms {a} 2 Tabc\r\nhi\r\nmg {a} v\r\n"}},
		{name: "ms/no datalen", steps: []string{"ms {a}\r\n"}},
		{name: "ms/bad datalen", steps: []string{"ms {a} abc\r\nabc\r\n"}},
		{name: "ms/negative datalen", steps: []string{"ms {a} -1\r\n"}},
		{name: "ms/data chunk too long", steps: []string{"ms {a} 3\r\nabcd\r\nmg {a} v\r\n"}},
		{name: "ms/data chunk too short", steps: []string{"ms {a} 5\r\nab\r\nxy\r\nmg {a} v\r\n"}},
		{name: "ms/data without CRLF", steps: []string{"ms {a} 2\r\nhixx\r\nmg {a} v\r\n"}},
		// memcached rejects these two lines before it reads the data block,
		// then runs the block as a command (here "hi": ERROR). shepherd
		// refuses them itself as memcached does and reads the block as the
		// next command too; nothing extra reaches the backend.
		{name: "ms/too many flags", steps: []string{"ms {a} 2" + metaManyFlags + "\r\nhi\r\nmg {a} v\r\n", "ms {a} 2\r\nok\r\nmg {a} v\r\n"}},
		{name: "ms/b key over 250 bytes encoded", steps: []string{"ms " + metaB64Key200 + " 2 b\r\nhi\r\nmg {a} v\r\n", "ms {a} 2\r\nok\r\nmg {a} v\r\n"}},
		{name: "mg/too many flags", steps: []string{"mg {a} v" + metaManyFlags + "\r\n"}},
		{name: "mg/b key over 250 bytes encoded", steps: []string{"mg " + metaB64Key200 + " b v\r\n"}},
		{name: "ms/too large for memcached", steps: []string{"ms {a} " + strconv.Itoa(len(big)) + "\r\n" + big + "\r\nmg {a} v\r\n"}},
		{name: "ms/q too large", steps: []string{"ms {a} " + strconv.Itoa(len(big)) + " q\r\n" + big + "\r\nmg {a} v\r\n"}},
	}
}

var (
	metaManyFlags = strings.Repeat(" P", 25)
	metaB64Key200 = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 200)))
)

func metaDeleteCases() []metaCase {
	return []metaCase{
		{name: "md/hit and miss", steps: []string{"md {a}\r\nms {a} 1\r\nx\r\nmd {a}\r\nmg {a} v\r\nmd {a}\r\n"}},
		{name: "md/q hides HD only", steps: []string{"ms {a} 1\r\nx\r\nmd {a} q\r\nmd {a} q\r\nmg {a} v\r\n"}},
		{name: "md/k O", steps: []string{"md {a} k O5\r\nms {a} 1\r\nx\r\nmd {a} k O6\r\n"}},
		{name: "md/C", steps: []string{"ms {a} 1 c\r\nx\r\n", "md {a} C{cas-1}\r\nmd {a} C{cas}\r\nmg {a} v\r\n"}},
		{name: "md/I T marks stale", steps: []string{"ms {a} 1 T100\r\nx\r\nmd {a} I T500\r\nmg {a} v t c\r\nme {a}\r\n"}},
		{name: "md/I on a miss", steps: []string{"md {a} I\r\nmd {a} I T30 q\r\n"}},
		{name: "md/T without I", steps: []string{"ms {a} 1 T100\r\nx\r\nmd {a} T500\r\nmg {a} v\r\n"}},
		{name: "md/b", steps: []string{"ms {a} 1\r\nx\r\nmd {b64:a} b k\r\nmg {a} v\r\n"}},
		{name: "md/x not in 1.6.18", steps: []string{"ms {a} 1\r\nx\r\nmd {a} x\r\nmg {a} v\r\n"}},
		{name: "md/invalid flag", steps: []string{"md {a} v\r\nmd {a} Cx\r\n"}},
		{name: "md/no key", steps: []string{"md\r\n"}},
	}
}

func metaArithmeticCases() []metaCase {
	return []metaCase{
		{name: "ma/miss and non-numeric", steps: []string{"ma {a}\r\nma {a} v\r\nms {a} 2\r\nhi\r\nma {a}\r\n"}},
		{name: "ma/N J create", steps: []string{"ma {a} N0 J10 v t c\r\nma {a} N0 J99 v\r\nma {b} N500 t\r\nmg {b} v t\r\n"}},
		{name: "ma/incr decr modes", steps: []string{
			"ms {a} 2\r\n10\r\nma {a} MI D5 v\r\nma {a} M+ v\r\nma {a} MD D3 v\r\nma {a} M- D100 v\r\nma {a} Mi v\r\nma {a} Md v\r\n"}},
		{name: "ma/default incr by one", steps: []string{"ms {a} 1\r\n7\r\nma {a}\r\nmg {a} v\r\n"}},
		{name: "ma/overflow wraps", steps: []string{"ma {a} N0 J18446744073709551615 v\r\nma {a} v\r\nma {a} D18446744073709551615 v\r\n"}},
		{name: "ma/invalid mode", steps: []string{"ms {a} 1\r\n1\r\nma {a} MX v\r\n"}},
		{name: "ma/bad delta", steps: []string{"ms {a} 1\r\n1\r\nma {a} Dabc v\r\nma {a} D-1 v\r\nma {a} N0 J-5 v\r\n"}},
		{name: "ma/T t", steps: []string{"ms {a} 1 T100\r\n1\r\nma {a} T500 t v\r\nmg {a} t\r\nma {a} t\r\n"}},
		{name: "ma/C", steps: []string{"ma {a} N0 c\r\n", "ma {a} C{cas-1} v\r\nma {a} C{cas} v c\r\n"}},
		{name: "ma/q", steps: []string{"ma {a} q\r\nma {a} N0 q\r\nma {a} q v\r\nma {a} q\r\nma {a} v\r\n"}},
		{name: "ma/k O", steps: []string{"ma {a} k O1\r\nma {a} N0 k O2 v\r\n"}},
		{name: "ma/b", steps: []string{"ma {b64:a} b N0 J4 v k\r\nmg {a} v\r\n"}},
		{name: "ma/leading zeros and spaces in value", steps: []string{"ms {a} 3\r\n007\r\nma {a} v\r\nms {b} 3\r\n 7 \r\nma {b} v\r\n"}},
		{name: "ma/no key", steps: []string{"ma\r\n"}},
	}
}

func metaOtherCases() []metaCase {
	return []metaCase{
		{name: "mn", steps: []string{"mn\r\n", "mn\r\nmn\r\n", "mn extra tokens\r\n", "mg {a} v q\r\nmn\r\n"}},
		{name: "me/hit and miss", steps: []string{"ms {a} 2 T0\r\nhi\r\nme {a}\r\nmg {a} v\r\nme {a}\r\nme {b}\r\n"}},
		{name: "me/TTL", steps: []string{"ms {a} 2 T900\r\nhi\r\nme {a}\r\n"}},
		{name: "me/b", steps: []string{"ms {a} 2\r\nhi\r\nme {b64:a} b\r\nme {b64:z} b\r\n"}},
		{name: "me/flags ignored", steps: []string{"ms {a} 2\r\nhi\r\nme {a} q\r\nme {a} v k\r\n"}},
		{name: "me/no key", steps: []string{"me\r\n"}},
		{name: "mixed with classic commands", steps: []string{
			"set {a} 3 0 2\r\nhi\r\nmg {a} v f\r\nms {b} 2 F4\r\nyo\r\nget {a} {b}\r\ngets {b}\r\nincr {a} 1\r\ndelete {b}\r\nmg {b} v\r\n"}},
		{name: "unknown two-letter command", steps: []string{"mz {a}\r\nMG {a} v\r\n"}},
	}
}

func metaPipelineCases() []metaCase {
	var set, get, mixed strings.Builder
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&set, "ms {k%d} 2 q F%d\r\nv%d\r\n", 2*i, i, i)
	}
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&get, "mg {k%d} v k f q O%d\r\n", i, i)
	}
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&mixed, "mg {k%d} s O%d q\r\nmd {k%d} q\r\nma {n%d} N0 J%d q v\r\n", i, i, i+1, i, i)
	}
	return []metaCase{
		{name: "pipeline/quiet sets then quiet gets", steps: []string{set.String() + get.String()}},
		{name: "pipeline/quiet mixed hits misses deletes", steps: []string{set.String(), mixed.String(), get.String()}},
		{name: "pipeline/quiet with an error in the middle", steps: []string{
			"ms {a} 1 q\r\nx\r\nmg {a} v q\r\nmg {a} j q\r\nmg {b} v q\r\nms {b} 1 q Tz\r\ny\r\nmg {a} k q\r\n"}},
		{name: "pipeline/opaques over hits and misses", steps: []string{
			"ms {a} 1\r\na\r\nms {c} 1\r\nc\r\nmg {a} v O1\r\nmg {b} v O2\r\nmg {c} v O3\r\nmg {d} v O4\r\nmd {a} O5\r\nmd {b} O6\r\n"}},
		{name: "pipeline/mn between quiet groups", steps: []string{
			"ms {a} 1 q\r\nx\r\nmg {b} v q\r\nmn\r\nmg {a} v q\r\nmn\r\nmg {b} q\r\n"}},
	}
}

// metaOwnCases are requests shepherd refuses itself, before any backend
// sees them, with memcached's own answers.
func metaOwnCases() []metaCase {
	k251 := strings.Repeat("k", 251)
	b251 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 251)))
	return []metaCase{
		{name: "own/mg key of 251 bytes", steps: []string{"mg " + k251 + " v\r\n"}},
		{name: "own/md key of 251 bytes", steps: []string{"md " + k251 + "\r\n"}},
		{name: "own/ma key of 251 bytes", steps: []string{"ma " + k251 + "\r\n"}},
		{name: "own/me key of 251 bytes", steps: []string{"me " + k251 + "\r\n"}},
		// memcached does not swallow the data block and answers ERROR for
		// it as a command line.
		{name: "own/ms key of 251 bytes", steps: []string{"ms " + k251 + " 2\r\nhi\r\n"}},
		{name: "mg/b key decoding to 251 bytes", steps: []string{"mg " + b251 + " b v\r\n"}},
		{name: "own/mg b bad base64", steps: []string{"mg !!! b v\r\n"}},
		{name: "own/ms b bad base64", steps: []string{"ms !!! 2 b\r\nhi\r\n"}},
		{name: "own/mg bx is b", steps: []string{"ms {b64:a} 2 bx\r\nhi\r\nmg {a} v\r\n"}},
		// memcached stores and serves keys with control characters.
		{name: "own/key with a control character", steps: []string{"ms {a}\x01b 2\r\nhi\r\nmg {a}\x01b v\r\n"}},
		{name: "own/ms over shepherd's value limit", steps: []string{
			"ms {a} 2000000\r\n" + strings.Repeat("x", 2000000) + "\r\nmg {a} v\r\n"}},
		// memcached reads a flag by its first byte: these are quiet.
		{name: "own/quiet long forms", steps: []string{"mg {a} v qq\r\nmd {a} q9\r\nms {a} 1 quiet\r\nx\r\nmg {a} v qX\r\nma {a} qq\r\n"}},
	}
}
