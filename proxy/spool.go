// Spool: per node, the keys written or deleted elsewhere while the node
// was out of service or not their owner, kept on disk so that a shepherd
// restart does not forget them. Before the node serves such a key again
// it is brought up to date; if the spool overflowed the node is flushed
// instead.
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

// spool is one node's list of keys whose value on the node may be older
// than the newest write: keys written elsewhere while the node was out
// (ejected, or not their owner in the ring in force) and keys whose write
// to it failed. A read never takes such a key from the node (see
// pool.pick); a replay brings the key up to date and only then drops it.
// It is safe for concurrent use.
type spool struct {
	path  string
	limit int

	mu       sync.RWMutex // guards the fields below
	f        *os.File
	keys     map[string]struct{} // recorded and not yet taken: each is written once
	busy     map[string]struct{} // taken by a replay that has not finished
	doubt    map[string]struct{} // keys whose write failed on the node since its last readmission
	overflow bool                // more than limit keys: flush instead of replaying
	admitted bool                // the node takes traffic: writes go to it, not to the spool
	departed bool                // a reload removed the node: nothing reads from it

	held     atomic.Int64  // len(keys) + len(busy): lets stale skip the lock
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
	s := &spool{path: filepath.Join(dir, name), limit: limit, admitted: true, keys: map[string]struct{}{}, busy: map[string]struct{}{}, doubt: map[string]struct{}{}}
	keys, overflow, err := readSpool(s.path)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		s.keys[string(k)] = struct{}{}
	}
	s.overflow = overflow
	s.countLocked()
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("proxy: spool: %w", err)
	}
	s.f = f
	return s, nil
}

// pending reports whether the spool holds work for the node: an
// overflow, or keys for which own is true.
func (s *spool) pending(own func([]byte) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		return true
	}
	for k := range s.keys {
		if own([]byte(k)) {
			return true
		}
	}
	return false
}

// size returns how many keys wait for replay.
func (s *spool) size() int { return int(s.held.Load()) }

// stale reports whether the node may hold an older value of key than
// the newest write.
func (s *spool) stale(key []byte) bool {
	if s.held.Load() == 0 {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, in := s.keys[string(key)]
	_, taken := s.busy[string(key)]
	return in || taken
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

// record notes key whatever the node's state.
func (s *spool) record(key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(key)
}

// recordFailed notes key whose write failed on the node: the write may
// have been applied, or may yet be, when a hung node resumes and reads
// what was sent to it. The key stays in doubt until the node's next
// readmission has replayed it (see regate).
func (s *spool) recordFailed(key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(key)
	if len(s.doubt) < s.limit {
		s.doubt[string(key)] = struct{}{}
	}
}

// regate puts the keys in doubt back in the spool, so that reads of them
// miss until a settle deletes them: a resumed node may apply a write that
// failed on it after the replay copied the newer value. It returns how
// many keys it put back.
func (s *spool) regate() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.doubt)
	for k := range s.doubt {
		s.appendLocked([]byte(k))
	}
	clear(s.doubt)
	return n
}

// appendLocked adds key. Past limit keys the spool overflows: it keeps
// the keys it has (reads of them still avoid the node) and records no
// more, and the node will be flushed instead of replayed.
func (s *spool) appendLocked(key []byte) {
	s.total.Add(1)
	if _, dup := s.keys[string(key)]; dup {
		return
	}
	if s.overflow && s.departed {
		return // it will be flushed: keys are of no use
	}
	if len(s.keys) >= s.limit {
		s.overflowLocked()
		return
	}
	s.keys[string(key)] = struct{}{}
	s.countLocked()
	line := make([]byte, 0, base64.StdEncoding.EncodedLen(len(key))+1)
	line = base64.StdEncoding.AppendEncode(line, key)
	s.f.Write(append(line, '\n'))
}

func (s *spool) countLocked() { s.held.Store(int64(len(s.keys) + len(s.busy))) }

// markFlush makes the node's return a flush: flush_all was sent while it
// was out.
func (s *spool) markFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overflowLocked()
}

// overflowLocked marks the spool overflowed. A member keeps its keys
// (reads of them must still avoid it); a departed node serves no reads,
// so its keys are dropped: the spool of a node gone for good holds at
// most limit keys, then nothing but the mark.
func (s *spool) overflowLocked() {
	if s.overflow && (!s.departed || len(s.keys) == 0) {
		return
	}
	s.overflow = true
	if s.departed {
		clear(s.keys)
		s.countLocked()
		s.rewriteLocked()
		return
	}
	s.f.WriteString(overflowMark + "\n")
}

// setDeparted marks whether a reload removed the node.
func (s *spool) setDeparted(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.departed = v
	if v && s.overflow {
		s.overflowLocked()
	}
}

// drain replays the keys the node owns (own) in two passes. First they
// are copied (copy), while writes still go to the stand-in and are
// spooled again. Then, in one critical section, what was spooled
// meanwhile is taken and the node marked admitted, so that no write can
// slip between the last replay and readmission; those last keys are
// deleted (del) rather than copied, since a client may already be writing
// them on the node and a copy could overwrite a newer value. A flush
// replaces both passes when the spool overflowed. Keys the node does not
// own stay: they wait for a ring in which it does.
func (s *spool) drain(own func([]byte) bool, copy, del func(keys [][]byte) error, flush func() error) error {
	keys, overflow := s.take(own, false)
	if err := s.replay(keys, overflow, copy, flush); err != nil {
		return err
	}
	keys, overflow = s.take(own, true)
	if err := s.replay(keys, overflow, del, flush); err != nil {
		s.setAdmitted(false)
		return err
	}
	return nil
}

// take moves the keys for which want is true out of the spool into the
// replay under way (reads still avoid them) and returns them, or, when
// the spool overflowed, clears it and reports overflow: the caller
// flushes the node. admit also marks the node admitted in the same
// critical section.
func (s *spool) take(want func([]byte) bool, admit bool) (keys [][]byte, overflow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if admit {
		s.admitted = true
	}
	if s.overflow {
		s.overflow = false
		for k := range s.keys {
			s.busy[k] = struct{}{}
			keys = append(keys, []byte(k))
		}
		clear(s.keys)
		return keys, true
	}
	return s.takeLocked(want), false
}

// takeKeys is take without the overflow: it never asks for a flush.
func (s *spool) takeKeys(want func([]byte) bool) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked(want)
}

func (s *spool) takeLocked(want func([]byte) bool) [][]byte {
	var keys [][]byte
	for k := range s.keys {
		if want([]byte(k)) {
			delete(s.keys, k)
			s.busy[k] = struct{}{}
			keys = append(keys, []byte(k))
		}
	}
	return keys
}

// replay runs fn over keys (or flush, for an overflow) and settles the
// spool with the outcome.
func (s *spool) replay(keys [][]byte, overflow bool, fn func([][]byte) error, flush func() error) error {
	var err error
	switch {
	case overflow:
		err = flush()
	case len(keys) > 0:
		err = fn(keys)
	}
	s.release(keys, overflow, err == nil)
	if err != nil {
		return err
	}
	s.replayed.Add(uint64(len(keys)))
	if overflow {
		s.flushes.Add(1)
	}
	return nil
}

// release ends the replay of keys: done, they leave the spool; failed,
// they (or the overflow) return to it.
func (s *spool) release(keys [][]byte, overflow, done bool) {
	if len(keys) == 0 && !overflow {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.busy, string(k))
		if !done {
			s.keys[string(k)] = struct{}{}
		}
	}
	if overflow && !done {
		s.overflow = true
	}
	s.countLocked()
	s.rewriteLocked()
}

// rewriteLocked makes the file hold exactly what the spool holds.
func (s *spool) rewriteLocked() {
	if err := s.f.Truncate(0); err != nil {
		return // the file keeps more than needed: replayed again after a restart
	}
	var b []byte
	for _, m := range []map[string]struct{}{s.keys, s.busy} {
		for k := range m {
			b = base64.StdEncoding.AppendEncode(b, []byte(k))
			b = append(b, '\n')
		}
	}
	if s.overflow {
		b = append(b, overflowMark+"\n"...)
	}
	s.f.Write(b)
}

// forget gives up on a node that left the pool and will not be tracked
// any longer: the keys are dropped and the file keeps only the overflow
// mark, so that if the node ever returns it is flushed before use.
func (s *spool) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.departed = true
	s.overflowLocked()
	s.f.Close()
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
		f.WriteString(overflowMark + "\n")
		f.Close()
	}
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
