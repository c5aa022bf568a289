// Tests of the small helpers beside Backend.
package herd

import (
	"testing"
	"time"
)

func TestSecs(t *testing.T) {
	t.Parallel()
	for d, want := range map[string]int64{"0s": 1, "500ms": 1, "1s": 1, "1.9s": 1, "90s": 90, "720h": 2592000} {
		dur, err := time.ParseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		if got := secs(dur); got != want {
			t.Errorf("secs(%s) = %d; want %d", d, got, want)
		}
	}
}
