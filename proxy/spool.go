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
	keys     map[string]struct{} // keys recorded and not yet replayed: each is written once
	n        int                 // len(keys)
	overflow bool                // more than limit keys: flush instead of replaying
	admitted bool                // the node takes traffic: writes go to it, not to the spool

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
	s := &spool{path: filepath.Join(dir, name), limit: limit, admitted: true, keys: map[string]struct{}{}}
	keys, overflow, err := readSpool(s.path)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		s.keys[string(k)] = struct{}{}
	}
	s.n, s.overflow = len(s.keys), overflow
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

// isAdmitted reports whether writes go to the node.
func (s *spool) isAdmitted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitted
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
	if _, dup := s.keys[string(key)]; dup {
		return
	}
	if s.n >= s.limit {
		s.overflow = true
		s.keys = map[string]struct{}{}
		s.f.WriteString(overflowMark + "\n")
		return
	}
	s.keys[string(key)] = struct{}{}
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

// drain empties the spool in two passes. First the keys spooled during
// the outage are copied (copy), while writes still go to the stand-in and
// are spooled again. Then, in one critical section, what was spooled
// meanwhile is taken and the node marked admitted, so that no write can
// slip between the last replay and readmission; those last keys are
// deleted (del) rather than copied, since a client may already be writing
// them on the node and a copy could overwrite a newer value. A flush
// replaces both passes when the spool overflowed.
func (s *spool) drain(copy, del func(keys [][]byte) error, flush func() error) error {
	keys, overflow, err := s.take(false)
	if err != nil {
		return err
	}
	if err := s.replay(keys, overflow, copy, flush); err != nil {
		return err
	}
	if keys, overflow, err = s.take(true); err != nil {
		return err
	}
	if err := s.replay(keys, overflow, del, flush); err != nil {
		s.setAdmitted(false)
		return err
	}
	return nil
}

// take empties the spool and returns what it held; admit also marks the
// node admitted in the same critical section.
func (s *spool) take(admit bool) (keys [][]byte, overflow bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if admit {
		s.admitted = true
	}
	if s.n == 0 && !s.overflow {
		return nil, false, nil
	}
	keys, overflow, err = readSpool(s.path)
	if err == nil {
		err = s.truncateLocked()
	}
	return keys, overflow, err
}

func (s *spool) replay(keys [][]byte, overflow bool, fn func([][]byte) error, flush func() error) error {
	var err error
	switch {
	case overflow:
		err = flush()
	case len(keys) > 0:
		err = fn(keys)
	}
	if err != nil {
		s.putBack(keys, overflow)
		return err
	}
	s.replayed.Add(uint64(len(keys)))
	if overflow {
		s.flushes.Add(1)
	}
	return nil
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
	s.keys = map[string]struct{}{}
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
