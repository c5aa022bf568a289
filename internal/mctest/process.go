// Process: children run through internal/proc, the supervisor the load
// harness uses too; here only what is test-specific (skip when missing).

package mctest

import (
	"context"
	"os/exec"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/proc"
)

// procs holds every child mctest starts; each test's Cleanup stops its own.
var procs = proc.NewProcs(nil, "mctest")

func spawn(path string, args []string) (*proc.Proc, error) {
	return procs.Start(path, path, args...)
}

// waitReady polls ready until it succeeds, the child exits, or
// readyTimeout passes.
func waitReady(p *proc.Proc, ready func() error) error {
	return proc.WaitReady(context.Background(), p, readyTimeout, ready)
}

// lookPath finds a binary on PATH (and in the sbin directories, which a
// non-root PATH often lacks) or skips the test with why.
func lookPath(t testing.TB, name, why string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/usr/local/bin"} {
		if path, err := exec.LookPath(dir + "/" + name); err == nil {
			return path
		}
	}
	t.Skip(why)
	return ""
}
