// Isolation: one client's malformed or quiet-flagged commands never move,
// delay or leak another client's replies on a shared backend connection.
package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// TestQuietFlagLongForms: memcached reads a meta flag by its first
// character, so "qq" and "q9" are quiet. A victim on another connection
// must get its own value, never a timeout, while an attacker sends them.
func TestQuietFlagLongForms(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	victim := dial(t, f.addr)
	attacker := dial(t, f.addr)
	victim.send("set secret 0 0 16\r\nSECRET-of-victim\r\n")
	victim.expect("STORED")
	for i, q := range []string{"qq", "q9", "quiet", "qX"} {
		attacker.send(fmt.Sprintf("mg nokey%d v %s\r\nmd nokey%d %s\r\nms k%d 1 %s\r\nx\r\n", i, q, i, q, i, q))
		victim.send("mg secret v\r\n")
		victim.expect("VA 16", "SECRET-of-victim")
		attacker.send("mn\r\n")
		attacker.expect("NF", "MN")
	}
}

// TestIsolationUnderAttack: while 4 connections send random and mutated
// bytes (the differential fuzzer's streams, meta flags included, plus raw
// random bytes), a well-behaved client on another connection sees no
// error, no wrong value, and no node is ejected or sees a failed request.
// CI runs it for 5 s; SHEPHERD_ISOLATION_DURATION=20s (make fuzz) longer.
func TestIsolationUnderAttack(t *testing.T) {
	t.Parallel()
	dur := envDuration(t, "SHEPHERD_ISOLATION_DURATION")
	if dur == 0 {
		dur = 5 * time.Second
	}
	f := startShepherd(t, mctest.StartN(t, 3), func(cfg *proxy.Config) {
		pc := cfg.Pools["main"]
		pc.Timeout, pc.FailureLimit = time.Second, 3 // a node that misbehaves is ejected fast
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var attacks atomic.Int64
	for a := 0; a < 4; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attack(f.addr, uint64(a), stop, &attacks)
		}()
	}
	ops, bad := goodClient(t, f.addr, dur)
	close(stop)
	wg.Wait()
	var ejections, errs uint64
	for _, n := range f.srv.Backends() {
		ejections += n.Ejections
		errs += n.Errors
	}
	t.Logf("isolation: %d good operations, %d wrong, %d attack streams, %d ejections, %d backend errors in %v",
		ops, len(bad), attacks.Load(), ejections, errs, dur)
	if len(bad) > 0 {
		t.Errorf("good client: got %d of %d operations wrong; want 0; first: %s", len(bad), ops, bad[0])
	}
	if ejections != 0 || errs != 0 {
		t.Errorf("got %d ejections and %d failed backend requests; want 0", ejections, errs)
	}
}

// attack sends generated streams (half of them mutated further into raw
// noise) on one connection after another until stop.
func attack(addr string, id uint64, stop chan struct{}, n *atomic.Int64) {
	r := rand.New(rand.NewPCG(id, 7))
	for i := uint64(0); ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		g := newGen(id<<32|i, fmt.Sprintf("atk%d.%d.", id, i))
		g.small = true
		stream := g.stream(30)
		if stream == nil {
			continue
		}
		// flush_all is no attack: it empties the cache for every client.
		stream = bytes.ReplaceAll(stream, []byte("flush_all"), []byte("flush_xxx"))
		if r.IntN(2) == 0 {
			for j := 0; j < len(stream)/50; j++ {
				stream[r.IntN(len(stream))] = byte(r.IntN(256))
			}
		}
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		nc.SetDeadline(time.Now().Add(3 * time.Second))
		go io.Copy(io.Discard, nc)
		nc.Write(stream)
		time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		nc.Close()
		n.Add(1)
	}
}

// goodClient runs set, get, mg and delete with checked answers for dur and
// returns how many operations it ran and what went wrong.
func goodClient(t *testing.T, addr string, dur time.Duration) (ops int, bad []string) {
	c := dial(t, addr)
	r := rand.New(rand.NewPCG(99, 99))
	check := func(got, want string) {
		ops++
		if got != want {
			bad = append(bad, fmt.Sprintf("got %q; want %q", got, want))
		}
	}
	for end := time.Now().Add(dur); time.Now().Before(end) && len(bad) < 10; {
		key := fmt.Sprintf("good:%d", r.IntN(50))
		val := strings.Repeat(string(rune('a'+r.IntN(26))), 1+r.IntN(200)) + key
		c.send(fmt.Sprintf("set %s 7 0 %d\r\n%s\r\n", key, len(val), val))
		check(c.line(), "STORED")
		c.send("get " + key + "\r\n")
		check(c.reply("END"), fmt.Sprintf("VALUE %s 7 %d|%s|END", key, len(val), val))
		c.send("mg " + key + " v f\r\n")
		check(c.reply("VA"), fmt.Sprintf("VA %d f7|%s", len(val), val))
		if r.IntN(5) == 0 {
			c.send("delete " + key + "\r\nmg " + key + " v\r\n")
			check(c.line()+"|"+c.reply("VA"), "DELETED|EN")
		}
	}
	return ops, bad
}

// reply reads one reply, its lines joined by "|": a get's VALUE blocks up
// to END (kind "END"), a VA line and its data (kind "VA"), or one line.
func (c *conn) reply(kind string) string {
	c.t.Helper()
	parts := []string{c.line()}
	for last := parts[0]; ; last = parts[len(parts)-1] {
		switch {
		case kind == "VA" && len(parts) == 1 && strings.HasPrefix(last, "VA "),
			kind == "END" && strings.HasPrefix(last, "VALUE "):
			parts = append(parts, c.line()) // the data line
			if kind == "END" {
				parts = append(parts, c.line())
			}
			continue
		}
		return strings.Join(parts, "|")
	}
}
