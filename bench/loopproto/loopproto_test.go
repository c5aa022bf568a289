package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// startDesign runs one design in front of nodes for the test's duration.
func startDesign(t *testing.T, design string, nodes []*mctest.Server) string {
	t.Helper()
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	listen := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	s, err := designs[design](listen, addrs, 2)
	if err != nil {
		t.Fatalf("start %s: %v", design, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close %s: %v", design, err)
		}
	})
	return s.Addr()
}

type testConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, addr string) *testConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &testConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *testConn) send(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *testConn) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return l
}

// values reads one get reply: key → value, in arrival order in keys.
func (c *testConn) values() (map[string]string, []string) {
	c.t.Helper()
	vals := map[string]string{}
	var keys []string
	for {
		l := c.line()
		if l == "END\r\n" {
			return vals, keys
		}
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "VALUE" {
			c.t.Fatalf("want VALUE or END, got %q", l)
		}
		n, _ := strconv.Atoi(f[3])
		data := make([]byte, n+2)
		if _, err := ioReadFull(c.r, data); err != nil {
			c.t.Fatal(err)
		}
		vals[f[1]] = string(data[:n])
		keys = append(keys, f[1])
	}
}

func ioReadFull(r *bufio.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func setCmd(key, val string) string {
	return fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", key, len(val), val)
}

// TestPipelined sends sets, gets, a multi-get over every node, a miss and
// a version in one write, and checks every reply in order; then reads a
// key from the node it should be on.
func TestPipelined(t *testing.T) {
	for _, design := range []string{"goroutine", "epoll", "uring", "uring-ew", "gnet"} {
		t.Run(design, func(t *testing.T) {
			nodes := mctest.StartN(t, 3)
			c := dial(t, startDesign(t, design, nodes))
			keys := make([]string, 10)
			seen := map[int]bool{}
			var req strings.Builder
			for i := range keys {
				keys[i] = fmt.Sprintf("%s:k%d", design, i)
				seen[nodeOf([]byte(keys[i]), 3)] = true
				req.WriteString(setCmd(keys[i], "v"+keys[i]))
			}
			if len(seen) != 3 {
				t.Fatalf("the keys cover nodes %v, want all 3", seen)
			}
			for _, k := range keys {
				req.WriteString("get " + k + "\r\n")
			}
			req.WriteString("get " + strings.Join(keys, " ") + " nosuch\r\n")
			req.WriteString("get nosuch\r\nversion\r\nbogus\r\n")
			c.send(req.String())
			for range keys {
				if l := c.line(); l != "STORED\r\n" {
					t.Fatalf("set: got %q", l)
				}
			}
			for _, k := range keys {
				vals, _ := c.values()
				if len(vals) != 1 || vals[k] != "v"+k {
					t.Fatalf("get %s: got %v", k, vals)
				}
			}
			vals, _ := c.values()
			if len(vals) != len(keys) {
				t.Fatalf("multi-get: got %d values, want %d: %v", len(vals), len(keys), vals)
			}
			for _, k := range keys {
				if vals[k] != "v"+k {
					t.Fatalf("multi-get %s: got %q", k, vals[k])
				}
			}
			if vals, _ := c.values(); len(vals) != 0 {
				t.Fatalf("get nosuch: got %v", vals)
			}
			if l := c.line(); !strings.HasPrefix(l, "VERSION ") {
				t.Fatalf("version: got %q", l)
			}
			if l := c.line(); l != "ERROR\r\n" {
				t.Fatalf("bogus: got %q", l)
			}
			direct := dial(t, nodes[nodeOf([]byte(keys[0]), 3)].Addr)
			direct.send("get " + keys[0] + "\r\n")
			if vals, _ := direct.values(); vals[keys[0]] != "v"+keys[0] {
				t.Fatalf("%s is not on node %d: %v", keys[0], nodeOf([]byte(keys[0]), 3), vals)
			}
		})
	}
}

// TestConcurrentClients runs clients at once, each pipelining its own
// sets and multi-gets in batches, and checks each reply is its own.
func TestConcurrentClients(t *testing.T) {
	const clients, rounds, depth = 8, 20, 10
	for _, design := range []string{"goroutine", "epoll", "uring", "uring-ew", "gnet"} {
		t.Run(design, func(t *testing.T) {
			addr := startDesign(t, design, mctest.StartN(t, 3))
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for ci := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- clientRounds(addr, ci, rounds, depth)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// clientRounds sets depth keys and reads them back, singly and as one
// multi-get, rounds times, all pipelined.
func clientRounds(addr string, ci, rounds, depth int) error {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(nc)
	for round := range rounds {
		var req bytes.Buffer
		keys := make([]string, depth)
		for i := range keys {
			keys[i] = fmt.Sprintf("c%d:k%d", ci, i)
			fmt.Fprintf(&req, "set %s 0 0 %d\r\n%s\r\n", keys[i], len(keys[i])+4, fmt.Sprintf("%s/%03d", keys[i], round))
		}
		for _, k := range keys {
			fmt.Fprintf(&req, "get %s\r\n", k)
		}
		fmt.Fprintf(&req, "get %s\r\n", strings.Join(keys, " "))
		if _, err := nc.Write(req.Bytes()); err != nil {
			return err
		}
		for range keys {
			if l, err := r.ReadString('\n'); err != nil || l != "STORED\r\n" {
				return fmt.Errorf("client %d: set: %q %v", ci, l, err)
			}
		}
		for i := 0; i <= depth; i++ {
			want := keys
			if i < depth {
				want = keys[i : i+1]
			}
			got := map[string]string{}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return err
				}
				if l == "END\r\n" {
					break
				}
				f := strings.Fields(l)
				if len(f) != 4 {
					return fmt.Errorf("client %d: %q", ci, l)
				}
				n, _ := strconv.Atoi(f[3])
				data := make([]byte, n+2)
				if _, err := ioReadFull(r, data); err != nil {
					return err
				}
				got[f[1]] = string(data[:n])
			}
			if len(got) != len(want) {
				return fmt.Errorf("client %d round %d: got %v, want keys %v", ci, round, got, want)
			}
			for _, k := range want {
				if got[k] != fmt.Sprintf("%s/%03d", k, round) {
					return fmt.Errorf("client %d round %d: %s = %q", ci, round, k, got[k])
				}
			}
		}
	}
	return nil
}

func TestParser(t *testing.T) {
	var p parser
	for _, tc := range []struct {
		in   string
		kind int
		n    int
		keys int
		bad  bool
	}{
		{in: "get a b  c\r\n", kind: reqGet, n: 12, keys: 3},
		{in: "get a", n: 0},
		{in: "set k 0 0 3\r\nab", n: 0},
		{in: "set k 0 0 3\r\nabc\r\nget", kind: reqSet, n: 18, keys: 1},
		{in: "set k 0 0 3\r\nabcde", bad: true},
		{in: "set k 0 0\r\n", bad: true},
		{in: "get\r\n", bad: true},
		{in: "version\r\n", kind: reqVersion, n: 9},
		{in: "stats\r\n", kind: reqUnknown, n: 7},
		{in: strings.Repeat("x", maxLine+1), bad: true},
	} {
		r, n, err := p.next([]byte(tc.in))
		if (err != nil) != tc.bad {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if tc.bad {
			continue
		}
		if n != tc.n || (n > 0 && (r.kind != tc.kind || len(r.keys) != tc.keys)) {
			t.Errorf("%q: kind %d n %d keys %d, want %d %d %d", tc.in, r.kind, n, len(r.keys), tc.kind, tc.n, tc.keys)
		}
	}
	for _, tc := range []struct {
		in      string
		kind, n int
		wantErr bool
	}{
		{in: "VALUE k 0 3\r\nabc\r\nEND\r\n", kind: elemValue, n: 18},
		{in: "VALUE k 0 3 99\r\nabc\r\n", kind: elemValue, n: 21},
		{in: "VALUE k 0 3\r\nab", kind: elemValue, n: 0},
		{in: "END\r\n", kind: elemEnd, n: 5},
		{in: "STORED\r\n", kind: elemLine, n: 8},
		{in: "VALUE k 0 x\r\n", wantErr: true},
	} {
		kind, n, err := nextReply([]byte(tc.in))
		if (err != nil) != tc.wantErr || (!tc.wantErr && (kind != tc.kind || n != tc.n)) {
			t.Errorf("%q: kind %d n %d err %v", tc.in, kind, n, err)
		}
	}
}
