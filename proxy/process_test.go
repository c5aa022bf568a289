package proxy_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// shepherdBinary builds cmd/shepherd once per test run, for the tests
// that need several shepherd processes (a fleet of sidecars).
var shepherdBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "shepherd-test-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "shepherd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/shepherd-proxy/shepherd/cmd/shepherd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build cmd/shepherd: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := shepherdBinary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// startShepherdProcess runs the shepherd binary over nodes with herd rules
// (none for nil) on a free loopback port, stopped (SIGTERM, then SIGKILL)
// when the test ends, and returns its address.
func startShepherdProcess(t *testing.T, nodes []*mctest.Server, rules []herd.Rule) string {
	t.Helper()
	bin, err := shepherdBinary()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	dir := t.TempDir()
	conf := filepath.Join(dir, "shepherd.yaml")
	if err := os.WriteFile(conf, []byte(processConfig(addr, dir, nodes, rules)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", conf, "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { stopProcess(cmd, exited) })
	waitAccepting(t, addr, exited, &log)
	return addr
}

func processConfig(addr, dir string, nodes []*mctest.Server, rules []herd.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin: off\nspool_dir: %s\npools:\n  main:\n    timeout: 2s\n    failure_limit: 1000\n    servers:\n", addr, dir)
	for _, n := range nodes {
		fmt.Fprintf(&b, "      - %s:1\n", n.Addr)
	}
	if len(rules) > 0 {
		b.WriteString("herd:\n  rules:\n")
		for _, r := range rules {
			fmt.Fprintf(&b, "    - prefix: %q\n      stale_ttl: %s\n      hold: %s\n      lease_ttl: %s\n",
				r.Prefix, orDefault(r.StaleTTL, herd.DefaultStaleTTL), orDefault(r.Hold, herd.DefaultHold), orDefault(r.LeaseTTL, herd.DefaultLeaseTTL))
			if r.Origin != "" {
				fmt.Fprintf(&b, "      origin: %q\n", r.Origin)
			}
		}
	}
	return b.String()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// waitAccepting waits, with capped backoff, until addr answers version.
func waitAccepting(t *testing.T, addr string, exited chan struct{}, log *strings.Builder) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for wait := 5 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 200*time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("shepherd exited at start:\n%s", log.String())
		default:
		}
		if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			fmt.Fprint(nc, "version\r\n")
			nc.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 64)
			n, _ := nc.Read(buf)
			nc.Close()
			if strings.HasPrefix(string(buf[:n]), "VERSION ") {
				return
			}
		}
		time.Sleep(wait)
	}
	t.Fatalf("shepherd on %s not ready after 10s:\n%s", addr, log.String())
}

func stopProcess(cmd *exec.Cmd, exited chan struct{}) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}
