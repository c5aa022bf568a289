// Spool directory: where a shepherd keeps its node spools by default, and
// the lock that keeps a second shepherd out of a spool already in use.
package proxy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrSpoolInUse means another process holds the spool directory's lock.
var ErrSpoolInUse = errors.New("proxy: spool_dir is in use by another shepherd")

// spoolLockFile is the file in a spool directory that its owner locks.
const spoolLockFile = "shepherd.lock"

// DefaultSpoolDir is the spool directory of a shepherd listening on listen
// when spool_dir is not set: one per instance, named after the listen
// address, under a state directory that survives reboots and that no temp
// cleaner empties:
//
//	$STATE_DIRECTORY/spool-<listen>        systemd's StateDirectory= (its first entry)
//	/var/lib/shepherd/spool-<listen>       as root otherwise
//	$XDG_STATE_HOME/shepherd/spool-<listen> (default ~/.local/state) for other users
//
// <listen> is the address with "/" and ":" replaced by "_", e.g.
// spool-127.0.0.1_11211 or spool-unix_run_shepherd_shepherd.sock.
func DefaultSpoolDir(listen string) string {
	return filepath.Join(stateDir(), "spool-"+strings.NewReplacer("/", "_", ":", "_").Replace(strings.TrimPrefix(listen, "/")))
}

// stateDir is the directory DefaultSpoolDir puts spools under.
func stateDir() string {
	if sd := os.Getenv("STATE_DIRECTORY"); sd != "" {
		first, _, _ := strings.Cut(sd, ":")
		return first
	}
	if os.Geteuid() == 0 {
		return "/var/lib/shepherd"
	}
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "shepherd")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "shepherd")
	}
	return filepath.Join(os.TempDir(), "shepherd-"+strconv.Itoa(os.Geteuid())) // no home at all: last resort
}

// spoolLock is a held lock on a spool directory; close releases it.
type spoolLock struct{ f *os.File }

// lockSpoolDir creates dir if need be and takes its lock, or fails with
// ErrSpoolInUse naming the holder's pid when another shepherd has it. The
// lock is an flock(2): the kernel drops it when the holder exits, however
// it exits, so a crash leaves no stale lock behind.
func lockSpoolDir(dir string) (*spoolLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("proxy: spool dir: %w", err)
	}
	path := filepath.Join(dir, spoolLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("proxy: spool dir lock: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		holder, _ := os.ReadFile(path)
		return nil, fmt.Errorf("%w: %s is locked by pid %s; give each shepherd its own spool_dir (%v)",
			ErrSpoolInUse, dir, orUnknown(strings.TrimSpace(string(holder))), err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) // for the message above; the lock is what counts
	}
	return &spoolLock{f: f}, nil
}

func (l *spoolLock) close() {
	if l != nil {
		l.f.Close()
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
