// Nutcracker: Debian's twemproxy in front of the same nodes, for comparison.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Nutcracker is one running twemproxy.
type Nutcracker struct {
	Addr  string
	Stats string // its stats port: JSON, refreshed every 100ms
	proc  *Proc
}

// nutcrackerYAML is a one-pool twemproxy config equivalent to pool: ketama
// over md5, ejecting a node after FailureLimit errors and retrying it after
// RetryTimeout (twemproxy re-adds it blindly then).
func nutcrackerYAML(listen string, nodes []string, p Pool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "bench:\n  listen: %s\n  hash: md5\n  distribution: ketama\n", listen)
	fmt.Fprintf(&b, "  timeout: %d\n  auto_eject_hosts: true\n  server_failure_limit: %d\n", p.Timeout.Milliseconds(), p.FailureLimit)
	fmt.Fprintf(&b, "  server_retry_timeout: %d\n  preconnect: true\n  redis: false\n  servers:\n", p.RetryTimeout.Milliseconds())
	for _, n := range nodes {
		fmt.Fprintf(&b, "    - %s:1\n", n)
	}
	return b.Bytes()
}

// startNutcracker runs twemproxy over nodes on free loopback ports.
func (e *Env) startNutcracker(ctx context.Context, nodes []string, p Pool) (*Nutcracker, error) {
	if e.Nutcracker == "" {
		return nil, errors.New("bench: nutcracker not installed (apt-get install nutcracker)")
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	statsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := e.tempPath("nutcracker-*.yml")
	if err := os.WriteFile(conf, nutcrackerYAML(listen, nodes, p), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-c", conf, "-a", "127.0.0.1", "-s", strconv.Itoa(portOf(statsAddr)),
		"-o", conf + ".log", "-p", filepath.Join(filepath.Dir(conf), filepath.Base(conf)+".pid"), "-v", "4", "-i", "100"}
	proc, err := e.Procs.Start("nutcracker "+listen, e.Nutcracker, args...)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, proc, readyTimeout, func() error { return accepts(listen) }); err != nil {
		proc.Kill()
		return nil, err
	}
	return &Nutcracker{Addr: listen, Stats: statsAddr, proc: proc}, nil
}

// Stop ends twemproxy.
func (n *Nutcracker) Stop() { n.proc.Stop(time.Second) }

func accepts(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// serverStats reads twemproxy's stats JSON and returns node's counters
// in pool "bench" (server_ejected_at, requests, ...).
func (n *Nutcracker) serverStats(node string, timeout time.Duration) (map[string]float64, error) {
	c, err := net.DialTimeout("tcp", n.Stats, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	var doc map[string]json.RawMessage
	if err := json.NewDecoder(c).Decode(&doc); err != nil {
		return nil, err
	}
	var pool map[string]json.RawMessage
	if err := json.Unmarshal(doc["bench"], &pool); err != nil {
		return nil, err
	}
	var out map[string]float64
	if err := json.Unmarshal(pool[node], &out); err != nil {
		return nil, fmt.Errorf("nutcracker stats for %s: %w", node, err)
	}
	return out, nil
}
