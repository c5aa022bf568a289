// Spool: per node, the keys written or deleted elsewhere while the node
// was out of service or not their owner, kept on disk so that a shepherd
// restart does not forget them. Before the node serves such a key again
// it is brought up to date; if the spool overflowed the node is flushed
// instead. The bookkeeping is placement.Spool's; this file keeps the
// spool files.
package proxy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shepherd-proxy/shepherd/proxy/placement"
)

// spool is one node's placement.Spool and the file that keeps it. A read
// never takes a key it holds from the node (see pool.pick). It is safe
// for concurrent use.
type spool struct {
	*placement.Spool
	path string
}

// openSpool opens (or creates) a node's spool file and counts what an
// earlier run left in it.
func openSpool(dir, pool, addr string, limit int) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("proxy: spool dir: %w", err)
	}
	name := pool + "-" + strings.NewReplacer("/", "_", ":", "_").Replace(addr) + ".spool"
	path := filepath.Join(dir, name)
	keys, overflow, err := readSpool(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("proxy: spool: %w", err)
	}
	return &spool{Spool: placement.NewSpool(f, limit, keys, overflow), path: path}, nil
}

// markStrays marks every spool file in dir but those in keep as
// overflowed. At start no earlier ring is known, so the keys written
// while such a node was away are not tracked: if it is added again, it is
// flushed before use.
func markStrays(dir string, keep map[string]bool) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.spool"))
	if err != nil {
		return fmt.Errorf("proxy: spool: %w", err)
	}
	for _, path := range paths {
		if keep[path] {
			continue
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("proxy: spool: %w", err)
		}
		f.WriteString(placement.OverflowMark + "\n")
		f.Close()
	}
	return nil
}

// readSpool reads a spool file (see placement.ReadSpool); a missing one
// is empty.
func readSpool(path string) (keys [][]byte, overflow bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("proxy: spool: %w", err)
	}
	defer f.Close()
	keys, overflow, err = placement.ReadSpool(f)
	if err != nil {
		return nil, false, fmt.Errorf("proxy: spool: %w", err)
	}
	return keys, overflow, nil
}
