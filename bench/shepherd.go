// Shepherd: building the daemon, writing its config, finding out which
// config keys and features it has, and running it.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Features says what the shepherd under test had. Keys are offered to it
// and dropped when it rejects them, so a run works before and after the
// health and herd work lands, and says honestly which was active.
type Features struct {
	HealthConfig bool     `json:"health_config"` // accepted failure_limit, retry_timeout, on_eject
	HerdConfig   bool     `json:"herd_config"`   // accepted a herd: section
	HerdStats    bool     `json:"herd_stats"`    // answered "stats herd"
	NodeState    bool     `json:"node_state"`    // "stats backends" or /metrics report node state
	Reload       bool     `json:"reload"`        // applied a new server list on SIGHUP
	Notes        []string `json:"notes,omitempty"`
}

// HerdRule is one herd.rules entry given to shepherd.
type HerdRule struct {
	Prefix   string
	StaleTTL time.Duration
	Hold     time.Duration
	LeaseTTL time.Duration
	Origin   string // "" for none
	TTL      time.Duration
}

// shepherdConfig is what one shepherd process is started with.
type shepherdConfig struct {
	Listen, Admin string
	SpoolDir      string // "" until tryShepherd makes one in the run's directory
	Nodes         []string
	Pool          Pool
	Herd          []HerdRule // nil: no herd section
	health, herd  bool       // emit those keys (the features cmd/shepherd accepts)
	TLSCA         string     // with a CA file: the pool talks TLS to the nodes, verified against it
}

// yaml renders c in shepherd's config shape.
func (c *shepherdConfig) yaml() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "listen: %s\nadmin: %s\nlog_level: warn\n", c.Listen, c.Admin)
	if c.SpoolDir != "" {
		fmt.Fprintf(&b, "spool_dir: %s\n", c.SpoolDir)
	}
	b.WriteString("pools:\n  main:\n")
	fmt.Fprintf(&b, "    distribution: ketama\n    hash: md5\n    timeout: %v\n    connect_timeout: %v\n", c.Pool.Timeout, c.Pool.ConnectTimeout)
	if c.Pool.Connections > 0 {
		fmt.Fprintf(&b, "    connections: %d\n", c.Pool.Connections)
	}
	if c.TLSCA != "" {
		fmt.Fprintf(&b, "    tls: {ca: %q}\n", c.TLSCA)
	}
	if c.health {
		fmt.Fprintf(&b, "    failure_limit: %d\n    retry_timeout: %v\n    on_eject: %s\n", c.Pool.FailureLimit, c.Pool.RetryTimeout, c.Pool.OnEject)
	}
	b.WriteString("    servers:\n")
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "      - \"%s:1\"\n", n)
	}
	if c.herd && c.Herd != nil {
		b.WriteString("herd:\n  rules:\n")
		for _, r := range c.Herd {
			writeRule(&b, r)
		}
	}
	return b.Bytes()
}

func writeRule(b *bytes.Buffer, r HerdRule) {
	fmt.Fprintf(b, "    - prefix: %q\n      stale_ttl: %v\n      hold: %v\n      lease_ttl: %v\n", r.Prefix, r.StaleTTL, r.Hold, r.LeaseTTL)
	if r.Origin != "" {
		fmt.Fprintf(b, "      origin: %q\n      ttl: %v\n", r.Origin, r.TTL)
	}
}

// Shepherd is one running shepherd process.
type Shepherd struct {
	Addr  string // memcached listener
	Admin string // /metrics
	cfg   shepherdConfig
	path  string // its config file
	proc  *Proc
}

// BuildShepherd compiles ./cmd/shepherd of the module at root into dir.
func BuildShepherd(ctx context.Context, root, dir string) (string, error) {
	return buildCommand(ctx, root, dir, "shepherd")
}

// buildCommand compiles ./cmd/NAME of the module at root into dir/NAME.
func buildCommand(ctx context.Context, root, dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, msg)
	}
	return out, nil
}

// ModuleRoot walks up from dir to the directory holding shepherd's go.mod.
func ModuleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/shepherd-proxy/shepherd\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("bench: not inside the shepherd module; pass --shepherd PATH")
		}
	}
}

// startShepherd runs one shepherd with c on fresh loopback ports.
func (e *Env) startShepherd(ctx context.Context, c shepherdConfig) (*Shepherd, error) {
	var err error
	for range 5 {
		var s *Shepherd
		if s, err = e.tryShepherd(ctx, c); err == nil || !errors.Is(err, errAddrInUse) || c.Listen != "" {
			return s, err
		}
	}
	return nil, err
}

func (e *Env) tryShepherd(ctx context.Context, c shepherdConfig) (*Shepherd, error) {
	var err error
	if c.Listen == "" {
		if c.Listen, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	if c.Admin == "" {
		if c.Admin, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	if c.SpoolDir == "" { // never the host's default spool (/var/lib/shepherd as root)
		if c.SpoolDir, err = os.MkdirTemp(e.Dir, "spool-*"); err != nil {
			return nil, err
		}
	}
	s := &Shepherd{Addr: c.Listen, Admin: c.Admin, cfg: c, path: e.tempPath("shepherd-*.yaml")}
	if err := os.WriteFile(s.path, c.yaml(), 0o644); err != nil {
		return nil, err
	}
	s.proc, err = e.Procs.Start("shepherd "+c.Listen, e.Shepherd, "-c", s.path)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, s.proc, readyTimeout, func() error { return ping(s.Addr) }); err != nil {
		s.proc.Kill()
		if strings.Contains(s.proc.Output(), "address already in use") {
			return nil, fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return nil, err
	}
	return s, nil
}

// Stop drains shepherd with SIGTERM, killing it after a second.
func (s *Shepherd) Stop() { s.proc.Stop(time.Second) }

// Reload writes c over the config file and sends SIGHUP.
func (s *Shepherd) Reload(c shepherdConfig) error {
	c.Listen, c.Admin, c.SpoolDir, c.health, c.herd = s.cfg.Listen, s.cfg.Admin, s.cfg.SpoolDir, s.cfg.health, s.cfg.herd
	if err := os.WriteFile(s.path, c.yaml(), 0o644); err != nil {
		return err
	}
	s.cfg = c
	s.proc.Signal(syscall.SIGHUP)
	return nil
}

// detect starts shepherd with every optional key on nodes, drops the keys
// it rejects, and looks at what the running daemon reports.
func (e *Env) detect(ctx context.Context, nodes []string, pool Pool) (Features, error) {
	c := shepherdConfig{Nodes: nodes, Pool: pool, health: true, herd: true,
		Herd: []HerdRule{{Prefix: "probe:", StaleTTL: 30 * time.Second, Hold: time.Second, LeaseTTL: 10 * time.Second}}}
	var f Features
	for range 3 {
		s, err := e.startShepherd(ctx, c)
		if err == nil {
			f.HealthConfig, f.HerdConfig = c.health, c.herd
			s.inspect(&f)
			f.Reload = s.reloads(c)
			if len(c.Nodes) < 2 {
				f.Notes = append(f.Notes, "SIGHUP reload not probed: it needs two nodes")
			}
			s.Stop()
			return f, nil
		}
		if !dropRejected(&c, err.Error(), &f) {
			return f, err
		}
	}
	return f, errors.New("bench: shepherd rejects every config offered")
}

// dropRejected turns off the key group an "unknown key" error names.
func dropRejected(c *shepherdConfig, msg string, f *Features) bool {
	if !strings.Contains(msg, "unknown key") {
		return false
	}
	switch {
	case c.herd && strings.Contains(msg, `"herd"`):
		c.herd = false
		f.Notes = append(f.Notes, "shepherd rejected the herd: section (herd protection not built yet); ran without it")
	case c.health && (strings.Contains(msg, "failure_limit") || strings.Contains(msg, "retry_timeout") || strings.Contains(msg, "on_eject")):
		c.health = false
		f.Notes = append(f.Notes, "shepherd rejected failure_limit/retry_timeout/on_eject (health not built yet); ran without them")
	default:
		return false
	}
	return true
}

// reloads reports whether s applies a shorter server list on SIGHUP: keys
// set through it then land where the new ring puts them. Detected here, at
// first use, so every scenario reports it (not only after a rebalance ran).
func (s *Shepherd) reloads(c shepherdConfig) bool {
	if len(c.Nodes) < 2 {
		return false // one node: every ring places every key alike
	}
	c.Nodes = c.Nodes[:len(c.Nodes)-1]
	if s.Reload(c) != nil {
		return false
	}
	return reloaded(s.Addr, c.Nodes, "features:reload:") // not the rebalance probe's keys: they would pass it
}

// inspect asks a running shepherd for "stats herd" and node states.
func (s *Shepherd) inspect(f *Features) {
	if st, err := statsOf(s.Addr, "stats herd", time.Second); err == nil && len(st) > 0 {
		f.HerdStats = true
	}
	if st, err := statsOf(s.Addr, "stats backends", time.Second); err == nil {
		for k := range st {
			if strings.HasSuffix(k, ":state") || strings.HasSuffix(k, ":status") {
				f.NodeState = true
			}
		}
	}
	if m, err := scrape(s.Admin); err == nil && len(m.find("state")) > 0 {
		f.NodeState = true
	}
}
