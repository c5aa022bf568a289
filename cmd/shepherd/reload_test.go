package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// reloadYAML is a config over servers with fixed listeners; extra is
// appended as is.
func reloadYAML(listen, admin string, servers []*mctest.Server, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin: %s\npools:\n  main:\n    servers:\n", listen, admin)
	for _, s := range servers {
		fmt.Fprintf(&b, "      - %s:1\n", s.Addr)
	}
	return b.String() + extra
}

// writeRenamed saves data as editors do: a new file renamed over path.
func writeRenamed(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// child is shepherd running as a child process.
type child struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	listen string
}

// startChild runs shepherd -c path and waits until it listens on listen.
func startChild(t *testing.T, path, listen string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-c", path)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	c := &child{cmd: cmd, stderr: &lockedBuffer{}, listen: listen}
	cmd.Stderr = c.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // no-op once it exited
		<-done
		if t.Failed() {
			t.Logf("shepherd's stderr:\n%s", c.stderr.String())
		}
	})
	exited := make(chan error, 1)
	go func() {
		<-done
		exited <- fmt.Errorf("%v: %s", cmd.ProcessState, c.stderr.String())
	}()
	waitListening(t, listen, exited)
	c.stderr.waitFor(t, "shepherd starting")
	return c
}

// waitForCount waits up to 5s for the child's stderr to hold n copies of want.
func (c *child) waitForCount(t *testing.T, want string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); strings.Count(c.stderr.String(), want) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("stderr: got %q; want %d × %q within 5s", c.stderr.String(), n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setThrough stores key through shepherd and reports which of servers
// holds it, asking each directly.
func (c *child) setThrough(t *testing.T, key string, servers []*mctest.Server) int {
	t.Helper()
	if got := roundTrip(t, c.listen, "set "+key+" 0 0 1\r\nx\r\n", "\r\n"); got != "STORED\r\n" {
		t.Fatalf("set %s through shepherd: got %q; want STORED", key, got)
	}
	where := -1
	for i, s := range servers {
		if strings.HasPrefix(roundTrip(t, s.Addr, "get "+key+"\r\n", "END\r\n"), "VALUE ") {
			where = i
		}
	}
	return where
}

// roundTrip sends req on a new connection to addr and reads until the
// reply ends with end.
func roundTrip(t *testing.T, addr, req, end string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	br := bufio.NewReader(nc)
	for !strings.HasSuffix(got.String(), end) {
		line, err := br.ReadString('\n')
		got.WriteString(line)
		if err != nil {
			t.Fatalf("%s %q: %v (read %q)", addr, req, err, got.String())
		}
	}
	return got.String()
}

// TestReloadOnFileChange saves a new server list, then an invalid file,
// over a running shepherd's config.
func TestReloadOnFileChange(t *testing.T) {
	t.Parallel()
	servers := mctest.StartN(t, 2)
	listen := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	path := filepath.Join(t.TempDir(), "shepherd.yaml")
	writeRenamed(t, path, reloadYAML(listen, admin, servers[:1], ""))
	c := startChild(t, path, listen)
	if got := c.setThrough(t, "k1", servers); got != 0 {
		t.Fatalf("k1 before the change: on server %d; want 0", got)
	}

	writeRenamed(t, path, reloadYAML(listen, admin, servers[1:], ""))
	c.stderr.waitFor(t, "config reloaded")
	if got := c.setThrough(t, "k2", servers); got != 1 {
		t.Fatalf("k2 after the file moved the pool to server 1: on server %d; want 1", got)
	}

	bad := reloadYAML(listen, admin, servers[:1], "routes:\n  - prefix: \"user:\"\n    pool: users\n")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil { // in place, this time
		t.Fatal(err)
	}
	c.stderr.waitFor(t, "config reload failed")
	if !strings.Contains(c.stderr.String(), `unknown pool \"users\"`) {
		t.Errorf("stderr: got %q; want the reason, unknown pool \"users\"", c.stderr.String())
	}
	if got := c.setThrough(t, "k3", servers); got != 1 {
		t.Fatalf("k3 after an invalid file: on server %d; want still 1", got)
	}
	if n := strings.Count(c.stderr.String(), "config reloaded"); n != 1 {
		t.Errorf("reloads applied: got %d; want 1", n)
	}
}

// TestReloadOnSIGHUP changes the config where the watcher cannot see it
// (the file is a symlink to another directory, edited in place), so only
// SIGHUP applies it.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	servers := mctest.StartN(t, 2)
	listen := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	target := filepath.Join(t.TempDir(), "real.yaml")
	path := filepath.Join(t.TempDir(), "shepherd.yaml")
	if err := os.WriteFile(target, []byte(reloadYAML(listen, admin, servers[:1], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, path, listen)

	if err := os.WriteFile(target, []byte(reloadYAML(listen, admin, servers[1:], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	c.cmd.Process.Signal(syscall.SIGHUP)
	c.stderr.waitFor(t, "config reloaded")
	if got := c.setThrough(t, "k1", servers); got != 1 {
		t.Fatalf("k1 after SIGHUP moved the pool to server 1: on server %d; want 1", got)
	}

	if err := os.WriteFile(target, []byte("pools: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.cmd.Process.Signal(syscall.SIGHUP)
	c.stderr.waitFor(t, "config reload failed")
	if got := c.setThrough(t, "k2", servers); got != 1 {
		t.Fatalf("k2 after an invalid file: on server %d; want still 1", got)
	}
	if out := c.stderr.String(); strings.Count(out, `"reloading config" trigger=SIGHUP`) != 2 || strings.Contains(out, `trigger="file changed"`) {
		t.Errorf("stderr: got %q; want two reloads, both by SIGHUP", out)
	}

	c.cmd.Process.Signal(syscall.SIGTERM)
	c.waitForCount(t, "shepherd stopped", 1)
}

// TestWatchFile sees the changes that matter to a config file and no
// others: a save in place, a rename over it, and Kubernetes' swap of the
// ..data symlink a mounted ConfigMap's files point through.
func TestWatchFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"..v1", "..v2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "shepherd.yaml"), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("..v1", filepath.Join(dir, "..data")))
	file := filepath.Join(dir, "shepherd.yaml")
	must(os.Symlink("..data/shepherd.yaml", file))
	fw, err := watchFile(file)
	must(err)
	defer fw.close()

	steps := []struct {
		name   string
		do     func()
		change bool
	}{
		{"another file written", func() { must(os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644)) }, false},
		{"..data swapped", func() {
			must(os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
			must(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		}, true},
		{"renamed over", func() { writeRenamed(t, file, "renamed") }, true},
		{"written in place", func() { must(os.WriteFile(file, []byte("in place"), 0o644)) }, true},
	}
	for _, st := range steps {
		st.do()
		select {
		case <-fw.changes():
			if !st.change {
				t.Errorf("%s: got a change; want none", st.name)
			}
		case <-time.After(300 * time.Millisecond):
			if st.change {
				t.Errorf("%s: got no change within 300ms; want one", st.name)
			}
		}
		settle(fw.changes()) // the rest of this step's events
	}
}

// settle drains ch until it has been quiet for 50ms.
func settle(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}
