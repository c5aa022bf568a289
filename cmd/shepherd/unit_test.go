package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

const unitFile = "../../configs/shepherd.service"

// TestUnitDynamicUser: the systemd unit gives shepherd a state directory
// (StateDirectory=shepherd, $STATE_DIRECTORY) and systemd-analyze accepts
// it; and, as the unit would run it (systemd is not PID 1 here, so this
// emulates DynamicUser with the unprivileged user nobody and sets
// STATE_DIRECTORY as systemd does), shepherd starts with the example config
// and keeps its spool there, not in /var/lib.
func TestUnitDynamicUser(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=shepherd", "ProtectSystem=strict", "ExecStart=/usr/local/bin/shepherd --config /etc/shepherd/shepherd.yaml"} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("%s: no line %q", unitFile, want)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("running shepherd as another user needs root; run the tests as root (CI does)")
	}
	dir, err := os.MkdirTemp("", "shepherd-unit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // nobody must reach the binary and the config
	bin := buildStatic(t, dir)
	verifyUnit(t, dir, bin, string(unit))

	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o750); err != nil {
		t.Fatal(err)
	}
	os.Chown(state, 65534, 65534) // as systemd chowns the StateDirectory to the dynamic user
	example, _ := os.ReadFile("../../configs/shepherd.yaml")
	config := filepath.Join(dir, "shepherd.yaml")
	os.WriteFile(config, example, 0o644)
	listen := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", config, "--listen", listen, "--admin", admin)
	cmd.Env = []string{"STATE_DIRECTORY=" + state}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := <-errc; err != nil {
			t.Errorf("shepherd as nobody after SIGTERM: %v; want exit 0\n%s", err, stderr.String())
		}
	}()
	waitListening(t, listen, errc)
	lock := filepath.Join(state, "spool-"+strings.ReplaceAll(listen, ":", "_"), "shepherd.lock")
	fi, err := os.Stat(lock)
	if err != nil {
		t.Fatalf("spool lock under $STATE_DIRECTORY: %v\n%s", err, stderr.String())
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
		t.Errorf("%s: owned by uid %d; want nobody (65534)", lock, st.Uid)
	}
}

// verifyUnit runs systemd-analyze verify on the unit with ExecStart
// pointing at bin (it checks that the binary exists), when installed.
func verifyUnit(t *testing.T, dir, bin, unit string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit not verified")
		return
	}
	path := filepath.Join(dir, "shepherd.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/shepherd", bin)), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
