// Exactness of protected keys: the same commands go to shepherd (with a
// herd rule on the keys) and to a memcached alone, and the replies must
// match, except for what herd protection is for: a get of a key deleted
// within stale_ttl may return the value it had when deleted, and a
// reader's refill after a miss may be refused when the key was written
// since the miss.
package proxy_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
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
		d.t.Errorf("difference: shepherd answered %q; memcached alone %q; after:\n  %s", got, want, strings.Join(h, "\n  "))
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
func readReply(c *conn, name, cmd string) string {
	if strings.Contains(strings.SplitN(cmd, "\r\n", 2)[0], " noreply") {
		return ""
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
