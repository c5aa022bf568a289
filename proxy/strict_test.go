// Strict reply matching: a backend whose get replies name keys that were
// not asked for, or answer them out of order, never gets a value to the
// wrong key; its connection is closed as in doubt.
package proxy_test

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// valueOf is the one right value of key in these tests.
func valueOf(key string) string { return "v:" + key }

// lyingNode answers gets with each key's right value, but about every
// third reply it lies as its mode says: "rename" labels values with keys
// nobody asked for; "swap" keeps the values in order and exchanges the
// labels of the first two keys; "reorder" answers the keys backwards.
func lyingNode(mode string) func(w *bufio.Writer, line string) bool {
	var n atomic.Int64
	return func(w *bufio.Writer, line string) bool {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			w.WriteString("ERROR\r\n")
			return true
		case f[0] == "version":
			w.WriteString("VERSION fake\r\n")
			return true
		case f[0] != "get":
			w.WriteString("STORED\r\n")
			return true
		}
		keys, labels := f[1:], append([]string(nil), f[1:]...)
		h := fnv.New32a()
		fmt.Fprint(h, line, n.Add(1))
		if h.Sum32()%3 == 0 {
			labels, keys = lie(mode, keys, labels)
		}
		for i, k := range keys {
			v := valueOf(k)
			fmt.Fprintf(w, "VALUE %s 0 %d\r\n%s\r\n", labels[i], len(v), v)
		}
		w.WriteString("END\r\n")
		return true
	}
}

// lie returns the labels and the keys whose values go with them.
func lie(mode string, keys, labels []string) ([]string, []string) {
	switch {
	case mode == "rename":
		labels[0] = "wrong-" + labels[0]
	case mode == "swap" && len(keys) > 1 && keys[0] != keys[1]:
		labels[0], labels[1] = labels[1], labels[0]
	case mode == "reorder" && len(keys) > 1:
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
		labels = append(labels[:0], keys...)
	}
	return labels, keys
}

// TestStrictReplyMatching runs clients of multi-key gets (duplicates
// included) through a lying node, alone and as one of three nodes, and
// counts the values that reached a client under a key not their own, or
// out of request order: there must be none.
func TestStrictReplyMatching(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"rename", "swap", "reorder"} {
		for _, real := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/%d-real-nodes", mode, real), func(t *testing.T) {
				t.Parallel()
				runStrict(t, mode, real)
			})
		}
	}
}

func runStrict(t *testing.T, mode string, real int) {
	fake := startFake(t, lyingNode(mode))
	f := startShepherd(t, mctest.StartN(t, real), func(cfg *proxy.Config) {
		p := cfg.Pools["main"]
		p.Servers = append([]ring.Node{{Addr: fake.Addr, Weight: 1, Name: "fake"}}, p.Servers...)
	})
	for i := 0; i < 40; i++ { // the real nodes' share holds the right values too
		k := fmt.Sprintf("k%d", i)
		c := dial(t, f.addr)
		c.send(fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", k, len(valueOf(k)), valueOf(k)))
		c.line() // the fake says STORED as well
	}
	var wrong, right, gets atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, f.addr)
			for i := 0; i < 150; i++ {
				keys := []string{fmt.Sprintf("k%d", (i*7+w)%40), fmt.Sprintf("k%d", (i*3+w)%40), fmt.Sprintf("k%d", i%40)}
				c.send("get " + strings.Join(keys, " ") + "\r\n")
				r, bad := readChecked(c, keys)
				right.Add(int64(r))
				wrong.Add(int64(bad))
				gets.Add(1)
			}
		}()
	}
	wg.Wait()
	if wrong.Load() != 0 {
		t.Errorf("%s: got %d wrong or misordered values in %d gets; want 0", mode, wrong.Load(), gets.Load())
	}
	if right.Load() == 0 {
		t.Errorf("%s: got no right values at all in %d gets; want the honest replies through", mode, gets.Load())
	}
	t.Logf("%s, %d real nodes: %d gets, %d right values, %d wrong", mode, real, gets.Load(), right.Load(), wrong.Load())
}

// readChecked reads one get reply and counts its values that belong to
// the key they are labelled with, in request order (right), and the rest.
func readChecked(c *conn, keys []string) (right, wrong int) {
	next := 0
	for {
		l := c.line()
		if l == "END" {
			return right, wrong
		}
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "VALUE" {
			c.t.Fatalf("got %q; want VALUE or END", l)
		}
		data := c.line()
		for next < len(keys) && keys[next] != f[1] {
			next++
		}
		if next == len(keys) || data != valueOf(f[1]) {
			wrong++
			continue
		}
		next++
		right++
	}
}

// TestDuplicateKeysAnswered: memcached answers a key asked twice twice;
// strict matching must take that for the right answer.
func TestDuplicateKeysAnswered(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d-nodes", n), func(t *testing.T) {
			t.Parallel()
			f := startShepherd(t, mctest.StartN(t, n), nil)
			c := dial(t, f.addr)
			c.send("set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\n")
			c.expect("STORED", "STORED")
			c.send("get a a missing b a\r\n")
			c.expect("VALUE a 0 1", "x", "VALUE a 0 1", "x", "VALUE b 0 1", "y", "VALUE a 0 1", "x", "END")
			c.send("gat 0 b b\r\n")
			c.expect("VALUE b 0 1", "y", "VALUE b 0 1", "y", "END")
		})
	}
}
