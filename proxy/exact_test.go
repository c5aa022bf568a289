// Exactness of protected keys: the same commands go to shepherd (with a
// herd rule on the keys) and to a memcached alone, and the replies must
// match, except for what herd protection is for: a get of a key deleted
// within stale_ttl may return the value it had when deleted, and a
// reader's refill after a miss may be refused when the key was written
// since the miss.
package proxy_test

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// exactPrefix is the protected prefix of these tests' keys.
const exactPrefix = "hx:"

// startExact starts shepherd over three nodes with a rule on exactPrefix,
// and a memcached alone to compare with.
func startExact(t *testing.T, rule herd.Rule) (shep string, ref string) {
	rule.Prefix = exactPrefix
	f := startShepherd(t, mctest.StartN(t, 3), func(cfg *proxy.Config) {
		cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{rule}}
	})
	return f.addr, mctest.Start(t).Addr
}

// clientKey names one client's view of one key.
type clientKey struct {
	client int
	key    string
}

// differ sends each command to shepherd and to memcached alone, on the
// connection of the client that sends it, and compares the replies.
type differ struct {
	t          *testing.T
	shep, ref  []*conn
	obs        *conn                   // reads memcached alone's state
	stale      map[string]string       // key → "<flags> <value>" a get may still return
	version    map[string]int          // writes of each key so far
	leases     map[clientKey]int       // a miss a client got: the key's version then
	cas        map[clientKey][2]string // the CAS a client's gets returned: shepherd's, memcached's
	diffs      int
	stalesRead int
	refused    int
	history    []string
}

func newDiffer(t *testing.T, shep, ref string, clients int) *differ {
	d := &differ{t: t, obs: dial(t, ref), stale: map[string]string{}, version: map[string]int{},
		leases: map[clientKey]int{}, cas: map[clientKey][2]string{}}
	for range clients {
		d.shep = append(d.shep, dial(t, shep))
		d.ref = append(d.ref, dial(t, ref))
	}
	return d
}

// do runs one command for client c. cmd is the wire text; "{cas}" in it
// is replaced by the CAS the client's last gets of the key returned.
func (d *differ) do(c int, cmd string) {
	name, key := commandKey(cmd)
	d.history = append(d.history, fmt.Sprintf("%s client %d: %q", key, c, cmd))
	if len(d.history) > 400 {
		d.history = d.history[1:]
	}
	ck := clientKey{c, key}
	pre, write := "", isWriteCmd(name)
	if write {
		pre = d.observe(key)
	}
	shepCmd, refCmd := cmd, cmd
	if pair, ok := d.cas[ck]; ok {
		shepCmd, refCmd = strings.Replace(cmd, "{cas}", pair[0], 1), strings.Replace(cmd, "{cas}", pair[1], 1)
	} else {
		shepCmd, refCmd = strings.Replace(cmd, "{cas}", "999999", 1), strings.Replace(cmd, "{cas}", "999999", 1)
	}
	d.shep[c].send(shepCmd)
	got := readReply(d.shep[c], name, cmd)
	lease, leased := d.leases[ck]
	if name == "set" || name == "add" {
		delete(d.leases, ck)
		if leased && lease != d.version[key] && got == "NOT_STORED" {
			d.refused++ // the refill of a miss, refused: the key was written since
			d.version[key]++
			return
		}
	}
	d.ref[c].send(refCmd)
	want := readReply(d.ref[c], name, cmd)
	if strings.HasPrefix(name, "get") || strings.HasPrefix(name, "gat") {
		d.compareValues(c, cmd, got, want)
	} else if got != want {
		d.differ(got, want)
	}
	d.history[len(d.history)-1] += fmt.Sprintf(" → %q", got)
	if write {
		d.version[key]++
		d.track(name, key, pre, want)
	}
}

// track keeps the value a get may still return for a key deleted into
// the stale window.
func (d *differ) track(name, key, pre, reply string) {
	switch {
	case name == "delete" && reply == "DELETED":
		d.stale[key] = pre
	case d.observe(key) != "":
		delete(d.stale, key)
	}
}

func (d *differ) differ(got, want string) {
	d.diffs++
	if d.diffs <= 10 {
		last := d.history[len(d.history)-1]
		key := last[:strings.IndexByte(last, ' ')]
		var h []string
		for _, l := range d.history {
			if strings.HasPrefix(l, key+" ") || strings.Contains(l, " "+key+`\r`) {
				h = append(h, l)
			}
		}
		if len(h) > 40 {
			h = h[len(h)-40:]
		}
		var leases []string
		for ck, v := range d.leases {
			if ck.key == key {
				leases = append(leases, fmt.Sprintf("client %d at version %d", ck.client, v))
			}
		}
		d.t.Errorf("difference: shepherd answered %q; memcached alone %q; key version %d, model leases %v; after:\n  %s",
			got, want, d.version[key], leases, strings.Join(h, "\n  "))
	}
}

// observe returns memcached alone's "<flags> <value>" for key, or "".
func (d *differ) observe(key string) string {
	d.obs.send("get " + key + "\r\n")
	items, _ := parseValues(readReply(d.obs, "get", ""))
	return items[key]
}

// compareValues compares two retrieval replies key by key: a shepherd hit
// where memcached misses is allowed for a stale key's last value; a
// shepherd miss is a possible refill lease.
func (d *differ) compareValues(c int, cmd, got, want string) {
	f := strings.Fields(cmd)
	name, keys := f[0], f[1:]
	if name == "gat" || name == "gats" {
		keys = keys[1:]
	}
	g, gcas := parseValues(got)
	w, wcas := parseValues(want)
	for k, v := range g {
		delete(d.leases, clientKey{c, k}) // a hit ends the client's refill
		if w[k] == v {
			if name == "gets" {
				d.cas[clientKey{c, k}] = [2]string{gcas[k], wcas[k]}
			}
			continue
		}
		if _, ok := w[k]; !ok && d.stale[k] == v {
			d.stalesRead++
			continue
		}
		d.differ(got, want)
		return
	}
	for k := range w {
		if _, ok := g[k]; !ok {
			d.differ(got, want)
			return
		}
	}
	for _, k := range keys {
		if _, ok := g[k]; !ok {
			d.leases[clientKey{c, k}] = d.version[k]
			delete(d.cas, clientKey{c, k})
		}
	}
}

// parseValues reads a get reply: key → "<flags> <value>", and key → CAS.
func parseValues(reply string) (map[string]string, map[string]string) {
	items, cas := map[string]string{}, map[string]string{}
	lines := strings.Split(reply, "\n")
	for i := 0; i+1 < len(lines); i++ {
		f := strings.Fields(lines[i])
		if len(f) >= 4 && f[0] == "VALUE" {
			items[f[1]] = f[2] + " " + lines[i+1]
			if len(f) == 5 {
				cas[f[1]] = f[4]
			}
			i++
		}
	}
	return items, cas
}

// readReply reads the whole reply to one command, lines joined by "\n".
// After a noreply command it waits for an mn: the command is done before
// another client's next one.
func readReply(c *conn, name, cmd string) string {
	if strings.Contains(strings.SplitN(cmd, "\r\n", 2)[0], " noreply") {
		c.send("mn\r\n")
		c.expect("MN")
		return ""
	}
	if strings.HasSuffix(cmd, "mn\r\n") { // quiet meta commands, then mn
		var lines []string
		for l := c.line(); l != "MN"; l = c.line() {
			lines = append(lines, l)
		}
		return strings.Join(lines, "\n")
	}
	var lines []string
	for {
		l := c.line()
		lines = append(lines, l)
		switch {
		case strings.HasPrefix(l, "VALUE ") || strings.HasPrefix(l, "VA "):
			lines = append(lines, c.line())
			if name == "mg" || name == "ma" {
				return strings.Join(lines, "\n")
			}
		case strings.HasPrefix(name, "get") || strings.HasPrefix(name, "gat"):
			if l == "END" || strings.Contains(l, "ERROR") {
				return strings.Join(lines, "\n")
			}
		default:
			return strings.Join(lines, "\n")
		}
	}
}

// commandKey returns a command's name and first key.
func commandKey(cmd string) (name, key string) {
	f := strings.Fields(strings.SplitN(cmd, "\r\n", 2)[0])
	switch {
	case len(f) > 2 && (f[0] == "gat" || f[0] == "gats"):
		return f[0], f[2]
	case len(f) > 1:
		return f[0], f[1]
	}
	return f[0], ""
}

func isWriteCmd(name string) bool {
	switch name {
	case "get", "gets", "gat", "gats", "mg", "touch", "sleep":
		return false
	}
	return true
}

// randomCommand returns a random command on key: every classic command
// and the meta commands with flags whose answers do not depend on CAS or
// clock values.
func randomCommand(r *rand.Rand, key, other string) string {
	val := func() string {
		if r.IntN(2) == 0 {
			return strconv.Itoa(r.IntN(20))
		}
		return []string{"a", "bc", "xyz", ""}[r.IntN(4)]
	}
	store := func(name string) string {
		v := val()
		if name == "append" || name == "prepend" {
			v = []string{"a", "bc", ""}[r.IntN(3)] // digits could make "07", which incr shortens (see decr below)
		}
		return fmt.Sprintf("%s %s %d 0 %d\r\n%s\r\n", name, key, r.IntN(2)*5, len(v), v)
	}
	switch n := r.IntN(100); {
	case n < 22:
		return "get " + key + "\r\n"
	case n < 25:
		return "get " + key + " " + other + "\r\n"
	case n < 30:
		return "gets " + key + "\r\n"
	case n < 32:
		return fmt.Sprintf("gat %d %s\r\n", r.IntN(2)*100, key)
	case n < 33:
		return "gats 0 " + key + "\r\n"
	case n < 41:
		return store("set")
	case n < 49:
		return store("add")
	case n < 53:
		return store("replace")
	case n < 56:
		return store("append")
	case n < 58:
		return store("prepend")
	case n < 61:
		v := val()
		return fmt.Sprintf("cas %s 0 0 %d {cas}\r\n%s\r\n", key, len(v), v)
	case n < 66:
		return fmt.Sprintf("incr %s %d\r\n", key, r.IntN(3))
	case n < 69:
		// Delta 0: a decr that shortens a number pads it with spaces in
		// place or stores a new item depending on whether another
		// connection still holds the item (memcached's do_add_delta),
		// which differs between any two memcached runs.
		return fmt.Sprintf("decr %s 0\r\n", key)
	case n < 72:
		return fmt.Sprintf("touch %s %d\r\n", key, r.IntN(2)*100)
	case n < 82:
		return "delete " + key + "\r\n"
	case n < 87:
		return []string{"mg %s v f\r\n", "mg %s s f\r\n", "mg %s v O7 k\r\n", "mg %s\r\n"}[r.IntN(4)]
	case n < 89:
		return fmt.Sprintf([]string{"md %s\r\n", "md %s O5 k\r\n"}[r.IntN(2)], key)
	case n < 92:
		return fmt.Sprintf([]string{"ma %s\r\n", "ma %s MD D0 v\r\n", "ma %s v O3\r\n"}[r.IntN(3)], key)
	}
	v := val()
	mode := []string{"", " MS", " ME", " MA", " MP", " MR"}[r.IntN(6)]
	if mode == " MA" || mode == " MP" {
		v = "z"
	}
	return fmt.Sprintf("ms %s %d F3%s\r\n%s\r\n", key, len(v), mode, v)
}

// exactRule: the stale window and leases outlast a run, so that the
// allowances above need no clock; a held reader waits 5 ms.
var exactRule = herd.Rule{StaleTTL: 120 * time.Second, LeaseTTL: 120 * time.Second, Hold: 5 * time.Millisecond}

// TestHerdExactRandom: random commands from 3 clients over 5 protected
// keys, through shepherd and against memcached alone: no difference but
// the allowed ones.
func TestHerdExactRandom(t *testing.T) {
	t.Parallel()
	ops := 10_000
	if testing.Short() {
		ops = 2_000
	}
	seed := uint64(1)
	if s, err := strconv.ParseUint(os.Getenv("SHEPHERD_EXACT_SEED"), 10, 64); err == nil {
		seed = s
	}
	r := rand.New(rand.NewPCG(seed, seed))
	shep, ref := startExact(t, exactRule)
	d := newDiffer(t, shep, ref, 3)
	start := time.Now()
	for range ops {
		key := fmt.Sprintf("%s%d", exactPrefix, r.IntN(5))
		other := fmt.Sprintf("%s%d", exactPrefix, r.IntN(5))
		cmd := randomCommand(r, key, other)
		if strings.Contains(cmd, "%s") {
			cmd = fmt.Sprintf(cmd, key)
		}
		d.do(r.IntN(3), cmd)
		if d.diffs > 10 {
			break
		}
	}
	t.Logf("seed %d: %d commands from 3 clients over 5 protected keys in %v: %d differences, %d stale reads allowed, %d refills refused",
		seed, ops, time.Since(start).Round(time.Millisecond), d.diffs, d.stalesRead, d.refused)
}

// exactSequences are fixed command sequences from clients A and B on one
// protected key ({k}).
var exactSequences = []struct {
	name  string
	steps []string
}{
	{"get absent, add from another client", []string{"A get {k}", "B add {k} 0 0 1\r\nx\r\n", "B get {k}", "A get {k}"}},
	{"get absent, incr", []string{"A get {k}", "A incr {k} 1", "A decr {k} 1"}},
	{"get absent, touch", []string{"A get {k}", "A touch {k} 100", "A get {k}"}},
	{"get absent, append and prepend", []string{"A get {k}", "A append {k} 0 0 1\r\nz\r\n", "A prepend {k} 0 0 1\r\nz\r\n", "B get {k}"}},
	{"get absent, replace and cas", []string{"A get {k}", "B replace {k} 0 0 1\r\nx\r\n", "B cas {k} 0 0 1 1\r\nx\r\n"}},
	{"get absent, delete", []string{"A get {k}", "B delete {k}", "B get {k}"}},
	{"get absent, gat", []string{"A get {k}", "B gat 100 {k}", "B gats 100 {k}"}},
	{"deleted, add", []string{"A set {k} 0 0 1\r\n5\r\n", "A delete {k}", "A add {k} 0 0 1\r\n6\r\n", "A get {k}"}},
	{"deleted, incr", []string{"A set {k} 0 0 1\r\n5\r\n", "A delete {k}", "A incr {k} 1", "B get {k}"}},
	{"deleted, touch, delete, gat", []string{"A set {k} 0 0 1\r\n5\r\n", "A delete {k}", "B touch {k} 0", "B delete {k}", "B gat 0 {k}"}},
	{"deleted, replace, append, cas", []string{"A set {k} 0 0 1\r\n5\r\n", "A gets {k}", "A delete {k}", "A replace {k} 0 0 1\r\n6\r\n",
		"A append {k} 0 0 1\r\n6\r\n", "A cas {k} 0 0 1 {cas}\r\n7\r\n"}},
	{"lock: add, delete, add", []string{"A add {k} 0 0 1\r\n1\r\n", "A delete {k}", "B add {k} 0 0 1\r\n1\r\n", "A add {k} 0 0 1\r\n1\r\n", "B delete {k}", "B delete {k}"}},
	{"rate limit: incr, add, incr", []string{"A get {k}", "A incr {k} 1", "A add {k} 0 0 1\r\n1\r\n", "A incr {k} 1", "B incr {k} 5", "A decr {k} 3", "A get {k}"}},
	{"counter deleted", []string{"A set {k} 0 0 2\r\n10\r\n", "A incr {k} 5", "A delete {k}", "A incr {k} 1", "A decr {k} 1", "A add {k} 0 0 1\r\n1\r\n", "A incr {k} 1"}},
	{"noreply", []string{"A get {k}", "B add {k} 0 0 1 noreply\r\nx\r\n", "B get {k}", "B delete {k} noreply", "B add {k} 0 0 1 noreply\r\ny\r\n", "A get {k}", "A incr {k} 1 noreply", "A get {k}"}},
	{"refill after a miss", []string{"A set {k} 0 0 2\r\nv1\r\n", "A delete {k}", "B get {k}", "B set {k} 0 0 2\r\nv2\r\n", "A get {k}"}},
	{"stale read, key asked twice", []string{"A set {k} 0 0 2\r\nv1\r\n", "A delete {k}", "A get {k} {k}", "A set {k} 0 0 2\r\nv2\r\n", "B get {k} {k}"}},
	{"stale read", []string{"A set {k} 0 0 2\r\nv1\r\n", "A delete {k}", "A get {k}", "B get {k}", "B gets {k}", "B delete {k}", "B get {k}", "A get {k}"}},
	{"late refill", []string{"A set {k} 0 0 2\r\nv1\r\n", "A delete {k}", "B get {k}", "A set {k} 0 0 2\r\nv3\r\n", "B set {k} 0 0 2\r\nv2\r\n", "A get {k}"}},
	{"held reader", []string{"A get {k}", "B get {k}", "B gets {k}", "A set {k} 0 0 1\r\nv\r\n", "B get {k}"}},
	{"meta on a placeholder", []string{"A get {k}", "B mg {k} v", "B mg {k} s v O1 k", "B mg {k} T30 v", "B md {k} O2", "B ma {k}", "B ms {k} 1 MA\r\nz\r\n",
		"B ms {k} 1 MR\r\nz\r\n", "B ms {k} 1 ME F4\r\nz\r\n", "B ms {k} 1 ME\r\ny\r\n", "A get {k}"}},
	{"meta on a deleted value", []string{"A ms {k} 2 F1\r\nv1\r\n", "A md {k} q\r\nmn", "A mg {k} v", "A set {k} 0 0 2\r\nv1\r\n", "A delete {k}", "B mg {k} v f k",
		"B md {k} k", "B ma {k} v", "B ms {k} 1 MP\r\nz\r\n", "B ms {k} 1 ME\r\nz\r\n", "B ms {k} 1 ME\r\nz\r\n", "B mg {k} v f"}},
	{"meta with base64 keys", []string{"A get {k}", "B mg {b} b v k O4", "B md {b} b k", "B ms {b} 1 b ME\r\nz\r\n", "B mg {b} b v", "B delete {k}",
		"A mg {b} b s k", "A ma {b} b", "A ms {b} 1 b MA\r\nz\r\n"}},
	{"meta quiet on a placeholder", []string{"A get {k}", "B mg {k} v q\r\nmn", "B md {k} q\r\nmn", "B ma {k} q\r\nmn", "B ms {k} 1 q MR\r\nz\r\nmn"}},
	{"empty value a client stored", []string{"A set {k} 3 0 0\r\n\r\n", "B get {k}", "B add {k} 0 0 1\r\nx\r\n", "B append {k} 0 0 1\r\nx\r\n", "B get {k}"}},
	// Numbers read as memcached reads them: a leading "+", 32-bit wrap, a
	// trailing tab (strtol stops at white space). No TTL is read back: two
	// memcached clocks tick apart. "2592001\t" is an absolute time long past.
	{"numbers as memcached reads them", []string{"A get {k}", "A set {k} +5 0 1\r\n7\r\n", "B mg {k} f v",
		"B incr {k} +3", "B set {k} 4294967297 0 1\r\n1\r\n", "B gets {k}", "A get {k}",
		"A add {k} +2 0 1\r\nx\r\n", "B replace {k} +9 0 1\r\ny\r\n", "B mg {k} f v",
		"B touch {k} 2592001\t", "B get {k}", "B set {k} 0 2592001\t 1\r\nz\r\n", "B get {k}",
		"B ms {k} 1 F+6\r\nz\r\n", "B mg {k} f v"}},
}

// TestHerdExactSequences: the fixed sequences give memcached's answers
// through shepherd, but for the allowed stale reads and refused refills.
func TestHerdExactSequences(t *testing.T) {
	t.Parallel()
	shep, ref := startExact(t, exactRule)
	d := newDiffer(t, shep, ref, 2)
	for i, seq := range exactSequences {
		key := fmt.Sprintf("%sseq%d", exactPrefix, i)
		for _, step := range seq.steps {
			d.do(int(step[0]-'A'), expandStep(step[2:], key))
		}
	}
	t.Logf("%d sequences: %d differences, %d stale reads allowed, %d refills refused", len(exactSequences), d.diffs, d.stalesRead, d.refused)
}

// expandStep puts key in cmd and ends its line.
func expandStep(cmd, key string) string {
	cmd = strings.ReplaceAll(cmd, "{k}", key)
	cmd = strings.ReplaceAll(cmd, "{b}", base64.StdEncoding.EncodeToString([]byte(key)))
	if strings.HasSuffix(cmd, "\r\n") {
		return cmd
	}
	return cmd + "\r\n"
}

// TestHerdExactAfterWindows: once stale_ttl and lease_ttl have passed, a
// deleted key and a placeholder are gone for every command too. Each
// sequence runs its steps before "sleep", then all wait once, then the
// rest.
func TestHerdExactAfterWindows(t *testing.T) {
	t.Parallel()
	seqs := [][]string{
		{"A set {k} 0 0 2\r\nv1\r\n", "A delete {k}", "sleep", "B get {k}", "B add {k} 0 0 1\r\nx\r\n", "A get {k}"},
		{"A set {k} 0 0 2\r\nv1\r\n", "A delete {k}", "sleep", "B incr {k} 1", "B touch {k} 0", "B delete {k}", "A mg {k} v"},
		{"A get {k}", "sleep", "B add {k} 0 0 1\r\nx\r\n", "A get {k}"},
		{"A get {k}", "sleep", "A set {k} 0 0 1\r\nx\r\n", "B get {k}"},
		{"A get {k}", "sleep", "B append {k} 0 0 1\r\nx\r\n", "B md {k}", "B get {k}"},
	}
	shep, ref := startExact(t, herd.Rule{StaleTTL: time.Second, LeaseTTL: time.Second, Hold: 5 * time.Millisecond})
	d := newDiffer(t, shep, ref, 2)
	for phase := range 2 {
		for i, seq := range seqs {
			key := fmt.Sprintf("%swin%d", exactPrefix, i)
			sleep := slices.Index(seq, "sleep")
			steps := seq[:sleep]
			if phase == 1 {
				steps = seq[sleep+1:]
			}
			for _, step := range steps {
				d.do(int(step[0]-'A'), expandStep(step[2:], key))
			}
		}
		if phase == 0 {
			time.Sleep(2100 * time.Millisecond) // memcached's clock ticks in whole seconds
		}
	}
	t.Logf("%d sequences across the windows: %d differences, %d stale reads allowed", len(seqs), d.diffs, d.stalesRead)
}

// TestHerdPlaceholdersExpire: gets of absent protected keys leave
// placeholders on the nodes, never shown to a client as values, and none
// live once lease_ttl has passed.
func TestHerdPlaceholdersExpire(t *testing.T) {
	t.Parallel()
	keys := 100_000
	if testing.Short() {
		keys = 10_000
	}
	nodes := mctest.StartN(t, 3)
	f := startShepherd(t, nodes, func(cfg *proxy.Config) {
		cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: exactPrefix, LeaseTTL: time.Second, Hold: 5 * time.Millisecond}}}
	})
	const conns, batch = 4, 100
	var wg sync.WaitGroup
	var values atomic.Int64
	for w := range conns {
		c := dial(t, f.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * batch; i < keys; i += conns * batch {
				var b strings.Builder
				b.WriteString("get")
				for k := i; k < min(i+batch, keys); k++ {
					fmt.Fprintf(&b, " %sabsent%d", exactPrefix, k)
				}
				c.send(b.String() + "\r\n")
				for l := c.line(); l != "END"; l = c.line() {
					values.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	left := liveItems(t, nodes)
	time.Sleep(2100 * time.Millisecond) // lease_ttl, and memcached's clock ticks in whole seconds
	live := liveItems(t, nodes)
	t.Logf("%d gets of absent protected keys: %d values shown, %d placeholders live right after them (the first already expiring), %d live after lease_ttl (1s)", keys, values.Load(), left, live)
	if values.Load() != 0 || live != 0 {
		t.Errorf("got %d values shown and %d items live after lease_ttl; want 0 and 0", values.Load(), live)
	}
}

// liveItems counts the unexpired items on nodes (lru_crawler metadump
// skips expired ones).
func liveItems(t *testing.T, nodes []*mctest.Server) int {
	n := 0
	for _, node := range nodes {
		c := dial(t, node.Addr)
		c.send("lru_crawler metadump all\r\n")
		for l := c.line(); l != "END"; l = c.line() {
			if strings.HasPrefix(l, "key=") {
				n++
			}
		}
	}
	return n
}
