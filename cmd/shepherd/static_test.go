package main

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// TestStaticBinaryInEmptyRoot builds shepherd as `make build` does
// (CGO_ENABLED=0), checks that it links nothing dynamically, and runs it
// chrooted into a directory holding only the binary and its config, as in
// a distroless/static or scratch image: it must serve a set and a get and
// answer /readyz, with its spool in the default place inside that root.
func TestStaticBinaryInEmptyRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("chroot(2) needs root; run the tests as root (CI does) to check the static binary")
	}
	root := t.TempDir()
	bin := buildStatic(t, root)
	checkStatic(t, bin)

	node := mctest.Start(t)
	listen := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", mctest.FreePort(t))
	cfg := fmt.Sprintf("listen: %s\nadmin: %s\npools:\n  main:\n    servers:\n      - %s:1\n", listen, admin, node.Addr)
	if err := os.WriteFile(filepath.Join(root, "shepherd.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/shepherd", "--config", "/shepherd.yaml")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cmd.Dir = "/"
	cmd.Env = []string{} // nothing inherited: no HOME, PATH or TMPDIR
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chrooted shepherd: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := <-errc; err != nil {
			t.Errorf("chrooted shepherd after SIGTERM: %v; want exit 0\n%s", err, stderr.String())
		}
	}()
	waitListening(t, listen, errc)
	setGet(t, listen)
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz in the empty root: got %d; want 200", resp.StatusCode)
	}
	spool := filepath.Join(root, "var/lib/shepherd", "spool-"+strings.ReplaceAll(listen, ":", "_"), "shepherd.lock")
	if _, err := os.Stat(spool); err != nil {
		t.Errorf("default spool in the empty root: %v; want %s", err, spool)
	}
}

// buildStatic builds shepherd as make build does into dir/shepherd.
func buildStatic(t *testing.T, dir string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build shepherd")
	}
	bin := filepath.Join(dir, "shepherd")
	build := exec.Command(gobin, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	return bin
}

// checkStatic fails unless bin is an ELF file with no interpreter and no
// shared libraries.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has an ELF interpreter (dynamically linked; libraries %v); want a static binary", bin, libs)
		}
	}
	if len(libs) > 0 {
		t.Fatalf("%s needs %v; want no shared libraries", bin, libs)
	}
}

// setGet stores a value through addr and reads it back.
func setGet(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "set static 0 0 2\r\nok\r\nget static\r\n")
	r := bufio.NewReader(c)
	var got []string
	for len(got) < 4 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (so far %q)", err, got)
		}
		got = append(got, strings.TrimSuffix(line, "\r\n"))
	}
	if want := []string{"STORED", "VALUE static 0 2", "ok", "END"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("set and get through the chrooted shepherd: got %q; want %q", got, want)
	}
}
