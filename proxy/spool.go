// Spool: per node, the keys written or deleted while the node was out of
// service, kept on disk so that a shepherd restart does not forget them.
// Before the node takes traffic again they are deleted from it; if the
// spool overflowed the node is flushed instead.
package proxy

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

const overflowMark = "!overflow"

// spool is one node's list of keys to delete on return. It is safe for
// concurrent use.
type spool struct {
	path  string
	limit int

	mu       sync.Mutex // guards the fields below
	f        *os.File
	n        int  // keys recorded and not yet replayed
	overflow bool // more than limit keys: flush instead of replaying
	admitted bool // the node takes traffic: writes go to it, not to the spool

	total    atomic.Uint64 // keys ever recorded
	replayed atomic.Uint64 // keys ever replayed
	flushes  atomic.Uint64
}

// openSpool opens (or creates) a node's spool file and counts what an
// earlier run left in it.
func openSpool(dir, pool, addr string, limit int) (*spool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("proxy: spool dir: %w", err)
	}
	name := pool + "-" + strings.NewReplacer("/", "_", ":", "_").Replace(addr) + ".spool"
	s := &spool{path: filepath.Join(dir, name), limit: limit, admitted: true}
	keys, overflow, err := readSpool(s.path)
	if err != nil {
		return nil, err
	}
	s.n, s.overflow = len(keys), overflow
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("proxy: spool: %w", err)
	}
	s.f = f
	return s, nil
}

// pending reports whether an earlier run left work in the spool.
func (s *spool) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n > 0 || s.overflow
}

// size returns how many keys wait for replay.
func (s *spool) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// setAdmitted marks whether the node takes traffic.
func (s *spool) setAdmitted(v bool) {
	s.mu.Lock()
	s.admitted = v
	s.mu.Unlock()
}

// divert records key for a node that is out and reports true; it reports
// false, recording nothing, when the node has just been readmitted and the
// write must go to it.
func (s *spool) divert(key []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admitted {
		return false
	}
	s.appendLocked(key)
	return true
}

// record notes key whatever the node's state (a write that failed on it).
func (s *spool) record(key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(key)
}

func (s *spool) appendLocked(key []byte) {
	s.total.Add(1)
	if s.overflow {
		return
	}
	if s.n >= s.limit {
		s.overflow = true
		s.f.WriteString(overflowMark + "\n")
		return
	}
	s.n++
	line := make([]byte, 0, base64.StdEncoding.EncodedLen(len(key))+1)
	line = base64.StdEncoding.AppendEncode(line, key)
	s.f.Write(append(line, '\n'))
}

// markFlush makes the node's return a flush: flush_all was sent while it
// was out.
func (s *spool) markFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.overflow {
		s.overflow = true
		s.f.WriteString(overflowMark + "\n")
	}
}

// drain hands the spooled keys to replay and empties the spool. When it
// finds nothing left it marks the node admitted in the same critical
// section, so no write can slip between the last replay and readmission.
func (s *spool) drain(replay func(keys [][]byte, flush bool) error) error {
	for {
		s.mu.Lock()
		if s.n == 0 && !s.overflow {
			s.admitted = true
			s.mu.Unlock()
			return nil
		}
		keys, overflow, err := readSpool(s.path)
		if err == nil {
			err = s.truncateLocked()
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if err := replay(keys, overflow); err != nil {
			s.putBack(keys, overflow)
			return err
		}
		s.replayed.Add(uint64(len(keys)))
		if overflow {
			s.flushes.Add(1)
		}
	}
}

// putBack returns keys whose replay failed to the spool.
func (s *spool) putBack(keys [][]byte, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if overflow {
		s.overflow = true
		s.f.WriteString(overflowMark + "\n")
		return
	}
	for _, k := range keys {
		s.appendLocked(k)
	}
}

func (s *spool) truncateLocked() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("proxy: spool: %w", err)
	}
	s.n, s.overflow = 0, false
	return nil
}

func (s *spool) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Close()
}

// readSpool parses a spool file: base64 keys a line, or the overflow mark.
func readSpool(path string) (keys [][]byte, overflow bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("proxy: spool: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == overflowMark {
			overflow = true
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) == 0 {
			continue // a torn last line from a crash
		}
		keys = append(keys, k)
	}
	return keys, overflow, sc.Err()
}
