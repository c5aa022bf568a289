// Tests of the pieces of the node that need no goroutine: defaults and
// probe jitter.
package health

import (
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	def := Config{FailureLimit: DefaultFailureLimit, RetryTimeout: DefaultRetryTimeout,
		RetryMax: DefaultRetryMax, ProbeTimeout: DefaultProbeTimeout}
	cases := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero means the defaults", Config{}, def},
		{"negative means the defaults", Config{FailureLimit: -1, RetryTimeout: -1, RetryMax: -1, ProbeTimeout: -1}, def},
		{"smallest values are kept", Config{FailureLimit: 1, RetryTimeout: 1, RetryMax: 1, ProbeTimeout: 1},
			Config{FailureLimit: 1, RetryTimeout: 1, RetryMax: 1, ProbeTimeout: 1}},
		{"set values are kept", Config{FailureLimit: 7, RetryTimeout: time.Second, RetryMax: 3 * time.Second, ProbeTimeout: 2 * time.Second},
			Config{FailureLimit: 7, RetryTimeout: time.Second, RetryMax: 3 * time.Second, ProbeTimeout: 2 * time.Second}},
		{"RetryMax below RetryTimeout is raised", Config{RetryTimeout: 2 * time.Minute, RetryMax: time.Minute},
			Config{FailureLimit: DefaultFailureLimit, RetryTimeout: 2 * time.Minute, RetryMax: 2 * time.Minute, ProbeTimeout: DefaultProbeTimeout}},
		{"default RetryMax below a long RetryTimeout is raised", Config{RetryTimeout: 2 * time.Minute},
			Config{FailureLimit: DefaultFailureLimit, RetryTimeout: 2 * time.Minute, RetryMax: 2 * time.Minute, ProbeTimeout: DefaultProbeTimeout}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.in.WithDefaults()
			if got.FailureLimit != c.want.FailureLimit || got.RetryTimeout != c.want.RetryTimeout ||
				got.RetryMax != c.want.RetryMax || got.ProbeTimeout != c.want.ProbeTimeout {
				t.Errorf("WithDefaults(%+v) = %+v; want %+v", c.in, got, c.want)
			}
		})
	}
}

// TestDefaultValues: the defaults are the values Config's comments (and
// the README's pool table) promise: 2 failures, a first probe after 5s,
// backoff up to 60s, 1s per probe.
func TestDefaultValues(t *testing.T) {
	t.Parallel()
	got := Config{}.WithDefaults()
	want := Config{FailureLimit: 2, RetryTimeout: 5 * time.Second, RetryMax: time.Minute, ProbeTimeout: time.Second}
	if got.FailureLimit != want.FailureLimit || got.RetryTimeout != want.RetryTimeout ||
		got.RetryMax != want.RetryMax || got.ProbeTimeout != want.ProbeTimeout {
		t.Errorf("Config{}.WithDefaults() = %+v; want %+v", got, want)
	}
}

// TestJitter: probe delays spread over d ± 10%, on both sides of d.
func TestJitter(t *testing.T) {
	t.Parallel()
	const d = 10 * time.Second
	lo, hi := time.Duration(float64(d)*0.9), time.Duration(float64(d)*1.1)
	below, above := 0, 0
	for range 10000 {
		j := jitter(d)
		if j < lo || j > hi {
			t.Fatalf("jitter(%v) = %v; want within [%v, %v]", d, j, lo, hi)
		}
		if j < d-d/20 {
			below++
		}
		if j > d+d/20 {
			above++
		}
	}
	// Each half-tail (beyond ±5%) holds about a quarter of the samples.
	if below < 2000 || above < 2000 {
		t.Errorf("jitter(%v): %d samples below -5%%, %d above +5%% of 10000; want about 2500 each", d, below, above)
	}
}
