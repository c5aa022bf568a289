//go:build unix && !linux

// Process details elsewhere on unix: own process group.

package mctest

import (
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitStopped cannot observe the state without /proc; it gives the signal a moment.
func waitStopped(pid int, stopped bool) { time.Sleep(10 * time.Millisecond) }
