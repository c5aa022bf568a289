//go:build unix && !linux

// Process attributes elsewhere on unix: own process group.

package mctest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
