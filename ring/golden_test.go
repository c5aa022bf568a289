// Golden placement tests: every table in testdata was made by real
// nutcracker (twemproxy) or pylibmc (libmemcached) processes storing keys on
// real memcached nodes (testdata/gen/gen.go); the ring must agree on every key.

package ring

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// golden is one table: the ring it describes and where each key was found.
type golden struct {
	opts   Options
	nodes  []Node
	keys   [][]byte
	owners []int
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.tsv")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "hashvectors.tsv" {
			continue
		}
		n++
		t.Run(strings.TrimSuffix(filepath.Base(f), ".tsv"), func(t *testing.T) {
			t.Parallel()
			checkGolden(t, loadGolden(t, f))
		})
	}
	if n < 20 {
		t.Fatalf("found %d golden tables; want the full set from testdata/gen", n)
	}
}

func checkGolden(t *testing.T, g golden) {
	r, err := New(g.nodes, g.opts)
	if err != nil {
		t.Fatalf("New(%v, %+v): %v", g.nodes, g.opts, err)
	}
	diffs := 0
	for i, k := range g.keys {
		if got, want := r.Lookup(k), g.owners[i]; got != want {
			if diffs++; diffs <= 10 {
				t.Errorf("key %q: got node %d; want %d", k, got, want)
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d of %d keys differ; want 0", diffs, len(g.keys))
	}
}

// TestGoldenCoverage keeps regenerated tables honest: the main tables are
// large, full of non-ASCII keys, and every server holds some keys.
func TestGoldenCoverage(t *testing.T) {
	for _, name := range []string{"twemproxy_md5", "twemproxy_fnv1a_64", "twemproxy_md5_hashtag",
		"libmemcached", "libmemcached_weighted"} {
		g := loadGolden(t, filepath.Join("testdata", name+".tsv"))
		if len(g.keys) < 4000 {
			t.Errorf("%s: %d keys; want >= 4000", name, len(g.keys))
		}
		if got := nonASCII(g.keys); got*4 < len(g.keys) {
			t.Errorf("%s: %d of %d keys are non-ASCII; want >= 25%%", name, got, len(g.keys))
		}
		perNode := make([]int, len(g.nodes))
		for _, o := range g.owners {
			perNode[o]++
		}
		for i, c := range perNode {
			if c == 0 {
				t.Errorf("%s: node %d holds no keys", name, i)
			}
		}
	}
}

func nonASCII(keys [][]byte) int {
	n := 0
	for _, k := range keys {
		if bytes.ContainsFunc(k, func(r rune) bool { return r >= 0x80 }) {
			n++
		}
	}
	return n
}

// loadGolden reads "#option name value" and "#server index spec" header
// lines, then "base64-key<TAB>server-index" rows.
func loadGolden(t *testing.T, path string) golden {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var g golden
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if err := g.parseLine(sc.Text()); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *golden) parseLine(l string) error {
	f := strings.Split(l, "\t")
	switch {
	case f[0] == "#option" && len(f) == 3:
		g.setOption(f[1], f[2])
	case f[0] == "#server" && len(f) == 3:
		n, err := ParseNode(f[2])
		g.nodes = append(g.nodes, n)
		return err
	case strings.HasPrefix(l, "#"):
	case len(f) == 2:
		k, err := base64.StdEncoding.DecodeString(f[0])
		if err != nil {
			return err
		}
		o, err := strconv.Atoi(f[1])
		g.keys, g.owners = append(g.keys, k), append(g.owners, o)
		return err
	default:
		return strconv.ErrSyntax
	}
	return nil
}

func (g *golden) setOption(name, value string) {
	switch name {
	case "distribution":
		g.opts.Distribution = value
	case "hash":
		g.opts.Hash = value
	case "hash_tag":
		g.opts.HashTag = value
	case "compat":
		g.opts.Compat = value
	}
}
