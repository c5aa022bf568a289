// Lifecycle tests: no memcached, shepherd or nutcracker outlives a run,
// a cancelled run, or a Ctrl-C'd herdbench.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncLog collects Procs' log lines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

var (
	startedMemcached = regexp.MustCompile(`started memcached 127\.0\.0\.1:(\d+) pid (\d+)`)
	startedAny       = regexp.MustCompile(`started \S+ \S+ pid (\d+)`)
)

// ports and pids that a log says were started.
func started(log string) (ports, pids []int) {
	for _, m := range startedMemcached.FindAllStringSubmatch(log, -1) {
		p, _ := strconv.Atoi(m[1])
		ports = append(ports, p)
	}
	for _, m := range startedAny.FindAllStringSubmatch(log, -1) {
		p, _ := strconv.Atoi(m[1])
		pids = append(pids, p)
	}
	return ports, pids
}

// assertNoStrays fails if a memcached still listens on one of ports (by
// pgrep on its command line) or one of pids is still alive.
func assertNoStrays(t *testing.T, ports, pids []int) {
	t.Helper()
	if len(ports) == 0 {
		t.Fatal("no memcached was started; the test proves nothing")
	}
	for _, port := range ports {
		out, err := exec.Command("pgrep", "-f", "--", "memcached -l 127.0.0.1 -p "+strconv.Itoa(port)+" ").Output()
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("memcached on port %d: pgrep found %q (err %v); want none", port, out, err)
		}
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d: still running; want it gone", pid)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || i+2 >= len(data) || data[i+2] != 'Z'
}

func TestStopAllKillsPausedNodes(t *testing.T) {
	t.Parallel()
	needBinary(t, "memcached")
	log := &syncLog{}
	ps := NewProcs(log)
	nodes, err := ps.StartMemcacheds(context.Background(), findBinary("", "memcached"), 3)
	if err != nil {
		t.Fatal(err)
	}
	nodes[0].Pause() // a stopped process must be killed too
	ps.StopAll(100 * time.Millisecond)
	if ps.Live() != 0 {
		t.Fatalf("live after StopAll: got %d; want 0", ps.Live())
	}
	ports, pids := started(log.String())
	assertNoStrays(t, ports, pids)
}

func TestCancelledRunLeavesNothing(t *testing.T) {
	t.Parallel()
	log := &syncLog{}
	e := testEnv(t, log)
	s, err := Parse([]byte("scenario: failover\nfailover:\n  duration: 30s\n  fault_at: 1s\n  return_at: 20s\n  clients: 2\n  variants: [stop]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(2*time.Second, cancel) // mid-run, with a node SIGSTOPped
	began := time.Now()
	rep := Run(ctx, e, []*Scenario{s})
	if took := time.Since(began); took > 15*time.Second {
		t.Fatalf("cancelled run took %v; want it to stop promptly", took)
	}
	e.Close()
	if len(rep.Notes) == 0 || !strings.Contains(strings.Join(rep.Notes, " "), "interrupted") {
		t.Errorf("notes: got %v; want one saying the run was interrupted", rep.Notes)
	}
	ports, pids := started(log.String())
	assertNoStrays(t, ports, pids)
}

func TestCLIInterruptLeavesNothing(t *testing.T) {
	t.Parallel()
	needBinary(t, "memcached")
	if buildErr != nil {
		t.Fatalf("build shepherd: %v", buildErr)
	}
	abs, _ := filepath.Abs(".")
	root, err := ModuleRoot(abs)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "herdbench")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "cmd", "herdbench")).CombinedOutput(); err != nil {
		t.Fatalf("build herdbench: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", filepath.Join(root, "bench", "scenarios", "failover.yaml"),
		"-v", "--quiet", "--shepherd", shepherdBin, "--variants", "stop", "--duration", "30s")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log, eof := waitForLines(t, stderr, "started shepherd", 1)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		<-eof // read everything before Wait closes the pipe
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit: got %v; want status 130", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("herdbench did not stop within 20s of SIGINT")
	}
	ports, pids := started(log.String())
	assertNoStrays(t, ports, pids)
}

// waitForLines reads r until n lines contain want, then keeps draining it
// into the returned log in the background; eof closes at its end.
func waitForLines(t *testing.T, r interface{ Read([]byte) (int, error) }, want string, n int) (*syncLog, chan struct{}) {
	t.Helper()
	log := &syncLog{}
	seen, eof := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(r)
		count := 0
		for sc.Scan() {
			log.Write([]byte(sc.Text() + "\n"))
			if strings.Contains(sc.Text(), want) {
				if count++; count == n {
					close(seen)
				}
			}
		}
	}()
	select {
	case <-seen:
	case <-time.After(60 * time.Second):
		t.Fatalf("no %q in herdbench's output after 60s:\n%s", want, log.String())
	}
	time.Sleep(300 * time.Millisecond) // let it get going
	return log, eof
}
