// Nutcracker: twemproxy child processes, the placement reference for ring tests.

package mctest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ListenPlaceholder marks where Nutcracker puts a free loopback address in a
// config: each occurrence gets its own port.
const ListenPlaceholder = "{{listen}}"

// Nutcracker starts twemproxy (/usr/sbin/nutcracker) with yaml written to a
// file in t.TempDir, replacing each ListenPlaceholder with a free loopback
// address, and returns the first of those addresses once it accepts
// connections. The process is killed when the test ends. Without nutcracker
// installed the test is skipped.
func Nutcracker(t testing.TB, yaml string) (addr string) {
	t.Helper()
	addrs := NutcrackerAddrs(t, yaml)
	if len(addrs) == 0 {
		t.Fatalf("mctest: nutcracker config has no %s placeholder", ListenPlaceholder)
	}
	return addrs[0]
}

// NutcrackerAddrs is Nutcracker for configs with several pools: it returns
// the address given to each ListenPlaceholder, in order.
func NutcrackerAddrs(t testing.TB, yaml string) []string {
	t.Helper()
	path := lookPath(t, "nutcracker", "nutcracker not installed: apt-get install nutcracker (CI installs it)")
	dir := t.TempDir()
	var addrs []string
	for strings.Contains(yaml, ListenPlaceholder) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		addrs = append(addrs, addr)
		yaml = strings.Replace(yaml, ListenPlaceholder, addr, 1)
	}
	conf := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatalf("mctest: write nutcracker config: %v", err)
	}
	args := []string{
		"-c", conf,
		"-a", "127.0.0.1", "-s", strconv.Itoa(FreePort(t)), // default stats port 22222 would collide
		"-o", filepath.Join(dir, "nutcracker.log"),
		"-p", filepath.Join(dir, "nutcracker.pid"),
		"-v", "4",
	}
	p, err := spawn(path, args)
	if err != nil {
		t.Fatalf("mctest: %v", err)
	}
	t.Cleanup(p.Kill)
	if err := waitReady(p, func() error { return acceptsAll(addrs) }); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "nutcracker.log"))
		t.Fatalf("mctest: nutcracker: %v\nconfig:\n%s\nlog:\n%s", err, yaml, log)
	}
	return addrs
}

// NutcrackerPool returns a twemproxy config with one memcached pool named
// "alpha" over servers (weight 1 each, listening on ListenPlaceholder).
// distribution and hash are twemproxy's names; empty means ketama and md5.
func NutcrackerPool(servers []*Server, distribution, hash string) string {
	if distribution == "" {
		distribution = "ketama"
	}
	if hash == "" {
		hash = "md5"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "alpha:\n  listen: %s\n  hash: %s\n  distribution: %s\n", ListenPlaceholder, hash, distribution)
	b.WriteString("  auto_eject_hosts: false\n  redis: false\n  servers:\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "    - %s:1\n", s.Addr)
	}
	return b.String()
}

func acceptsAll(addrs []string) error {
	for _, addr := range addrs {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}
