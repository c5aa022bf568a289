// Memcached: the command line of a loopback node, the "version" ping that
// says it is ready, "stats" over a fresh connection, and whether a
// SIGSTOPped node's threads have all stopped.

package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

// MemcachedArgs is the command line of a memcached on 127.0.0.1:port
// (64 MB, 2 threads, no UDP; -u root when run as root, which memcached
// requires).
func MemcachedArgs(port int) []string {
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64", "-t", "2"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	return args
}

// Ping sends "version" and expects "VERSION ...".
func Ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("version: got %q; want VERSION", line)
	}
	return nil
}

// Stats sends cmd ("stats", "stats herd", ...) on a fresh connection and
// returns its STAT lines within timeout; an ERROR reply is an error.
func Stats(addr, cmd string, timeout time.Duration) (map[string]string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return nil, err
	}
	lines, err := protocol.ReadStats(bufio.NewReader(c))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	out := make(map[string]string, len(lines))
	for _, l := range lines {
		out[l.Name] = l.Value
	}
	return out, nil
}

// WaitThreads waits, up to max, until every thread of pid is stopped (or
// none is): kill(2) only queues SIGSTOP and SIGCONT, and a worker thread
// may still answer a request after the signal was sent. Without /proc it
// returns at once.
func WaitThreads(pid int, stopped bool, max time.Duration) {
	for deadline := time.Now().Add(max); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		all, none, ok := ThreadStates(pid)
		if !ok || (stopped && all) || (!stopped && none) {
			return
		}
	}
}

// ThreadStates reports whether all or none of pid's threads are stopped
// ('T' or 't' in /proc/PID/task/TID/stat); ok is false without /proc.
func ThreadStates(pid int) (all, none, ok bool) {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if len(stats) == 0 {
		return false, false, false
	}
	all, none = true, true
	for _, path := range stats {
		data, err := os.ReadFile(path)
		i := bytes.LastIndexByte(data, ')') // the command name, in parentheses, may hold spaces
		if err != nil || i < 0 || i+2 >= len(data) {
			continue // the thread exited
		}
		if data[i+2] == 'T' || data[i+2] == 't' {
			none = false
		} else {
			all = false
		}
	}
	return all, none, true
}
