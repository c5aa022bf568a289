// Linux process details: own process group, killed if the test binary dies,
// and stop/continue confirmed through /proc.

package mctest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitStopped waits (up to a second) until every thread of pid is stopped,
// or none is: kill(2) only queues SIGSTOP and SIGCONT, and a worker thread
// may still answer one request after Pause returned without this.
func waitStopped(pid int, stopped bool) {
	deadline := time.Now().Add(time.Second)
	for !allThreads(pid, stopped) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func allThreads(pid int, stopped bool) bool {
	stats, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "stat"))
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the thread exited
		}
		// The state follows the command name, which is in parentheses and may hold spaces.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		state := strings.TrimSpace(rest)
		if state == "" {
			continue
		}
		if isStopped := state[0] == 'T'; isStopped != stopped {
			return false
		}
	}
	return true
}
