package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// childEnv makes the test binary run main instead of the tests, so tests
// can start shepherd as a real process and signal it.
const childEnv = "SHEPHERD_TEST_RUN_MAIN"

func runChildOrTests(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Unsetenv(childEnv)
		main()
		return
	}
	// Shepherds the tests start without spool_dir keep their spools (see
	// proxy.DefaultSpoolDir) here, not in the machine's state directory.
	state, err := os.MkdirTemp("", "shepherd-test-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("STATE_DIRECTORY", state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}

func TestRunVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run([]string{"--version"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit code: got %d; want 0", code)
	}
	if got, want := out.String(), "shepherd "+proxy.Version+" "+runtime.Version(); !strings.HasPrefix(got, want) {
		t.Fatalf("output: got %q; want it to start %q", got, want)
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "--config"},
		{[]string{"--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{}, 2, "no config file"},
		{[]string{"-c", "/nonexistent/shepherd.yaml"}, 2, "/nonexistent/shepherd.yaml"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		code := run(tt.args, io.Discard, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run %q: got exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}

// shepherdConfig writes a config over servers listening on free ports.
func shepherdConfig(t *testing.T, servers []*mctest.Server) (path, listen string) {
	t.Helper()
	listen = fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nadmin: 127.0.0.1:%d\npools:\n  main:\n    servers:\n", listen, mctest.FreePort(t))
	for _, s := range servers {
		fmt.Fprintf(&b, "      - %s:1\n", s.Addr)
	}
	path = filepath.Join(t.TempDir(), "shepherd.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, listen
}

// waitListening waits until addr accepts or errc yields; it skips the test
// when the proxy reports that it is not implemented yet.
func waitListening(t *testing.T, addr string, errc <-chan error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for backoff := 5 * time.Millisecond; ; backoff = min(2*backoff, 200*time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case err := <-errc:
			if err != nil && strings.Contains(err.Error(), "unimplemented") {
				t.Skipf("proxy.ListenAndServe is still a stub: %v", err)
			}
			t.Fatalf("shepherd exited before listening on %s: %v", addr, err)
		case <-time.After(backoff):
		}
		if time.Now().After(deadline) {
			t.Fatalf("shepherd not listening on %s after 5s", addr)
		}
	}
}

// TestServeEndToEnd runs serve in-process against real memcached nodes.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	servers := mctest.StartN(t, 2)
	path, listen := shepherdConfig(t, servers)
	fs := newFlagSet(io.Discard)
	fs.Parse([]string{"-c", path})
	s, err := loadSettings(fs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)), nil) }()
	waitListening(t, listen, errc)

	c, err := net.DialTimeout("tcp", listen, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "set greeting 7 0 5\r\nhello\r\nget greeting\r\n")
	r := bufio.NewReader(c)
	var got strings.Builder
	for !strings.HasSuffix(got.String(), "END\r\n") {
		line, err := r.ReadString('\n')
		got.WriteString(line)
		if err != nil {
			t.Fatalf("reply: %v (read %q)", err, got.String())
		}
	}
	if want := "STORED\r\nVALUE greeting 7 5\r\nhello\r\nEND\r\n"; got.String() != want {
		t.Fatalf("set+get through shepherd: got %q; want %q", got.String(), want)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve after cancel: got %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return within 10s of cancel")
	}
}

// TestSIGTERMDrains runs shepherd as a child process, sends SIGHUP (which
// must not kill it) and stops it with SIGTERM.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	servers := mctest.StartN(t, 1)
	path, listen := shepherdConfig(t, servers)
	cmd := exec.Command(os.Args[0], "-c", path)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // no-op once it exited
		<-done
	})
	exited := make(chan error, 1)
	go func() {
		<-done
		exited <- fmt.Errorf("%v: %s", cmd.ProcessState, stderr.String())
	}()
	waitListening(t, listen, exited)
	stderr.waitFor(t, "shepherd starting")

	cmd.Process.Signal(syscall.SIGHUP) // logged, not fatal
	stderr.waitFor(t, "SIGHUP")
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit code after SIGHUP, SIGTERM: got %d; want 0 (%v)", code, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("shepherd still running 10s after SIGTERM; stderr: %s", stderr.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// waitFor waits up to 5s for the output to contain want: the child's
// output reaches the buffer through a copying goroutine, a little later.
func (b *lockedBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(b.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("stderr: got %q; want it to contain %q within 5s", b.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
