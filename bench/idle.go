// Idle connections: what each open but quiet client connection costs a
// target's process in resident memory.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// IdleCost is a target's RSS before and after opening idle connections.
type IdleCost struct {
	Target      string  `json:"target"`
	Connections int     `json:"connections"` // opened, each after one "version" round trip
	Opened      int     `json:"opened"`      // how many actually answered
	RSSBefore   int64   `json:"rss_before_kib"`
	RSSAfter    int64   `json:"rss_after_kib"`
	KiBPerConn  float64 `json:"kib_per_conn"`
	Error       string  `json:"error,omitempty"`
}

// idleSettle is how long the connections stay quiet before RSS is read.
const idleSettle = 500 * time.Millisecond

// measureIdle opens n connections to t's first address, one request each,
// and reads the RSS of t's first process before and after.
func measureIdle(ctx context.Context, t *Target, n int) IdleCost {
	out := IdleCost{Target: t.Name, Connections: n}
	pids := t.processes()
	if len(pids) == 0 {
		out.Error = "no process to measure"
		return out
	}
	pid := pids[0]
	var err error
	if out.RSSBefore, err = rssKiB(pid); err != nil {
		out.Error = err.Error()
		return out
	}
	conns := openIdle(ctx, t.Addrs[0], n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	out.Opened = len(conns)
	sleepUntil(ctx, time.Now().Add(idleSettle))
	if out.RSSAfter, err = rssKiB(pid); err != nil {
		out.Error = err.Error()
		return out
	}
	out.KiBPerConn = ratio(float64(out.RSSAfter-out.RSSBefore), float64(out.Opened))
	if out.Opened < n {
		out.Error = fmt.Sprintf("only %d of %d connections answered", out.Opened, n)
	}
	return out
}

// openIdle dials addr n times and does one "version" round trip on each;
// it returns the connections that answered. Bounded: n dials, 2s each.
func openIdle(ctx context.Context, addr string, n int) []net.Conn {
	var out []net.Conn
	for range n {
		if ctx.Err() != nil {
			break
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // out of ports or descriptors: measure what is open
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		line, err := versionRoundTrip(c)
		if err != nil || !strings.HasPrefix(line, "VERSION") {
			c.Close()
			break
		}
		c.SetDeadline(time.Time{})
		out = append(out, c)
	}
	return out
}

func versionRoundTrip(c net.Conn) (string, error) {
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

// rssKiB reads VmRSS of /proc/PID/status.
func rssKiB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrProcCounters, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("%w: pid %d: no VmRSS", ErrProcCounters, pid)
}
