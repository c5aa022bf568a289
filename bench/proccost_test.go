// Tests of the /proc counter reader, against this test process itself.
package bench

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestReadProcCountersGrowWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc: Linux only")
	}
	pid := os.Getpid()
	before, err := readProcCounters(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !burnCPU(200*time.Millisecond, 20*time.Second) {
		t.Skip("could not get 200ms of CPU within 20s on this machine")
	}
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	for range 1000 {
		f.Read(buf)
	}
	f.Close()
	for range 20 {
		time.Sleep(time.Millisecond) // each sleep parks a thread: a voluntary switch
	}
	after, err := readProcCounters(pid)
	if err != nil {
		t.Fatal(err)
	}
	d := after.minus(before)
	if d.CPU < 100*time.Millisecond {
		t.Errorf("CPU after burning 200ms (by getrusage): got %v; want ≥ 100ms", d.CPU)
	}
	if d.Syscalls < 1000 {
		t.Errorf("syscalls over 1000 reads: got %d; want ≥ 1000", d.Syscalls)
	}
	if d.CtxSwitches < 1 {
		t.Errorf("context switches over 20 sleeps: got %d; want ≥ 1", d.CtxSwitches)
	}
}

func TestReadProcCountersNoSuchProcess(t *testing.T) {
	t.Parallel()
	if _, err := readProcCounters(-1); !errors.Is(err, ErrProcCounters) {
		t.Fatalf("pid -1: got %v; want ErrProcCounters", err)
	}
}

func TestCostOf(t *testing.T) {
	t.Parallel()
	c := costOf(procCounters{CPU: 2 * time.Second, Syscalls: 4000, CtxSwitches: 500}, 1, 1000, 4)
	if c.CPUus != 2000 || c.Syscalls != 4 || c.CtxSwitches != 0.5 || c.CPUUtil != 0.5 {
		t.Fatalf("got %+v; want 2000 µs, 4 syscalls, 0.5 switches, 0.5 util", *c)
	}
}

// burnCPU spins until this process has used cpu more CPU time by
// getrusage (however busy the machine), or limit passes; it reports
// whether it got there.
func burnCPU(cpu, limit time.Duration) bool {
	start := selfCPU()
	x := 0
	for end := time.Now().Add(limit); time.Now().Before(end); {
		for i := range 100000 {
			x += i
		}
		if selfCPU()-start >= cpu {
			return x != 0
		}
	}
	return false
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestRSSOfThisProcess(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc: Linux only")
	}
	kib, err := rssKiB(os.Getpid())
	if err != nil || kib < 1024 {
		t.Fatalf("got %d KiB, %v; want a Go test binary's ≥ 1 MiB", kib, err)
	}
}
