// Memcached: real memcached nodes on free loopback ports, and the faults
// scenarios inject into them (stop, kill and restart, slow).
package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/proc"
)

const readyTimeout = 5 * time.Second

// Node is one memcached process on 127.0.0.1:Port. Its methods are safe for
// concurrent use.
type Node struct {
	Addr    string
	Port    int
	TLSAddr string // with TLS (tls.go): the node's TLS listener; Addr stays in the clear

	procs *Procs
	path  string
	args  []string

	mu   sync.Mutex // guards proc
	proc *Proc      // nil while killed
}

// memcachedArgs is the command line of a node on port.
func memcachedArgs(port int) []string { return proc.MemcachedArgs(port) }

// StartMemcached starts a node on a free port, retrying when another
// process takes the port first.
func (ps *Procs) StartMemcached(ctx context.Context, path string) (*Node, error) {
	return ps.startMemcached(ctx, path, func(port int) (*Node, error) {
		return &Node{args: memcachedArgs(port)}, nil
	})
}

// startMemcached starts the node newNode describes for a free port,
// retrying when another process takes a port first.
func (ps *Procs) startMemcached(ctx context.Context, path string, newNode func(port int) (*Node, error)) (*Node, error) {
	var err error
	for range 5 {
		var addr string
		if addr, err = freeAddr(); err != nil {
			return nil, err
		}
		var n *Node
		if n, err = newNode(portOf(addr)); err != nil {
			return nil, err
		}
		n.Addr, n.Port, n.procs, n.path = addr, portOf(addr), ps, path
		if err = n.start(ctx); err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("start memcached: %w", err)
}

// StartMemcacheds starts n nodes.
func (ps *Procs) StartMemcacheds(ctx context.Context, path string, n int) ([]*Node, error) {
	nodes := make([]*Node, 0, n)
	for range n {
		node, err := ps.StartMemcached(ctx, path)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, node)
	}
	return nodes, nil
}

func (n *Node) start(ctx context.Context) error {
	p, err := n.procs.Start("memcached "+n.Addr, n.path, n.args...)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, p, readyTimeout, func() error { return ping(n.Addr) }); err != nil {
		p.Kill()
		if strings.Contains(p.Output(), "Address already in use") {
			return fmt.Errorf("%w: %s", errAddrInUse, n.Addr)
		}
		return err
	}
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	return nil
}

// Kill ends the process at once (connections are refused afterwards).
func (n *Node) Kill() {
	n.mu.Lock()
	p := n.proc
	n.proc = nil
	n.mu.Unlock()
	if p != nil {
		p.Kill()
	}
}

// Restart starts a killed node again on its port, retrying while the
// port is still busy.
func (n *Node) Restart(ctx context.Context) error {
	n.Kill()
	deadline := time.Now().Add(readyTimeout)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 200*time.Millisecond) {
		err := n.start(ctx)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(backoff)
	}
}

// Pause stops the process with SIGSTOP: the kernel still accepts
// connections but nothing answers, like a hung host. SIGSTOP is
// asynchronous, so Pause waits (briefly) until every thread has stopped.
func (n *Node) Pause() {
	n.signal(syscall.SIGSTOP)
	n.waitThreads(true)
}

// Resume continues a paused process and waits until its threads run.
func (n *Node) Resume() {
	n.signal(syscall.SIGCONT)
	n.waitThreads(false)
}

// waitThreads waits (for at most 200ms) until all of the process's
// threads are stopped, or none is; without /proc it returns at once.
func (n *Node) waitThreads(stopped bool) {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p != nil {
		proc.WaitThreads(p.Pid(), stopped, 200*time.Millisecond)
	}
}

func (n *Node) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		n.proc.Signal(sig)
	}
}

// Stats asks the node for "stats" over a fresh connection within timeout.
func (n *Node) Stats(timeout time.Duration) (map[string]string, error) {
	return statsOf(n.Addr, "stats", timeout)
}

// ping sends "version" and expects "VERSION ...".
func ping(addr string) error { return proc.Ping(addr) }

// statsOf sends cmd ("stats", "stats herd", ...) and returns its STAT
// lines; an ERROR reply is an error.
func statsOf(addr, cmd string, timeout time.Duration) (map[string]string, error) {
	return proc.Stats(addr, cmd, timeout)
}

// statInt reads a whole-number stat, 0 when absent.
func statInt(st map[string]string, name string) int64 {
	v, _ := strconv.ParseInt(st[name], 10, 64)
	return v
}

// sendLine sends one request line (CRLF added) on a fresh connection and
// returns the first reply line.
func sendLine(addr, line string) (string, error) {
	return sendRaw(addr, line+"\r\n")
}

func sendRaw(addr, req string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		return "", err
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(reply, "\r\n"), err
}

// setKey stores val under key through addr.
func setKey(addr, key, val string) error {
	reply, err := sendRaw(addr, fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", key, len(val), val))
	if err == nil && reply != "STORED" {
		err = fmt.Errorf("set %s: got %q; want STORED", key, reply)
	}
	return err
}

// flushNodes empties every node.
func flushNodes(nodes []*Node) error {
	for _, n := range nodes {
		reply, err := sendLine(n.Addr, "flush_all")
		if err == nil && reply != "OK" {
			err = fmt.Errorf("flush_all %s: got %q; want OK", n.Addr, reply)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
