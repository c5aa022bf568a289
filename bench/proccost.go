// Process cost: CPU time, read/write syscalls and context switches of a
// process, read from /proc, so a load's cost per request can be compared.
package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrProcCounters marks a /proc file that could not be read or parsed.
var ErrProcCounters = errors.New("bench: /proc counters")

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux this runs on).
const clockTick = 10 * time.Millisecond

// procCounters are a process's cumulative counters at one moment.
type procCounters struct {
	CPU         time.Duration // utime + stime, every thread
	Syscalls    int64         // read-class + write-class syscalls (syscr + syscw)
	CtxSwitches int64         // voluntary + nonvoluntary, summed over live threads
}

func (c procCounters) minus(d procCounters) procCounters {
	return procCounters{CPU: c.CPU - d.CPU, Syscalls: c.Syscalls - d.Syscalls, CtxSwitches: c.CtxSwitches - d.CtxSwitches}
}

func (c procCounters) plus(d procCounters) procCounters {
	return procCounters{CPU: c.CPU + d.CPU, Syscalls: c.Syscalls + d.Syscalls, CtxSwitches: c.CtxSwitches + d.CtxSwitches}
}

// readProcCounters reads pid's counters from /proc/PID/{stat,io,task/*/status}.
func readProcCounters(pid int) (procCounters, error) {
	dir := fmt.Sprintf("/proc/%d", pid)
	var c procCounters
	var err error
	if c.CPU, err = statCPU(dir); err != nil {
		return c, err
	}
	if c.Syscalls, err = ioSyscalls(dir); err != nil {
		return c, err
	}
	c.CtxSwitches, err = ctxSwitches(dir)
	return c, err
}

// sumProcCounters adds the counters of every pid.
func sumProcCounters(pids []int) (procCounters, error) {
	var sum procCounters
	for _, pid := range pids {
		c, err := readProcCounters(pid)
		if err != nil {
			return sum, err
		}
		sum = sum.plus(c)
	}
	return sum, nil
}

// statCPU reads fields 14 and 15 (utime, stime) of /proc/PID/stat. The
// command name (field 2) may hold spaces, so fields count from its ')'.
func statCPU(dir string) (time.Duration, error) {
	data, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrProcCounters, err)
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: %s/stat: no ')'", ErrProcCounters, dir)
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: %s/stat: %d fields after the name", ErrProcCounters, dir, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: %s/stat: %v", ErrProcCounters, dir, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// ioSyscalls reads syscr + syscw of /proc/PID/io.
func ioSyscalls(dir string) (int64, error) {
	kv, err := readKV(dir + "/io")
	if err != nil {
		return 0, err
	}
	r, ok1 := kv["syscr"]
	w, ok2 := kv["syscw"]
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("%w: %s/io: no syscr/syscw", ErrProcCounters, dir)
	}
	return r + w, nil
}

// ctxSwitches sums both context-switch counts over /proc/PID/task/*/status.
func ctxSwitches(dir string) (int64, error) {
	tasks, err := filepath.Glob(dir + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("%w: %s/task: no threads", ErrProcCounters, dir)
	}
	var n int64
	for _, t := range tasks {
		kv, err := readKV(t)
		if err != nil {
			continue // the thread ended between the glob and the read
		}
		n += kv["voluntary_ctxt_switches"] + kv["nonvoluntary_ctxt_switches"]
	}
	return n, nil
}

// readKV reads "name: number" lines; lines with other values are skipped.
func readKV(path string) (map[string]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProcCounters, err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// ProcCost is what the measured processes spent over a load window, per
// request (a multi-get is one request).
type ProcCost struct {
	Processes   int     `json:"processes"` // pids summed: 1 per proxy, every node for direct
	CPUus       float64 `json:"cpu_us_per_req"`
	Syscalls    float64 `json:"syscalls_per_req"`              // read + write class, and io_uring_enter (RingEnters)
	RingEnters  float64 `json:"ring_enters_per_req,omitempty"` // of Syscalls: io_uring_enter calls (shepherd's loop_ring_enters)
	CtxSwitches float64 `json:"ctx_switches_per_req"`          // voluntary + nonvoluntary
	CPUUtil     float64 `json:"cpu_util"`                      // CPU seconds per wall second (1 = one core busy)
}

// ringEnters reads a proxy's count of io_uring_enter calls from its
// `stats` (shepherd's loop_ring_enters), which /proc/PID/io does not
// count: a send submitted through io_uring is no write(2). A proxy
// without the field (nutcracker refuses stats on its client port)
// counts 0.
func ringEnters(addr string) int64 {
	st, err := statsOf(addr, "stats", time.Second)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(st["loop_ring_enters"], 10, 64)
	return n
}

// costOf divides the counters spent over secs by ops requests.
func costOf(spent procCounters, processes int, ops int64, secs float64) *ProcCost {
	n := float64(ops)
	return &ProcCost{
		Processes:   processes,
		CPUus:       ratio(float64(spent.CPU.Microseconds()), n),
		Syscalls:    ratio(float64(spent.Syscalls), n),
		CtxSwitches: ratio(float64(spent.CtxSwitches), n),
		CPUUtil:     ratio(spent.CPU.Seconds(), secs),
	}
}
