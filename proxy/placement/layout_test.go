package placement

import (
	"fmt"
	"slices"
	"testing"

	"github.com/shepherd-proxy/shepherd/ring"
)

// sigs lists the layouts' signatures.
func sigs(ls []*Layout[int]) []string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Sig)
	}
	return s
}

func layout(sig string) *Layout[int] { return &Layout[int]{Sig: sig} }

// Past keeps the newest MaxPast distinct layouts other than the one in
// force, in order, and returns the older ones as dropped.
func TestPast(t *testing.T) {
	var all []*Layout[int]
	for i := range MaxPast + 3 {
		all = append(all, layout(fmt.Sprint("ring-", i)))
	}
	all = slices.Insert(all, 2, layout("ring-0"), layout("cur")) // a repeat, and the ring in force
	past, dropped := Past(all, "cur")
	var want []string
	for i := range MaxPast {
		want = append(want, fmt.Sprint("ring-", i))
	}
	if !slices.Equal(sigs(past), want) {
		t.Errorf("past: got %v; want %v", sigs(past), want)
	}
	if got := sigs(dropped); !slices.Equal(got, []string{fmt.Sprint("ring-", MaxPast), fmt.Sprint("ring-", MaxPast+1), fmt.Sprint("ring-", MaxPast+2)}) {
		t.Errorf("dropped: got %v; want the 3 oldest", got)
	}
	if p, d := Past(all[:3], "cur"); !slices.Equal(sigs(p), []string{"ring-0", "ring-1"}) || d != nil {
		t.Errorf("3 layouts, one a repeat: got %v, dropped %v; want ring-0 ring-1, none dropped", sigs(p), sigs(d))
	}
}

// Over many reloads the past stays bounded and never holds the ring in
// force.
func TestPastBound(t *testing.T) {
	var all []*Layout[int]
	dropped := 0
	for i := range 20 {
		cur := layout(fmt.Sprint("ring-", i%12))
		past, d := Past(all, cur.Sig)
		dropped += len(d)
		if len(past) > MaxPast || slices.Contains(sigs(past), cur.Sig) {
			t.Fatalf("reload %d: past %v; want at most %d, without %s", i, sigs(past), MaxPast, cur.Sig)
		}
		all = append([]*Layout[int]{cur}, past...)
	}
	if dropped == 0 {
		t.Errorf("20 reloads over 12 rings dropped no layout; want some (at most %d kept)", MaxPast)
	}
}

func TestLayoutOwner(t *testing.T) {
	srv := servers(3)
	r := mustRing(t, srv)
	l := NewLayout(srv, ring.Options{}, r, []int{10, 11, 12})
	for _, k := range keys(50) {
		if got, want := l.Owner(k), 10+r.Lookup(k); got != want {
			t.Fatalf("Owner(%s) = %d; want %d", k, got, want)
		}
	}
	if l.Sig != Signature(srv, ring.Options{}) || !slices.Equal(l.Servers, srv) {
		t.Errorf("layout: sig %q, servers %v; want the servers' signature and the servers", l.Sig, l.Servers)
	}
	opts := ring.Options{Distribution: "modula"}
	for _, other := range []string{Signature(srv[:2], ring.Options{}), Signature(srv, opts)} {
		if other == l.Sig {
			t.Errorf("another ring has the same signature %q", other)
		}
	}
	if NewLayout(srv, opts, r, []int{0}).Opts != opts {
		t.Error("a layout does not keep its ring options")
	}
}
