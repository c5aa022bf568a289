//go:build ignore

// Command gen regenerates ring's golden tables, testdata/*.tsv, from the
// implementations shepherd must agree with: keys are stored through a real
// nutcracker (twemproxy) or through pylibmc (libmemcached), then every
// memcached node is asked directly which of the keys it holds.
//
// Run it from the module root:
//
//	go run ./ring/testdata/gen/gen.go
//
// It needs memcached, nutcracker (Debian package nutcracker) and Debian's
// /usr/bin/python3 with python3-pylibmc. Every process it starts listens on
// loopback (127.0.0.1, and 127.0.0.2/127.0.0.3 on port 11211) or on a unix
// socket in a temporary directory, and is stopped when gen exits, also on
// SIGINT or SIGTERM.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	python    = "/usr/bin/python3" // Debian's, with python3-pylibmc
	mainKeys  = 5000
	smallKeys = 1000
	tagKeys   = 4000
)

func main() {
	out := flag.String("out", "ring/testdata", "directory the tables are written to")
	flag.Parse()
	h, err := newHarness()
	if err != nil {
		log.Fatal(err)
	}
	trap(h)
	err = run(h, *out)
	h.stop()
	if err != nil {
		log.Fatal(err)
	}
}

// trap stops every child process on SIGINT or SIGTERM.
func trap(h *harness) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		h.stop()
		log.Fatalf("gen: %v: stopped", s)
	}()
}

func run(h *harness, out string) error {
	b, err := startBackends(h)
	if err != nil {
		return err
	}
	cases := buildCases(b)
	if err := startNutcracker(h, cases); err != nil {
		return err
	}
	for _, c := range cases {
		if err := runCase(c, b.all, out); err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
	}
	return writeVectors(filepath.Join(out, "hashvectors.tsv"))
}

// ---- processes ----

// harness owns the temporary directory and every child process.
type harness struct {
	dir     string
	mu      sync.Mutex // guards procs and stopped
	procs   []*exec.Cmd
	stopped bool
}

func newHarness() (*harness, error) {
	dir, err := os.MkdirTemp("", "shepherd-ring-gen-")
	if err != nil {
		return nil, err
	}
	// memcached drops to user nobody before it creates its unix socket.
	return &harness{dir: dir}, os.Chmod(dir, 0o777)
}

// start runs a child that dies with gen (Pdeathsig) even if gen is killed.
func (h *harness) start(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return errors.New("gen: stopping")
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	h.procs = append(h.procs, cmd)
	return nil
}

// stop kills every child this harness started, by its own pid, and removes
// the temporary directory. It is safe to call twice.
func (h *harness) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, cmd := range h.procs {
		cmd.Process.Kill()
		cmd.Wait()
	}
	h.procs = nil
	if !h.stopped {
		os.RemoveAll(h.dir)
		h.stopped = true
	}
}

// backend is one memcached process.
type backend struct {
	network string // "tcp" or "unix"
	addr    string // host:port or socket path
}

// backends are the memcached nodes every case draws its servers from.
type backends struct {
	tcp  []*backend // 127.0.0.1 on free ports
	p1   *backend   // 127.0.0.2:11211
	p2   *backend   // 127.0.0.3:11211
	unix []*backend
	all  []*backend
}

func startBackends(h *harness) (*backends, error) {
	b := &backends{}
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		b.tcp = append(b.tcp, &backend{"tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
	}
	b.p1 = &backend{"tcp", "127.0.0.2:11211"}
	b.p2 = &backend{"tcp", "127.0.0.3:11211"}
	for _, name := range []string{"a.sock", "b.sock"} {
		b.unix = append(b.unix, &backend{"unix", filepath.Join(h.dir, name)})
	}
	b.all = append(append(append([]*backend(nil), b.tcp...), b.p1, b.p2), b.unix...)
	for _, be := range b.all {
		if err := startMemcached(h, be); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func startMemcached(h *harness, b *backend) error {
	args := []string{"-U", "0", "-m", "64"}
	if b.network == "unix" {
		args = append(args, "-s", b.addr)
	} else {
		host, port, _ := net.SplitHostPort(b.addr)
		args = append(args, "-l", host, "-p", port)
	}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	if err := h.start("memcached", args...); err != nil {
		return err
	}
	return waitDial(b.network, b.addr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitDial waits, with capped backoff, until addr accepts connections.
func waitDial(network, addr string) error {
	delay := 5 * time.Millisecond
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s never accepted connections (in use by someone else?): %w", addr, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// ---- cases ----

// server is one entry of a case's server list.
type server struct {
	b      *backend
	weight int
	name   string // twemproxy only
}

// tableCase is one golden table: a server list, options and keys, placed
// by one oracle.
type tableCase struct {
	file      string
	oracle    string // "nutcracker" or "pylibmc"
	servers   []server
	dist      string
	hash      string // ring's name; "" = ring's default for the compat
	tag       string
	compat    string
	behaviors map[string]any // pylibmc
	keys      [][]byte
	listen    string // nutcracker pool address
	note      string
}

func buildCases(b *backends) []*tableCase {
	r := rand.New(rand.NewPCG(0x5eed, 0x51e9))
	keys := genKeys(r, mainKeys, 4)
	small := keys[:smallKeys]
	tagged := genKeys(r, tagKeys, 60)
	var cs []*tableCase
	cs = append(cs, twemproxyCases(b, keys, small, tagged)...)
	cs = append(cs, libmemcachedCases(b, keys, small)...)
	return cs
}

// weighted is the main server list: unequal weights, two named servers, two
// on port 11211 (one named). With 5 nodes and total weight 25, float32
// gives weights 1..4 fewer points than exact arithmetic would (28 not 32,
// ...), so these tables pin twemproxy's float rounding.
func weighted(b *backends) []server {
	return []server{
		{b.tcp[0], 1, ""},
		{b.tcp[1], 2, "cache-b"},
		{b.tcp[2], 3, ""},
		{b.p1, 4, ""},
		{b.p2, 15, "cache-e"},
	}
}

func twemproxyCases(b *backends, keys, small, tagged [][]byte) []*tableCase {
	tw := func(file, dist, hash, tag string, servers []server, keys [][]byte) *tableCase {
		return &tableCase{file: file, oracle: "nutcracker", servers: servers, dist: dist,
			hash: hash, tag: tag, compat: "twemproxy", keys: keys}
	}
	plain := []server{{b.tcp[0], 1, ""}, {b.tcp[1], 1, "cache-b"}, {b.tcp[2], 2, ""}, {b.p1, 1, ""}}
	cs := []*tableCase{
		tw("twemproxy_md5.tsv", "ketama", "md5", "", weighted(b), keys),
		tw("twemproxy_fnv1a_64.tsv", "ketama", "fnv1a_64", "", weighted(b), keys),
		tw("twemproxy_md5_hashtag.tsv", "ketama", "md5", "{}", plain, tagged),
		tw("twemproxy_modula_fnv1a_64.tsv", "modula", "fnv1a_64", "", weighted(b), small),
		tw("twemproxy_unix_md5.tsv", "ketama", "md5", "",
			[]server{{b.unix[0], 1, ""}, {b.unix[1], 2, ""}, {b.tcp[0], 1, ""}}, small),
	}
	for _, h := range []string{"one_at_a_time", "crc16", "crc32", "crc32a", "fnv1_64",
		"fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins"} {
		cs = append(cs, tw("twemproxy_"+h+".tsv", "ketama", h, "", plain, small))
	}
	return cs
}

func libmemcachedCases(b *backends, keys, small [][]byte) []*tableCase {
	lm := func(file, hash string, beh map[string]any, servers []server, keys [][]byte) *tableCase {
		return &tableCase{file: file, oracle: "pylibmc", servers: servers, dist: "ketama",
			hash: hash, compat: "libmemcached", behaviors: beh, keys: keys}
	}
	ketama := map[string]any{"ketama": true}
	equal := []server{{b.tcp[0], 1, ""}, {b.tcp[1], 1, ""}, {b.tcp[2], 1, ""}, {b.p1, 1, ""}}
	unweighted := func(w []server) []server {
		out := append([]server(nil), w...)
		for i := range out {
			out[i].name = ""
		}
		return out
	}
	cs := []*tableCase{
		lm("libmemcached.tsv", "", ketama, equal, keys),
		lm("libmemcached_weighted.tsv", "", ketama, unweighted(weighted(b)), keys),
		lm("libmemcached_weighted_fnv1a_64.tsv", "fnv1a_64",
			map[string]any{"ketama": true, "hash": "fnv1a_64"}, unweighted(weighted(b)), small),
		// libmemcached cannot mix unix sockets and TCP in one client.
		lm("libmemcached_unix.tsv", "", ketama, []server{{b.unix[0], 1, ""}, {b.unix[1], 1, ""}}, small),
	}
	pyNames := map[string]string{"md5": "md5", "crc": "crc32", "fnv1_64": "fnv1_64",
		"fnv1a_64": "fnv1a_64", "fnv1_32": "fnv1_32", "fnv1a_32": "fnv1a_32",
		"murmur": "murmur", "jenkins": "jenkins"}
	for _, py := range []string{"md5", "crc", "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32", "murmur", "jenkins"} {
		beh := map[string]any{"ketama": true, "hash": py}
		cs = append(cs, lm("libmemcached_"+pyNames[py]+".tsv", pyNames[py], beh, equal, small))
	}
	return cs
}

// ---- keys ----

// genKeys makes n distinct memcached-legal keys (no byte <= 0x20 or 0x7f,
// at most 250 bytes): ASCII ones, non-ASCII UTF-8 ones, and tagPct percent
// with "{...}" hash tags, including malformed tags.
func genKeys(r *rand.Rand, n, tagPct int) [][]byte {
	seen := map[string]bool{}
	var keys [][]byte
	for len(keys) < n {
		var k string
		switch p := r.IntN(100); {
		case p < tagPct:
			k = taggedKey(r)
		case p < tagPct+(100-tagPct)/2:
			k = asciiKey(r)
		default:
			k = utf8Key(r)
		}
		if len(k) == 0 || len(k) > 250 || seen[k] || !legal(k) {
			continue
		}
		seen[k] = true
		keys = append(keys, []byte(k))
	}
	return keys
}

func legal(k string) bool {
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return utf8.ValidString(k)
}

func asciiKey(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("user:%d", r.IntN(1_000_000))
	case 1:
		return fmt.Sprintf("thread:%d:posts:%d", r.IntN(100_000), r.IntN(50))
	case 2:
		return fmt.Sprintf("sess_%016x", r.Uint64())
	}
	b := make([]byte, 1+r.IntN(64))
	for i := range b {
		b[i] = byte(0x21 + r.IntN(0x7e-0x21+1))
	}
	return string(b)
}

// scripts are rune ranges for non-ASCII keys: Latin-1, Greek, Cyrillic,
// Hebrew, Devanagari, CJK, Hangul, emoji.
var scripts = [][2]rune{
	{0xa1, 0xff}, {0x391, 0x3c9}, {0x410, 0x44f}, {0x5d0, 0x5ea},
	{0x905, 0x939}, {0x4e00, 0x9fff}, {0xac00, 0xd7a3}, {0x1f600, 0x1f64f},
}

func utf8Key(r *rand.Rand) string {
	var sb strings.Builder
	if r.IntN(2) == 0 {
		sb.WriteString([]string{"user:", "forum:", "пост:", "話題/", "ü-"}[r.IntN(5)])
	}
	s := scripts[r.IntN(len(scripts))]
	for range 1 + r.IntN(20) {
		if r.IntN(6) == 0 {
			sb.WriteByte(byte('a' + r.IntN(26)))
			continue
		}
		sb.WriteRune(s[0] + rune(r.IntN(int(s[1]-s[0]+1))))
	}
	return sb.String()
}

// tags is a small pool so that many keys share a tag.
var tags = []string{"user:1", "user:2", "forum:42", "t", "ключ", "話題", "😀", "é", "a-b-c", "x}y"}

func taggedKey(r *rand.Rand) string {
	t, rest := tags[r.IntN(len(tags))], asciiKey(r)
	switch r.IntN(9) {
	case 0, 1:
		return "{" + t + "}:" + rest
	case 2, 3:
		return rest + "{" + t + "}"
	case 4:
		return utf8Key(r) + "{" + t + "}" + rest
	case 5:
		return rest + "{}" + t // empty tag: whole key
	case 6:
		return rest + "{" + t // no closing byte: whole key
	case 7:
		return "}" + t + "{" + rest + "}" // close before open
	}
	return "{" + t + "}{" + rest + "}" // first tag wins
}

// ---- oracles ----

func startNutcracker(h *harness, cases []*tableCase) error {
	var yml strings.Builder
	for _, c := range cases {
		if c.oracle != "nutcracker" {
			continue
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		c.listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		writePool(&yml, c)
	}
	conf := filepath.Join(h.dir, "nutcracker.yml")
	if err := os.WriteFile(conf, []byte(yml.String()), 0o644); err != nil {
		return err
	}
	stats, err := freePort()
	if err != nil {
		return err
	}
	err = h.start("nutcracker", "-c", conf, "-a", "127.0.0.1", "-s", strconv.Itoa(stats),
		"-o", filepath.Join(h.dir, "nutcracker.log"), "-p", filepath.Join(h.dir, "nutcracker.pid"))
	if err != nil {
		return err
	}
	for _, c := range cases {
		if c.listen != "" {
			if err := waitDial("tcp", c.listen); err != nil {
				return fmt.Errorf("nutcracker pool %s: %w", c.file, err)
			}
		}
	}
	return nil
}

func writePool(w *strings.Builder, c *tableCase) {
	fmt.Fprintf(w, "%s:\n  listen: %s\n  hash: %s\n  distribution: %s\n",
		strings.TrimSuffix(c.file, ".tsv"), c.listen, c.hash, c.dist)
	if c.tag != "" {
		fmt.Fprintf(w, "  hash_tag: %q\n", c.tag)
	}
	w.WriteString("  timeout: 5000\n  auto_eject_hosts: false\n  servers:\n")
	for _, s := range c.servers {
		fmt.Fprintf(w, "   - %s\n", twemproxySpec(s))
	}
}

// twemproxySpec is the server in twemproxy's (and ring.ParseNode's) syntax.
func twemproxySpec(s server) string {
	spec := fmt.Sprintf("%s:%d", s.b.addr, s.weight)
	if s.name != "" {
		spec += " " + s.name
	}
	return spec
}

// pylibmcSpec is the server in pylibmc's syntax: "host:port:weight", or the
// bare socket path (pylibmc strings cannot weight a unix socket).
func pylibmcSpec(s server) string {
	if s.b.network == "unix" {
		return s.b.addr
	}
	return fmt.Sprintf("%s:%d", s.b.addr, s.weight)
}

func setThroughOracle(c *tableCase, marker string) (string, error) {
	if c.oracle == "nutcracker" {
		m, err := dial("tcp", c.listen)
		if err != nil {
			return "", err
		}
		defer m.close()
		return nutcrackerVersion, m.setAll(c.keys, marker)
	}
	return setPylibmc(c, marker)
}

// nutcrackerVersion is what "nutcracker -V" says, "nutcracker-0.5.0".
var nutcrackerVersion = func() string {
	out, _ := exec.Command("nutcracker", "-V").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(strings.TrimSpace(first), "This is ")
}()

func setPylibmc(c *tableCase, marker string) (string, error) {
	req := map[string]any{"behaviors": c.behaviors, "value": marker}
	var specs, keys []string
	for _, s := range c.servers {
		specs = append(specs, pylibmcSpec(s))
	}
	for _, k := range c.keys {
		keys = append(keys, base64.StdEncoding.EncodeToString(k))
	}
	req["servers"], req["keys"] = specs, keys
	out, err := runPython("pylibmc_set.py", req)
	if err != nil {
		return "", err
	}
	var info struct{ Pylibmc, Libmemcached string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("pylibmc_set.py said %q: %w", out, err)
	}
	return fmt.Sprintf("pylibmc %s, libmemcached %s (as pylibmc reports it)", info.Pylibmc, info.Libmemcached), nil
}

// runPython runs a helper script beside this file with req as JSON stdin.
func runPython(script string, req any) ([]byte, error) {
	_, self, _, _ := runtime.Caller(0)
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(python, filepath.Join(filepath.Dir(self), script))
	cmd.Stdin, cmd.Stderr = bytes.NewReader(in), os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", script, err)
	}
	return out, nil
}

// ---- one case ----

func runCase(c *tableCase, all []*backend, out string) error {
	marker := strings.TrimSuffix(c.file, ".tsv")
	for _, b := range all {
		if err := flushAll(b); err != nil {
			return err
		}
	}
	oracle, err := setThroughOracle(c, marker)
	if err != nil {
		return err
	}
	owner, err := locate(c, all, marker)
	if err != nil {
		return err
	}
	log.Printf("%s: %d keys placed by %s", c.file, len(c.keys), oracle)
	return writeTable(filepath.Join(out, c.file), c, oracle, owner)
}

func flushAll(b *backend) error {
	m, err := dial(b.network, b.addr)
	if err != nil {
		return err
	}
	defer m.close()
	return m.flushAll()
}

// locate asks every backend which keys it holds (with this case's marker
// as value) and returns each key's server index in the case. A key held by
// no backend, by two, or by one outside the case is an error.
func locate(c *tableCase, all []*backend, marker string) ([]int, error) {
	holders := map[string][]*backend{}
	for _, b := range all {
		m, err := dial(b.network, b.addr)
		if err != nil {
			return nil, err
		}
		held, err := m.holding(c.keys, marker)
		m.close()
		if err != nil {
			return nil, err
		}
		for k := range held {
			holders[k] = append(holders[k], b)
		}
	}
	return owners(c, holders)
}

func owners(c *tableCase, holders map[string][]*backend) ([]int, error) {
	index := map[*backend]int{}
	for i, s := range c.servers {
		index[s.b] = i
	}
	owner := make([]int, len(c.keys))
	for i, k := range c.keys {
		hs := holders[string(k)]
		if len(hs) != 1 {
			return nil, fmt.Errorf("key %q is held by %d backends; want 1", k, len(hs))
		}
		idx, ok := index[hs[0]]
		if !ok {
			return nil, fmt.Errorf("key %q is on %s, which is not in the case", k, hs[0].addr)
		}
		owner[i] = idx
	}
	return owner, nil
}

// writeTable writes the header (oracle, ring options, servers in
// ring.ParseNode syntax) and one row per key: base64 key, server index.
func writeTable(path string, c *tableCase, oracle string, owner []int) error {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# ring golden placement table. Regenerate: go run ./ring/testdata/gen/gen.go\n")
	fmt.Fprintf(&w, "# oracle: %s; %d keys (base64) and the index of the server holding each\n", oracle, len(c.keys))
	for _, kv := range [][2]string{{"distribution", c.dist}, {"hash", c.hash}, {"hash_tag", c.tag}, {"compat", c.compat}} {
		fmt.Fprintf(&w, "#option\t%s\t%s\n", kv[0], kv[1])
	}
	for i, s := range c.servers {
		fmt.Fprintf(&w, "#server\t%d\t%s\n", i, twemproxySpec(s))
	}
	for i, k := range c.keys {
		fmt.Fprintf(&w, "%s\t%d\n", base64.StdEncoding.EncodeToString(k), owner[i])
	}
	return os.WriteFile(path, w.Bytes(), 0o644)
}

// ---- hash vectors ----

func writeVectors(path string) error {
	var keys []string
	for _, k := range vectorKeys() {
		keys = append(keys, base64.StdEncoding.EncodeToString(k))
	}
	out, err := runPython("hashkit_vectors.py", keys)
	if err != nil {
		return err
	}
	head := "# ring golden hash vectors from libhashkit (libmemcached) and zlib.\n" +
		"# Regenerate: go run ./ring/testdata/gen/gen.go\n# hash\tbase64 key\tvalue (hex)\n"
	log.Printf("hashvectors.tsv: %d vectors", bytes.Count(out, []byte("\n")))
	return os.WriteFile(path, append([]byte(head), out...), 0o644)
}

// vectorKeys cover every tail length of the block hashes (murmur's 4,
// jenkins' 12) in ASCII and in non-ASCII bytes, plus a few classics.
func vectorKeys() [][]byte {
	keys := [][]byte{{}, []byte("a"), []byte("hello"), []byte("123456789"), []byte("ключ"),
		[]byte("話題/スレッド"), []byte("😀{tag}"), {0x80}, {0xff, 0xfe, 0x7f, 0x01}}
	ascii := "abcdefghijklmnopqrstuvwxyz0123456789"
	nonASCII := strings.Repeat("é", 18)
	for n := 1; n <= 26; n++ {
		keys = append(keys, []byte(ascii[:n]), []byte(nonASCII[:n]))
	}
	return keys
}

// ---- a minimal memcached text-protocol client ----

type mcConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dial(network, addr string) (*mcConn, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	return &mcConn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}, nil
}

func (m *mcConn) close() { m.c.Close() }

func (m *mcConn) line() (string, error) {
	s, err := m.r.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err
}

func (m *mcConn) flushAll() error {
	m.w.WriteString("flush_all\r\n")
	if err := m.w.Flush(); err != nil {
		return err
	}
	return m.expect("OK")
}

func (m *mcConn) expect(want string) error {
	got, err := m.line()
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s replied %q; want %q", m.c.RemoteAddr(), got, want)
	}
	return nil
}

// setAll stores every key with value, pipelining 200 sets at a time.
func (m *mcConn) setAll(keys [][]byte, value string) error {
	for len(keys) > 0 {
		n := min(200, len(keys))
		for _, k := range keys[:n] {
			fmt.Fprintf(m.w, "set %s 0 0 %d\r\n%s\r\n", k, len(value), value)
		}
		if err := m.w.Flush(); err != nil {
			return err
		}
		for range n {
			if err := m.expect("STORED"); err != nil {
				return err
			}
		}
		keys = keys[n:]
	}
	return nil
}

// holding returns the keys this node holds with exactly value.
func (m *mcConn) holding(keys [][]byte, value string) (map[string]bool, error) {
	held := map[string]bool{}
	for len(keys) > 0 {
		n := min(20, len(keys))
		m.w.WriteString("get")
		for _, k := range keys[:n] {
			m.w.WriteString(" ")
			m.w.Write(k)
		}
		m.w.WriteString("\r\n")
		if err := m.w.Flush(); err != nil {
			return nil, err
		}
		if err := m.readValues(held, value); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return held, nil
}

// readValues reads "VALUE <key> <flags> <bytes>" blocks up to "END".
func (m *mcConn) readValues(held map[string]bool, value string) error {
	for {
		l, err := m.line()
		if err != nil {
			return err
		}
		if l == "END" {
			return nil
		}
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "VALUE" {
			return fmt.Errorf("%s: unexpected %q", m.c.RemoteAddr(), l)
		}
		size, err := strconv.Atoi(f[3])
		if err != nil {
			return err
		}
		data := make([]byte, size+2)
		if _, err := io.ReadFull(m.r, data); err != nil {
			return err
		}
		if string(data[:size]) == value {
			held[f[1]] = true
		}
	}
}
