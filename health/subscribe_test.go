package health_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/health"
)

// Subscribers hear every change after OnChange, in the order they
// subscribed, on the goroutine that made it: an ejection is told before
// the failing call returns.
func TestSubscribe(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex // guards order: the prober appends to it too
	var order []string
	record := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(order) }
	p := newProbes()
	readmitted := newChanges()
	n := newNode(t, health.Config{
		FailureLimit: 1, RetryTimeout: time.Millisecond, Probe: p.probe,
		OnChange: func(from, to health.State) { record("hook " + to.String()) },
	})
	n.Subscribe(func(from, to health.State) { record("first " + to.String()) })
	n.Subscribe(func(from, to health.State) {
		record("second " + to.String())
		readmitted.onChange(from, to)
	})
	n.Failure() // ejects, and the prober readmits it soon after
	if got, want := seen()[:3], []string{"hook ejected", "first ejected", "second ejected"}; !slices.Equal(got, want) {
		t.Fatalf("when Failure returned: got %v; want %v", got, want)
	}
	readmitted.waitFor(t, "probing→healthy")
	want := []string{"hook ejected", "first ejected", "second ejected",
		"hook probing", "first probing", "second probing",
		"hook healthy", "first healthy", "second healthy"}
	if got := seen(); !slices.Equal(got, want) {
		t.Fatalf("got %v; want %v", got, want)
	}
}
