package proxy_test

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// TestVersionReply: the version command answers "VERSION x.y.z" with
// numbers only, at least 1.6.0, which libmemcached-based clients need (see
// proxy.Version).
func TestVersionReply(t *testing.T) {
	t.Parallel()
	m := regexp.MustCompile(`^([0-9]+)\.([0-9]+)\.[0-9]+$`).FindStringSubmatch(proxy.ProtocolVersion())
	if m == nil {
		t.Fatalf("ProtocolVersion: got %q; want x.y.z", proxy.ProtocolVersion())
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < 1 || major == 1 && minor < 6 {
		t.Fatalf("ProtocolVersion: got %q; want at least 1.6.0", proxy.ProtocolVersion())
	}
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	c := dial(t, f.addr)
	c.send("version\r\n")
	c.expect("VERSION " + proxy.ProtocolVersion())
}

// TestMemcstat: libmemcached's memcstat reads shepherd's version and stats
// as it reads memcached's.
func TestMemcstat(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("memcstat")
	if err != nil {
		t.Skip("memcstat not installed: apt-get install libmemcached-tools (CI installs it)")
	}
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--server-version", "--servers="+f.addr).CombinedOutput()
	if want := f.addr + " " + proxy.ProtocolVersion(); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("memcstat --server-version: got %q (err %v); want %q", out, err, want)
	}
	out, err = exec.CommandContext(ctx, bin, "--servers="+f.addr).CombinedOutput()
	if want := "version: " + proxy.ProtocolVersion(); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("memcstat: got %q (err %v); want a line %q", out, err, want)
	}
}
