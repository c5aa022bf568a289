// Unit tests of the spool's bounds and of the placement history.
package proxy

import (
	"fmt"
	"os"
	"testing"
)

func TestSpoolBound(t *testing.T) {
	t.Parallel()
	for _, departed := range []bool{false, true} {
		sp, err := openSpool(t.TempDir(), "p", "127.0.0.1:1", 10)
		if err != nil {
			t.Fatal(err)
		}
		sp.setDeparted(departed)
		for i := 0; i < 1000; i++ {
			sp.record([]byte(fmt.Sprintf("key:%d", i)))
		}
		want := 10 // a member keeps the keys it has: reads of them must avoid it
		if departed {
			want = 0 // nobody reads from a departed node: the mark is enough
		}
		fi, err := os.Stat(sp.path)
		if err != nil {
			t.Fatal(err)
		}
		if sp.size() != want || !sp.pending() || fi.Size() > 200 {
			t.Errorf("departed %v, 1000 keys over a limit of 10: got %d keys, pending %v, file %d bytes; want %d, true, at most 200",
				departed, sp.size(), sp.pending(), fi.Size(), want)
		}
		sp.close()
	}
}

func TestSpoolStaleUntilReplayed(t *testing.T) {
	t.Parallel()
	sp, err := openSpool(t.TempDir(), "p", "127.0.0.1:1", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	k := []byte("k")
	all := func([]byte) bool { return true }
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"new", func() {}, false},
		{"recorded", func() { sp.record(k) }, true},
		{"taken", func() { sp.takeKeys(all) }, true},
		{"replay failed", func() { sp.release([][]byte{k}, false, false) }, true},
		{"taken again", func() { sp.takeKeys(all) }, true},
		{"replayed", func() { sp.release([][]byte{k}, false, true) }, false},
	}
	for _, st := range steps {
		st.do()
		if got := sp.stale(k); got != st.want {
			t.Errorf("%s: stale = %v; want %v", st.name, got, st.want)
		}
	}
}

func TestHistoryBound(t *testing.T) {
	t.Parallel()
	var prev *view
	dropped := 0
	for i := 0; i < 20; i++ {
		m := &members{place: &placement{sig: fmt.Sprint("ring-", i%12)}}
		var d []*placement
		m.past, d = history(prev, m.place.sig)
		dropped += len(d)
		if len(m.past) > maxPast {
			t.Fatalf("reload %d: %d past placements; want at most %d", i, len(m.past), maxPast)
		}
		for _, pl := range m.past {
			if pl.sig == m.place.sig {
				t.Fatalf("reload %d: the ring in force is among the past", i)
			}
		}
		prev = &view{m: m, all: true}
	}
	if dropped == 0 {
		t.Errorf("20 reloads over 12 rings dropped no placement; want some (at most %d kept)", maxPast)
	}
}
