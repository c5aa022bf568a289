package proxy_test

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
	"github.com/shepherd-proxy/shepherd/ring"
)

// badNodeConfig puts a fake node first in a pool with two real ones.
func badNodeConfig(fake string) func(*proxy.Config) {
	return func(cfg *proxy.Config) {
		staleConfig("")(cfg)
		p := cfg.Pools["main"]
		p.Timeout = 300 * time.Millisecond // the slow node answers in 600
		p.Servers = append([]ring.Node{{Addr: fake, Weight: 1, Name: "fake"}}, p.Servers...)
	}
}

// TestResettingAndSlowNodes: a node that cuts connections mid-reply, and
// one that answers after the timeout, cost clients misses (never an error
// line, never another key's value) and get ejected.
func TestResettingAndSlowNodes(t *testing.T) {
	t.Parallel()
	behaviours := map[string]func(w *bufio.Writer, line string) bool{
		"resets mid-reply": func(w *bufio.Writer, line string) bool {
			if strings.HasPrefix(line, "version") {
				w.WriteString("VERSION fake\r\n")
				return true
			}
			w.WriteString("VALUE wrong 0 10\r\nhalf") // then the connection drops
			return false
		},
		"slow": func(w *bufio.Writer, line string) bool {
			time.Sleep(600 * time.Millisecond) // twice the 300ms timeout
			if strings.HasPrefix(line, "get ") {
				w.WriteString("VALUE " + strings.Fields(line)[1] + " 0 5\r\nlate!\r\nEND\r\n")
			} else {
				w.WriteString("STORED\r\n")
			}
			return true
		},
	}
	for name, reply := range behaviours {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, reply)
			f := startShepherd(t, mctest.StartN(t, 2), badNodeConfig(fake.Addr))
			c := dial(t, f.addr)
			fakeKey := keyOn(t, f, 0, "bad:")
			for i := 0; i < 10; i++ {
				start := time.Now()
				c.send("get " + fakeKey + "\r\n")
				if got := readValue(t, c); got != "" {
					t.Fatalf("get of the bad node's key: got %q; want a miss", got)
				}
				// about the 300ms timeout; the bound only catches a hang
				if took := time.Since(start); took > 3*time.Second {
					t.Errorf("get took %v; want about the 300ms timeout", took)
				}
			}
			waitState(t, f.srv, fake.Addr, "ejected")
			c.send(fmt.Sprintf("set %s 0 0 2\r\nok\r\nget %s\r\n", fakeKey, fakeKey))
			c.expect("STORED", "VALUE "+fakeKey+" 0 2", "ok", "END") // rehashed to a real node
		})
	}
}

// TestAllNodesOut: with every node of a pool ejected, gets miss at once,
// writes fail at once with SERVER_ERROR, and the pool recovers when a
// node returns.
func TestAllNodesOut(t *testing.T) {
	t.Parallel()
	nodes := mctest.StartN(t, 2)
	f := startShepherd(t, nodes, staleConfig(""))
	c := dial(t, f.addr)
	ejectByTraffic(t, f, c, 0, keyOn(t, f, 0, "all:"))
	ejectByTraffic(t, f, c, 1, keyOn(t, f, 1, "all:"))
	start := time.Now()
	c.send("get a b c\r\nset a 0 0 1\r\nx\r\n")
	c.expect("END", "SERVER_ERROR every node of the pool is ejected")
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Logf("note: answered in %v with every node out", took)
	}
	nodes[1].Resume()
	waitState(t, f.srv, nodes[1].Addr, "healthy")
	c.send("set a 0 0 1\r\nx\r\nget a\r\n")
	c.expect("STORED", "VALUE a 0 1", "x", "END")
}
