// Nutcracker as the placement reference for the rebalance scenario: where
// twemproxy puts each key before and after a membership change.
package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// nutcrackerMoved returns the share of keys that nutcracker (ketama, md5)
// places on a different node under to than under from. Each list is
// served by a nutcracker over fresh memcached nodes that carry the
// names of from and to (twemproxy hashes a server's name), so placement
// is as it would be at those addresses; every key is written through it
// and then looked for on each node.
func nutcrackerMoved(t *testing.T, keys [][]byte, from, to []string) float64 {
	t.Helper()
	names := append([]string(nil), from...)
	for _, a := range to {
		if !contains(names, a) {
			names = append(names, a)
		}
	}
	servers := mctest.StartN(t, len(names))
	before := nutcrackerPlace(t, keys, from, names, servers)
	after := nutcrackerPlace(t, keys, to, names, servers)
	moved := 0
	for i := range keys {
		if before[i] != after[i] {
			moved++
		}
	}
	return float64(moved) / float64(len(keys))
}

// nutcrackerPlace writes keys through a nutcracker whose servers are
// list (names; servers[i] stands for names[i]) and returns the name of
// the node each key landed on. It empties the nodes afterwards.
func nutcrackerPlace(t *testing.T, keys [][]byte, list, names []string, servers []*mctest.Server) []string {
	t.Helper()
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "rb:\n  listen: %s\n  hash: md5\n  distribution: ketama\n  auto_eject_hosts: false\n  servers:\n", mctest.ListenPlaceholder)
	for _, name := range list {
		fmt.Fprintf(&yaml, "    - %s:1 %s\n", servers[indexOf(names, name)].Addr, name)
	}
	addr := mctest.Nutcracker(t, yaml.String())
	for i := 0; i < len(keys); i += 100 {
		var req bytes.Buffer
		batch := keys[i:min(i+100, len(keys))]
		for _, k := range batch {
			fmt.Fprintf(&req, "set %s 0 0 1\r\nv\r\n", k)
		}
		roundTrip(t, addr, req.Bytes(), len(batch), "STORED\r\n")
	}
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[string(k)] = i
	}
	where := make([]string, len(keys))
	for _, name := range list {
		s := servers[indexOf(names, name)]
		for i := 0; i < len(keys); i += 100 {
			req := append([]byte("get"), bytes.Join(append([][]byte{nil}, keys[i:min(i+100, len(keys))]...), []byte(" "))...)
			for _, k := range valueKeys(t, s.Addr, append(req, "\r\n"...)) {
				where[index[k]] = name
			}
		}
		roundTrip(t, s.Addr, []byte("flush_all\r\n"), 1, "OK\r\n")
	}
	for i, w := range where {
		if w == "" {
			t.Fatalf("key %s: written through nutcracker, found on no node", keys[i])
		}
	}
	return where
}

// roundTrip sends req to addr and reads n lines, each of which must be want.
func roundTrip(t *testing.T, addr string, req []byte, n int, want string) {
	t.Helper()
	c, br := dialBench(t, addr)
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if l, err := br.ReadString('\n'); err != nil || l != want {
			t.Fatalf("%s: reply %d: got %q, %v; want %q", addr, i, l, err, want)
		}
	}
}

// valueKeys sends a get to addr and returns the keys of its VALUE lines.
func valueKeys(t *testing.T, addr string, req []byte) []string {
	t.Helper()
	c, br := dialBench(t, addr)
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if l == "END\r\n" {
			return keys
		}
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "VALUE" {
			t.Fatalf("%s: got %q; want VALUE or END", addr, l)
		}
		keys = append(keys, f[1])
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
	}
}

func dialBench(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func contains(list []string, s string) bool { return indexOf(list, s) >= 0 }

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
