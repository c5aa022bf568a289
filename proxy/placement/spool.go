// Spool: per node, the keys whose value on the node may be older than the
// newest write, and what bringing the node up to date means for them.

package placement

import (
	"bufio"
	"encoding/base64"
	"io"
	"sync"
	"sync/atomic"
)

// OverflowMark is the line of a spool file that says the spool overflowed.
const OverflowMark = "!overflow"

// File is where a spool keeps its keys across restarts: an *os.File in
// package proxy. Write errors are not the spool's to handle: a file that
// keeps too much is replayed again after a restart.
type File interface {
	io.Writer
	Truncate(size int64) error
	Close() error
}

// Spool is one node's list of keys whose value on the node may be older
// than the newest write: keys written elsewhere while the node was out
// (ejected, or not their owner in the ring in force) and keys whose write
// to it failed. A read never takes such a key from the node (see Stale);
// a replay brings the key up to date and only then drops it. Past its
// limit a spool overflows and the node is flushed instead of replayed.
// It is safe for concurrent use; the zero value is not: use NewSpool.
type Spool struct {
	limit int

	mu       sync.RWMutex // guards the fields below
	f        File
	keys     map[string]struct{} // recorded and not yet taken: each is written once
	busy     map[string]struct{} // taken by a replay that has not finished
	doubt    map[string]struct{} // keys whose write failed on the node since its last readmission
	overflow bool                // more than limit keys: flush instead of replaying
	admitted bool                // the node takes traffic: writes go to it, not to the spool
	departed bool                // a reload removed the node: nothing reads from it

	held     atomic.Int64  // len(keys) + len(busy): lets Stale skip the lock
	total    atomic.Uint64 // keys ever recorded
	replayed atomic.Uint64 // keys ever replayed
	flushes  atomic.Uint64
}

// NewSpool returns a spool of at most limit keys (then it overflows)
// holding what f held (see ReadSpool), appending to f from then on. The
// node is admitted.
func NewSpool(f File, limit int, keys [][]byte, overflow bool) *Spool {
	s := &Spool{f: f, limit: limit, admitted: true, keys: map[string]struct{}{}, busy: map[string]struct{}{}, doubt: map[string]struct{}{}}
	for _, k := range keys {
		s.keys[string(k)] = struct{}{}
	}
	s.overflow = overflow
	s.countLocked()
	return s
}

// ReadSpool parses what a spool file holds: base64 keys a line, or the
// overflow mark. A line that is not base64 (a torn last line from a
// crash) is skipped.
func ReadSpool(r io.Reader) (keys [][]byte, overflow bool, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == OverflowMark {
			overflow = true
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) == 0 {
			continue
		}
		keys = append(keys, k)
	}
	return keys, overflow, sc.Err()
}

// Pending reports whether the spool holds work for the node: an
// overflow, or keys for which own is true.
func (s *Spool) Pending(own func([]byte) bool) bool {
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

// Size returns how many keys wait for replay.
func (s *Spool) Size() int { return int(s.held.Load()) }

// Total returns how many keys were ever recorded, Replayed how many were
// ever replayed, Flushes how many replays flushed the node.
func (s *Spool) Total() uint64    { return s.total.Load() }
func (s *Spool) Replayed() uint64 { return s.replayed.Load() }
func (s *Spool) Flushes() uint64  { return s.flushes.Load() }

// Stale reports whether the node may hold an older value of key than
// the newest write.
func (s *Spool) Stale(key []byte) bool {
	if s.held.Load() == 0 {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, in := s.keys[string(key)]
	_, taken := s.busy[string(key)]
	return in || taken
}

// Admitted reports whether writes go to the node.
func (s *Spool) Admitted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitted
}

// SetAdmitted marks whether the node takes traffic.
func (s *Spool) SetAdmitted(v bool) {
	s.mu.Lock()
	s.admitted = v
	s.mu.Unlock()
}

// Divert records key for a node that is out and reports true; it reports
// false, recording nothing, when the node has just been readmitted and the
// write must go to it.
func (s *Spool) Divert(key []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admitted {
		return false
	}
	s.appendLocked(key)
	return true
}

// Record notes key whatever the node's state.
func (s *Spool) Record(key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(key)
}

// RecordFailed notes key whose write failed on the node: the write may
// have been applied, or may yet be, when a hung node resumes and reads
// what was sent to it. The key stays in doubt until the node's next
// readmission has replayed it (see Regate).
func (s *Spool) RecordFailed(key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(key)
	if len(s.doubt) < s.limit {
		s.doubt[string(key)] = struct{}{}
	}
}

// Regate puts the keys in doubt back in the spool, so that reads of them
// miss until a settle deletes them: a resumed node may apply a write that
// failed on it after the replay copied the newer value. It returns how
// many keys it put back.
func (s *Spool) Regate() int {
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
func (s *Spool) appendLocked(key []byte) {
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

func (s *Spool) countLocked() { s.held.Store(int64(len(s.keys) + len(s.busy))) }

// MarkFlush makes the node's return a flush: flush_all was sent while it
// was out.
func (s *Spool) MarkFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overflowLocked()
}

// overflowLocked marks the spool overflowed. A member keeps its keys
// (reads of them must still avoid it); a departed node serves no reads,
// so its keys are dropped: the spool of a node gone for good holds at
// most limit keys, then nothing but the mark.
func (s *Spool) overflowLocked() {
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
	io.WriteString(s.f, OverflowMark+"\n")
}

// SetDeparted marks whether a reload removed the node.
func (s *Spool) SetDeparted(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.departed = v
	if v && s.overflow {
		s.overflowLocked()
	}
}

// Drain replays the keys the node owns (own) in two passes. First they
// are copied (copy), while writes still go to the stand-in and are
// spooled again. Then, in one critical section, what was spooled
// meanwhile is taken and the node marked admitted, so that no write can
// slip between the last replay and readmission; those last keys are
// deleted (del) rather than copied, since a client may already be writing
// them on the node and a copy could overwrite a newer value. A flush
// replaces both passes when the spool overflowed. Keys the node does not
// own stay: they wait for a ring in which it does. If the second pass
// fails the node is no longer admitted.
func (s *Spool) Drain(own func([]byte) bool, copy, del func(keys [][]byte) error, flush func() error) error {
	keys, overflow := s.Take(own, false)
	if err := s.Replay(keys, overflow, copy, flush); err != nil {
		return err
	}
	keys, overflow = s.Take(own, true)
	if err := s.Replay(keys, overflow, del, flush); err != nil {
		s.SetAdmitted(false)
		return err
	}
	return nil
}

// Take moves the keys for which want is true out of the spool into the
// replay under way (reads still avoid them) and returns them, or, when
// the spool overflowed, clears it and reports overflow: the caller
// flushes the node. admit also marks the node admitted in the same
// critical section.
func (s *Spool) Take(want func([]byte) bool, admit bool) (keys [][]byte, overflow bool) {
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

// TakeKeys is Take without the overflow: it never asks for a flush.
func (s *Spool) TakeKeys(want func([]byte) bool) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked(want)
}

func (s *Spool) takeLocked(want func([]byte) bool) [][]byte {
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

// Replay runs fn over keys (or flush, for an overflow), as Take returned
// them, and settles the spool with the outcome (see Release).
func (s *Spool) Replay(keys [][]byte, overflow bool, fn func([][]byte) error, flush func() error) error {
	var err error
	switch {
	case overflow:
		err = flush()
	case len(keys) > 0:
		err = fn(keys)
	}
	s.Release(keys, overflow, err == nil)
	return err
}

// Release ends the replay of keys (and of the overflow), as Take or
// TakeKeys returned them: done, they leave the spool and count as
// replayed; failed, they (or the overflow) return to it.
func (s *Spool) Release(keys [][]byte, overflow, done bool) {
	if done {
		s.replayed.Add(uint64(len(keys)))
		if overflow {
			s.flushes.Add(1)
		}
	}
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
func (s *Spool) rewriteLocked() {
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
		b = append(b, OverflowMark+"\n"...)
	}
	s.f.Write(b)
}

// Forget gives up on a node that left the pool and will not be tracked
// any longer: the keys are dropped and the file keeps only the overflow
// mark, so that if the node ever returns it is flushed before use. The
// file is closed.
func (s *Spool) Forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.departed = true
	s.overflowLocked()
	s.f.Close()
}

// Close closes the file.
func (s *Spool) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Close()
}
