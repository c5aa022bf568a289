package mctest

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// roundTrip sends req on a fresh connection and reads until a line equal to
// one of ends (or the first line when ends is empty).
func roundTrip(addr, req string, timeout time.Duration, ends ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(req)); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	var out strings.Builder
	for {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			return out.String(), err
		}
		if len(ends) == 0 {
			return out.String(), nil
		}
		for _, end := range ends {
			if strings.TrimRight(line, "\r\n") == end {
				return out.String(), nil
			}
		}
	}
}

func mustRoundTrip(t *testing.T, addr, req string, ends ...string) string {
	t.Helper()
	got, err := roundTrip(addr, req, 2*time.Second, ends...)
	if err != nil {
		t.Fatalf("%q to %s: %v (read %q)", req, addr, err, got)
	}
	return got
}

func TestStartSetGet(t *testing.T) {
	t.Parallel()
	s := Start(t)
	if want := fmt.Sprintf("127.0.0.1:%d", s.Port); s.Addr != want {
		t.Fatalf("Addr: got %q; want %q", s.Addr, want)
	}
	if got := mustRoundTrip(t, s.Addr, "set k 5 0 2\r\nhi\r\n"); got != "STORED\r\n" {
		t.Fatalf("set: got %q; want STORED", got)
	}
	if got, want := mustRoundTrip(t, s.Addr, "get k\r\n", "END"), "VALUE k 5 2\r\nhi\r\nEND\r\n"; got != want {
		t.Fatalf("get: got %q; want %q", got, want)
	}
}

func TestExtraArgs(t *testing.T) {
	t.Parallel()
	s := Start(t, "-I", "2m")
	if got, want := s.Stats(t)["limit_maxbytes"], fmt.Sprint(64<<20); got != want {
		t.Fatalf("limit_maxbytes: got %s; want %s", got, want)
	}
	settings := mustRoundTrip(t, s.Addr, "stats settings\r\n", "END")
	if !strings.Contains(settings, "STAT item_size_max 2097152\r\n") {
		t.Fatalf("stats settings: got %q; want item_size_max 2097152", settings)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	s := Start(t)
	mustRoundTrip(t, s.Addr, "set a 0 0 1\r\nx\r\n")
	st := s.Stats(t)
	if st["cmd_set"] != "1" {
		t.Fatalf("cmd_set: got %q; want 1", st["cmd_set"])
	}
	if st["pid"] == "" || st["version"] == "" {
		t.Fatalf("stats lack pid or version: %v", st)
	}
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	s := Start(t)
	// Several rounds: a request sent right after Pause returns must never be
	// answered (kill(2) only queues SIGSTOP; Pause waits until it took hold).
	for round := 0; round < 5; round++ {
		s.Pause()
		// The kernel still completes the handshake, but nothing answers.
		got, err := roundTrip(s.Addr, "version\r\n", 100*time.Millisecond)
		if err == nil {
			t.Fatalf("round %d: version while paused: got %q; want a timeout", round, got)
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("round %d: version while paused: got error %v; want a timeout", round, err)
		}
		s.Resume()
		if got := mustRoundTrip(t, s.Addr, "version\r\n"); !strings.HasPrefix(got, "VERSION ") {
			t.Fatalf("round %d: version after resume: got %q; want VERSION", round, got)
		}
	}
}

func TestStopRestart(t *testing.T) {
	t.Parallel()
	s := Start(t)
	mustRoundTrip(t, s.Addr, "set k 0 0 1\r\nx\r\n")
	pid := s.Stats(t)["pid"]
	s.Stop()
	s.Stop() // idempotent
	if s.Running() {
		t.Fatal("Running after Stop: got true; want false")
	}
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s after Stop: got a connection; want refused", s.Addr)
	}
	s.Restart(t)
	if st := s.Stats(t); st["pid"] == pid {
		t.Fatalf("pid after restart: got %s, the old one; want a new process", pid)
	}
	if got := mustRoundTrip(t, s.Addr, "get k\r\n", "END"); got != "END\r\n" {
		t.Fatalf("get after restart: got %q; want a miss (fresh process)", got)
	}
	s.Restart(t) // restarting a running server works too
	if !s.Running() {
		t.Fatal("Running after Restart: got false; want true")
	}
}

func TestRestartPaused(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Pause()
	s.Restart(t) // SIGKILL ends a stopped process; the port comes back
	if got := mustRoundTrip(t, s.Addr, "version\r\n"); !strings.HasPrefix(got, "VERSION ") {
		t.Fatalf("version: got %q; want VERSION", got)
	}
}

func TestStartN(t *testing.T) {
	t.Parallel()
	servers := StartN(t, 3)
	seen := map[int]bool{}
	for _, s := range servers {
		if seen[s.Port] {
			t.Fatalf("port %d used twice", s.Port)
		}
		seen[s.Port] = true
		if got := mustRoundTrip(t, s.Addr, "version\r\n"); !strings.HasPrefix(got, "VERSION ") {
			t.Fatalf("version on %s: got %q; want VERSION", s.Addr, got)
		}
	}
}

func TestCleanupKills(t *testing.T) {
	t.Parallel()
	var s *Server
	t.Run("inner", func(t *testing.T) {
		s = Start(t)
		s.Pause() // cleanup must end a paused process too
	})
	if s == nil {
		t.Skip("inner test skipped")
	}
	if s.Running() {
		t.Fatal("Running after the test's cleanup: got true; want false")
	}
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s after cleanup: got a connection; want refused", s.Addr)
	}
}

func TestNutcracker(t *testing.T) {
	t.Parallel()
	servers := StartN(t, 2)
	addr := Nutcracker(t, NutcrackerPool(servers, "", ""))
	for i := 0; i < 20; i++ {
		req := fmt.Sprintf("set key%d 0 0 1\r\nx\r\n", i)
		if got := mustRoundTrip(t, addr, req); got != "STORED\r\n" {
			t.Fatalf("set through nutcracker: got %q; want STORED", got)
		}
	}
	var total int
	for _, s := range servers {
		var n int
		fmt.Sscan(s.Stats(t)["curr_items"], &n)
		total += n
	}
	if total != 20 {
		t.Fatalf("items on backends: got %d; want 20", total)
	}
}

func TestNutcrackerAddrs(t *testing.T) {
	t.Parallel()
	s := Start(t)
	yaml := fmt.Sprintf(`a:
  listen: %[1]s
  servers:
    - %[2]s:1
b:
  listen: %[1]s
  servers:
    - %[2]s:1
`, ListenPlaceholder, s.Addr)
	addrs := NutcrackerAddrs(t, yaml)
	if len(addrs) != 2 || addrs[0] == addrs[1] {
		t.Fatalf("addrs: got %v; want two distinct", addrs)
	}
	mustRoundTrip(t, addrs[0], "set k 0 0 1\r\nx\r\n")
	if got, want := mustRoundTrip(t, addrs[1], "get k\r\n", "END"), "VALUE k 0 1\r\nx\r\nEND\r\n"; got != want {
		t.Fatalf("get via second pool: got %q; want %q", got, want)
	}
}
