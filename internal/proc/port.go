//go:build unix

package proc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// Ports for test and bench processes are claimed, not just found free.
//
// A port that was free a moment ago (bind to :0, close) can be handed to
// another process as soon as it is closed, and again after the memcached on
// it is stopped. A shepherd that still watches the stopped node's address
// then probes, readmits and flushes (or replays deletes to) whatever
// memcached got the port next: another test's node, whose acknowledged
// writes vanish. go test runs packages in parallel, so this happened across
// packages. ClaimPort closes that hole:
//
//   - ports come from below the kernel's ephemeral range
//     (net.ipv4.ip_local_port_range), so no bind to :0 and no outgoing
//     connection is ever given one;
//   - a port is claimed with an exclusive flock on a file under
//     $TMPDIR/shepherd-ports, held until the process exits, so no two
//     processes hold the same port;
//   - a process never hands out a port twice, so a restarted node gets its
//     old port back (the caller keeps it) and no other node gets it.
//
// A claimed port is also checked free with a bind at claim time.

const (
	portFloor = 10000 // lowest port handed out
	portCeil  = 32767 // highest, when the ephemeral range starts above it
)

var ports struct {
	mu    sync.Mutex
	given map[int]bool
	locks []*os.File // held open for the process's lifetime
}

// ClaimPort returns a loopback TCP port no other process holding a claim
// has, that this process has not handed out before, and that was free when
// claimed.
func ClaimPort() (int, error) {
	lo, hi := portFloor, claimCeil()
	dir := filepath.Join(os.TempDir(), "shepherd-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, fmt.Errorf("claim port: %w", err)
	}
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.given == nil {
		ports.given = map[int]bool{}
	}
	n := hi - lo + 1
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		p := lo + (start+i)%n
		if ports.given[p] {
			continue
		}
		f, ok := lockPort(dir, p)
		if !ok {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			f.Close() // somebody outside the claim scheme has it
			continue
		}
		l.Close()
		ports.given[p] = true
		ports.locks = append(ports.locks, f)
		return p, nil
	}
	return 0, errors.New("claim port: every port in the range is claimed")
}

// lockPort takes the claim file of port p; false if another process holds it.
func lockPort(dir string, p int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// claimCeil is the highest port below the ephemeral range.
func claimCeil() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return portCeil
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err != nil || first-1 < portFloor+1000 {
		return portCeil
	}
	return min(first-1, portCeil)
}
