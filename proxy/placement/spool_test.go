package placement

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// file is a spool file in memory.
type file struct {
	b      bytes.Buffer
	closed bool
	noCut  bool // Truncate fails
}

func (f *file) Write(p []byte) (int, error) { return f.b.Write(p) }

func (f *file) Truncate(size int64) error {
	if f.noCut {
		return errors.New("truncate refused")
	}
	f.b.Truncate(int(size))
	return nil
}

func (f *file) Close() error { f.closed = true; return nil }

// read parses the file as a restart would, keys sorted.
func (f *file) read(t *testing.T) ([]string, bool) {
	t.Helper()
	keys, overflow, err := ReadSpool(bytes.NewReader(f.b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, k := range keys {
		ks = append(ks, string(k))
	}
	slices.Sort(ks)
	return ks, overflow
}

func newSpool(limit int) (*Spool, *file) {
	f := &file{}
	return NewSpool(f, limit, nil, false), f
}

func all([]byte) bool  { return true }
func none([]byte) bool { return false }

func names(n int) []string {
	var ks []string
	for i := range n {
		ks = append(ks, fmt.Sprint("key:", i))
	}
	return ks
}

// Past its limit a member's spool keeps the keys it has (reads of them
// must avoid the node) and records the overflow; a departed node's keeps
// only the mark.
func TestSpoolBound(t *testing.T) {
	for _, departed := range []bool{false, true} {
		s, f := newSpool(10)
		s.SetDeparted(departed)
		for _, k := range names(1000) {
			s.Record([]byte(k))
		}
		want := names(10)
		if departed {
			want = nil
		}
		slices.Sort(want)
		keys, overflow := f.read(t)
		if s.Size() != len(want) || !s.Pending(none) || !overflow || !slices.Equal(keys, want) || f.b.Len() > 200 {
			t.Errorf("departed %v, 1000 keys over a limit of 10: %d keys, pending %v; file %v, overflow %v, %d bytes; want %d keys, the mark, at most 200 bytes",
				departed, s.Size(), s.Pending(none), keys, overflow, f.b.Len(), len(want))
		}
		if s.Total() != 1000 {
			t.Errorf("departed %v: Total() = %d; want 1000", departed, s.Total())
		}
	}
}

// A key is written to the file once, whatever the number of records.
func TestSpoolRecordOnce(t *testing.T) {
	s, f := newSpool(10)
	for range 3 {
		s.Record([]byte("k"))
	}
	if got := strings.Count(f.b.String(), "\n"); got != 1 || s.Size() != 1 || s.Total() != 3 {
		t.Fatalf("3 records of one key: %d lines, size %d, total %d; want 1, 1, 3", got, s.Size(), s.Total())
	}
	// At the limit exactly, the spool has not overflowed.
	for _, k := range names(9) {
		s.Record([]byte(k))
	}
	if _, overflow := f.read(t); overflow || s.Size() != 10 {
		t.Fatalf("10 keys, limit 10: overflow %v, size %d; want no overflow, 10", overflow, s.Size())
	}
	s.Record([]byte("k")) // a duplicate at the limit is no overflow either
	if _, overflow := f.read(t); overflow {
		t.Fatal("a duplicate at the limit overflowed the spool")
	}
}

func TestSpoolStaleUntilReplayed(t *testing.T) {
	s, _ := newSpool(10)
	k := []byte("k")
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"new", func() {}, false},
		{"another key recorded", func() { s.Record([]byte("other")) }, false},
		{"recorded", func() { s.Record(k) }, true},
		{"taken", func() { s.TakeKeys(func(b []byte) bool { return string(b) == "k" }) }, true},
		{"replay failed", func() { s.Release([][]byte{k}, false, false) }, true},
		{"taken again", func() { s.TakeKeys(func(b []byte) bool { return string(b) == "k" }) }, true},
		{"replayed", func() { s.Release([][]byte{k}, false, true) }, false},
	}
	for _, st := range steps {
		st.do()
		if got := s.Stale(k); got != st.want {
			t.Errorf("%s: Stale = %v; want %v", st.name, got, st.want)
		}
	}
	if s.Replayed() != 1 || s.Size() != 1 {
		t.Errorf("after one replay: Replayed %d, Size %d; want 1, 1 (the other key)", s.Replayed(), s.Size())
	}
}

// Keys a replay has taken still count, and still make reads miss, when
// more are recorded meanwhile.
func TestSpoolSizeDuringReplay(t *testing.T) {
	s, _ := newSpool(10)
	s.Record([]byte("a"))
	keys := s.TakeKeys(all)
	s.Record([]byte("b"))
	if s.Size() != 2 || !s.Stale([]byte("a")) || !s.Stale([]byte("b")) {
		t.Fatalf("one key taken, one recorded: size %d, stale %v %v; want 2, both", s.Size(), s.Stale([]byte("a")), s.Stale([]byte("b")))
	}
	s.Release(keys, false, true)
	if s.Size() != 1 || s.Stale([]byte("a")) {
		t.Fatalf("the taken key replayed: size %d, a stale %v; want 1, false", s.Size(), s.Stale([]byte("a")))
	}
}

// Divert spools a write only while the node is not admitted.
func TestSpoolDivert(t *testing.T) {
	s, f := newSpool(10)
	if !s.Admitted() || s.Divert([]byte("a")) || s.Size() != 0 || f.b.Len() != 0 {
		t.Fatalf("admitted: Admitted %v, Divert recorded %d keys; want true and nothing recorded", s.Admitted(), s.Size())
	}
	s.SetAdmitted(false)
	if s.Admitted() || !s.Divert([]byte("a")) || !s.Stale([]byte("a")) {
		t.Fatal("out: Divert did not record the key")
	}
	if keys, _ := f.read(t); !slices.Equal(keys, []string{"a"}) {
		t.Fatalf("file: %v; want [a]", keys)
	}
}

// Keys whose write failed are put back by Regate, at most limit of them.
func TestSpoolRegate(t *testing.T) {
	s, _ := newSpool(3)
	for _, k := range names(5) {
		s.RecordFailed([]byte(k))
	}
	keys, overflow := s.Take(all, true) // the replay takes them (and the overflow)
	s.Release(keys, overflow, true)
	if n := s.Regate(); n != 3 || s.Size() != 3 {
		t.Fatalf("Regate after 5 failed writes, limit 3: %d put back, size %d; want 3, 3", n, s.Size())
	}
	if n := s.Regate(); n != 0 {
		t.Fatalf("second Regate: %d; want 0", n)
	}
}

// Pending: an overflow, or a key the node owns.
func TestSpoolPending(t *testing.T) {
	s, _ := newSpool(10)
	if s.Pending(all) {
		t.Fatal("empty spool pending")
	}
	s.Record([]byte("a"))
	if s.Pending(none) || !s.Pending(func(k []byte) bool { return string(k) == "a" }) {
		t.Fatal("Pending does not follow own")
	}
	r := NewSpool(&file{}, 10, [][]byte{[]byte("x"), []byte("y")}, true)
	if r.Size() != 2 || !r.Pending(none) || !r.Stale([]byte("x")) {
		t.Fatalf("a spool from an earlier run: size %d, pending %v; want 2, true", r.Size(), r.Pending(none))
	}
}

// Drain copies the keys the node owns, then takes what was spooled
// meanwhile and admits the node in one step, and deletes those keys.
func TestSpoolDrain(t *testing.T) {
	s, f := newSpool(10)
	s.SetAdmitted(false)
	for _, k := range []string{"a", "b", "other"} {
		s.Divert([]byte(k))
	}
	own := func(k []byte) bool { return string(k) != "other" }
	var copied, deleted []string
	copyFn := func(keys [][]byte) error {
		for _, k := range keys {
			copied = append(copied, string(k))
		}
		if s.Divert([]byte("c")) != true { // a write while the copies run
			t.Error("a write during the copy pass was not diverted")
		}
		return nil
	}
	del := func(keys [][]byte) error {
		for _, k := range keys {
			deleted = append(deleted, string(k))
		}
		return nil
	}
	flush := func() error { t.Error("flushed without an overflow"); return nil }
	if err := s.Drain(own, copyFn, del, flush); err != nil {
		t.Fatal(err)
	}
	slices.Sort(copied)
	if !slices.Equal(copied, []string{"a", "b"}) || !slices.Equal(deleted, []string{"c"}) || !s.Admitted() {
		t.Fatalf("drain: copied %v, deleted %v, admitted %v; want [a b], [c], true", copied, deleted, s.Admitted())
	}
	if keys, overflow := f.read(t); !slices.Equal(keys, []string{"other"}) || overflow || s.Size() != 1 || s.Replayed() != 3 {
		t.Fatalf("after drain: file %v (overflow %v), size %d, replayed %d; want [other], 1, 3", keys, overflow, s.Size(), s.Replayed())
	}
}

// An overflowed spool drains by one flush, and the flush counts.
func TestSpoolDrainFlushes(t *testing.T) {
	s, f := newSpool(1)
	s.SetAdmitted(false)
	s.Divert([]byte("a"))
	s.Divert([]byte("b")) // overflow
	flushes := 0
	fail := func([][]byte) error { t.Error("replayed keys of an overflowed spool"); return nil }
	if err := s.Drain(all, fail, fail, func() error { flushes++; return nil }); err != nil {
		t.Fatal(err)
	}
	if flushes != 1 || s.Flushes() != 1 || s.Size() != 0 || s.Stale([]byte("a")) || !s.Admitted() || f.b.Len() != 0 {
		t.Fatalf("drain of an overflow: %d flushes (counted %d), size %d, file %q, admitted %v; want 1, 0, empty, true",
			flushes, s.Flushes(), s.Size(), f.b.String(), s.Admitted())
	}
}

// A failed pass leaves its keys (or the overflow) in the spool; a failed
// second pass takes the admission back.
func TestSpoolDrainFails(t *testing.T) {
	boom := errors.New("boom")
	ok := func([][]byte) error { return nil }
	failing := func([][]byte) error { return boom }
	s, _ := newSpool(10)
	s.SetAdmitted(false)
	s.Divert([]byte("a"))
	if err := s.Drain(all, failing, ok, nil); !errors.Is(err, boom) || s.Admitted() || !s.Stale([]byte("a")) || s.Replayed() != 0 {
		t.Fatalf("copy pass failed: %v, admitted %v, stale %v; want boom, false, true", err, s.Admitted(), s.Stale([]byte("a")))
	}
	s.Divert([]byte("b"))
	second := func(keys [][]byte) error { s.Divert([]byte("c")); return nil }
	if err := s.Drain(func(k []byte) bool { return string(k) != "c" }, second, failing, nil); err != nil {
		t.Fatalf("nothing to delete: %v", err)
	}
	s.SetAdmitted(false)
	s.Divert([]byte("d"))
	copyD := func([][]byte) error { s.Divert([]byte("e")); return nil }
	if err := s.Drain(func(k []byte) bool { return string(k) != "c" }, copyD, failing, nil); !errors.Is(err, boom) || s.Admitted() || !s.Stale([]byte("e")) {
		t.Fatalf("delete pass failed: %v, admitted %v, e stale %v; want boom, false, true", err, s.Admitted(), s.Stale([]byte("e")))
	}
	o, _ := newSpool(1)
	o.MarkFlush()
	if err := o.Drain(all, ok, ok, func() error { return boom }); !errors.Is(err, boom) || !o.Pending(none) || o.Flushes() != 0 {
		t.Fatalf("flush failed: %v, pending %v, flushes %d; want boom, the overflow back, 0", err, o.Pending(none), o.Flushes())
	}
}

// Take with admit admits the node in the same step.
func TestSpoolTakeAdmits(t *testing.T) {
	s, _ := newSpool(10)
	s.SetAdmitted(false)
	s.Take(all, false)
	if s.Admitted() {
		t.Fatal("Take without admit admitted the node")
	}
	s.Take(all, true)
	if !s.Admitted() {
		t.Fatal("Take with admit did not admit the node")
	}
}

// A departed node's spool that overflows drops its keys; one that
// departs overflowed does too; Forget leaves the mark alone and closes.
func TestSpoolDeparted(t *testing.T) {
	s, f := newSpool(10)
	s.Record([]byte("a"))
	s.MarkFlush()
	if keys, overflow := f.read(t); !slices.Equal(keys, []string{"a"}) || !overflow || !s.Stale([]byte("a")) {
		t.Fatalf("a member marked for a flush: %v, %v; want its key kept, the mark", keys, overflow)
	}
	s.MarkFlush() // again: nothing more
	if n := strings.Count(f.b.String(), OverflowMark); n != 1 {
		t.Fatalf("two flush marks of a member: %d marks in the file; want 1", n)
	}
	s.SetDeparted(true)
	if keys, overflow := f.read(t); keys != nil || !overflow || s.Size() != 0 {
		t.Fatalf("departed overflowed: file %v, %v, size %d; want only the mark", keys, overflow, s.Size())
	}
	s.Record([]byte("b"))
	if keys, _ := f.read(t); keys != nil || s.Size() != 0 {
		t.Fatalf("a record after departing overflowed: %v; want nothing", keys)
	}
	s.SetDeparted(false)
	s.Record([]byte("c"))
	if keys, _ := f.read(t); !slices.Equal(keys, []string{"c"}) {
		t.Fatalf("back as a member: %v; want [c]", keys)
	}
	g, gf := newSpool(10)
	g.Record([]byte("x"))
	g.SetDeparted(true) // not overflowed: keeps its keys
	if keys, _ := gf.read(t); !slices.Equal(keys, []string{"x"}) {
		t.Fatalf("departed, not overflowed: %v; want [x]", keys)
	}
	g.Forget()
	if keys, overflow := gf.read(t); keys != nil || !overflow || !gf.closed {
		t.Fatalf("forgotten: %v, %v, closed %v; want only the mark, closed", keys, overflow, gf.closed)
	}
	c, cf := newSpool(10)
	c.Close()
	if !cf.closed {
		t.Fatal("Close did not close the file")
	}
}

// When the file cannot be cut it keeps more than the spool: replayed
// again after a restart, never less.
func TestSpoolRewriteFails(t *testing.T) {
	s, f := newSpool(10)
	s.Record([]byte("a"))
	f.noCut = true
	keys := s.TakeKeys(all)
	s.Release(keys, false, true)
	if got, _ := f.read(t); !slices.Equal(got, []string{"a"}) || s.Size() != 0 {
		t.Fatalf("rewrite refused: file %v, size %d; want [a] kept, 0", got, s.Size())
	}
}

func TestReadSpool(t *testing.T) {
	in := "YQ==\n" + OverflowMark + "\nnot base64!\n\nYg==\nYw" // a torn last line
	keys, overflow, err := ReadSpool(strings.NewReader(in))
	var got []string
	for _, k := range keys {
		got = append(got, string(k))
	}
	if err != nil || !overflow || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("ReadSpool: %v, %v, %v; want [a b], overflow, no error", got, overflow, err)
	}
}
