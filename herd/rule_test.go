// Tests of rule defaults and checks, and of picking a key's rule.
package herd

import (
	"strings"
	"testing"
	"time"
)

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRuleWithDefaults(t *testing.T) {
	t.Parallel()
	want := Rule{StaleTTL: DefaultStaleTTL, Hold: DefaultHold, LeaseTTL: DefaultLeaseTTL, OriginTimeout: DefaultOriginTimeout}
	if got := (Rule{}).WithDefaults(); got != want {
		t.Errorf("Rule{}.WithDefaults() = %+v; want %+v", got, want)
	}
	neg := Rule{StaleTTL: -time.Second, Hold: -1, LeaseTTL: -time.Minute, OriginTimeout: -time.Millisecond}
	if got := neg.WithDefaults(); got != neg {
		t.Errorf("WithDefaults(%+v) = %+v; want negative values kept for Validate to refuse", neg, got)
	}
	if DefaultStaleTTL != 30*time.Second || DefaultHold != time.Second || DefaultLeaseTTL != 10*time.Second || DefaultOriginTimeout != 2*time.Second {
		t.Errorf("defaults %v %v %v %v; want 30s 1s 10s 2s as documented", DefaultStaleTTL, DefaultHold, DefaultLeaseTTL, DefaultOriginTimeout)
	}
}

// TestRuleValidateDoesNotFill: a zero rule is valid (zero means the
// default) and Validate leaves it zero.
func TestRuleValidateDoesNotFill(t *testing.T) {
	t.Parallel()
	r := Rule{Prefix: "p:"}
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate(%+v): %v; want nil (zero means the default)", r, err)
	}
	if r != (Rule{Prefix: "p:"}) {
		t.Errorf("Validate changed the rule to %+v; want it unchanged", r)
	}
}

func TestRuleValidateKeeps(t *testing.T) {
	t.Parallel()
	in := Rule{
		Prefix: "thread:", StaleTTL: time.Minute, Hold: 250 * time.Millisecond, LeaseTTL: 3 * time.Second,
		Origin: "http://127.0.0.1:8080/fill?key={key}", TTL: time.Hour, OriginTimeout: 500 * time.Millisecond,
	}
	r := in
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate(%+v): %v", in, err)
	}
	if r != in {
		t.Errorf("Validate changed %+v to %+v; want it kept", in, r)
	}
}

func TestRuleValidateErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rule Rule
		want string // in the error; "" for no error
		bug  string
	}{
		{name: "origin without {key}", rule: Rule{Prefix: "p:", Origin: "http://o/fill"}, want: `rule "p:": origin "http://o/fill" has no {key}`},
		{name: "origin with {KEY}", rule: Rule{Origin: "http://o/{KEY}"}, want: "has no {key}"},
		{name: "origin in the path", rule: Rule{Origin: "http://o/v/{key}"}},
		{name: "sub-second stale_ttl", rule: Rule{Prefix: "s:", StaleTTL: 500 * time.Millisecond}, want: `rule "s:": stale_ttl and lease_ttl must be at least 1s`},
		{name: "sub-second lease_ttl", rule: Rule{LeaseTTL: 999 * time.Millisecond}, want: "at least 1s"},
		{name: "one second each", rule: Rule{StaleTTL: time.Second, LeaseTTL: time.Second}},
		{name: "sub-second hold", rule: Rule{Hold: 20 * time.Millisecond}}, // hold is a local timer
		{name: "negative hold", rule: Rule{Prefix: "n:", Hold: -time.Second}, want: `rule "n:": hold, origin_timeout and ttl must not be negative`},
		{name: "negative origin_timeout", rule: Rule{OriginTimeout: -1}, want: "must not be negative"},
		{name: "negative ttl", rule: Rule{TTL: -time.Second}, want: "must not be negative"},
		{name: "negative stale_ttl", rule: Rule{StaleTTL: -time.Second}, want: "at least 1s"},
		{name: "negative lease_ttl", rule: Rule{LeaseTTL: -time.Second}, want: "at least 1s"},
		{name: "sub-second ttl", rule: Rule{Origin: "http://o/{key}", TTL: 500 * time.Millisecond}, want: "ttl"},
		{name: "ttl over 30 days", rule: Rule{Origin: "http://o/{key}", TTL: 31 * 24 * time.Hour}, want: "ttl"},
		{name: "stale_ttl over 30 days", rule: Rule{StaleTTL: 31 * 24 * time.Hour}, want: "stale_ttl"},
		{name: "lease_ttl over 30 days", rule: Rule{LeaseTTL: 31 * 24 * time.Hour}, want: "lease_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				t.Skip("BUG: " + tc.bug)
			}
			r := tc.rule
			err := r.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate(%+v): %v; want nil", tc.rule, err)
			case tc.want != "" && err == nil:
				t.Errorf("Validate(%+v): nil; want an error with %q", tc.rule, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("Validate(%+v): %v; want an error with %q", tc.rule, err, tc.want)
			}
		})
	}
}

func TestGroupRule(t *testing.T) {
	t.Parallel()
	def := &Rule{StaleTTL: time.Minute}
	g := New(Config{
		Rules: []Rule{
			{Prefix: "a:", Hold: 1},
			{Prefix: "a:b:", Hold: 2},
			{Prefix: "c", Hold: 3},
			{Prefix: "a:b:", Hold: 4}, // same prefix again: the first one wins
			{Prefix: "a:b:cd", Hold: 5},
		},
		Default: def,
	})
	for key, want := range map[string]time.Duration{
		"a:1": 1, "a:": 1, "a:b:1": 2, "a:b:": 2, "a:b:c": 2, "a:b:cd": 5, "a:b:cde": 5,
		"c": 3, "cx": 3, "a": 0, "b:1": 0, "": 0, "A:1": 0,
	} {
		r := g.Rule([]byte(key))
		switch {
		case want == 0 && r != def:
			t.Errorf("Rule(%q) = %+v; want the default rule", key, r)
		case want != 0 && (r == nil || r.Hold != want):
			t.Errorf("Rule(%q) = %+v; want the rule with Hold %d", key, r, want)
		}
	}
	if r := New(Config{Rules: []Rule{{Prefix: "a:"}}}).Rule([]byte("b:1")); r != nil {
		t.Errorf("Rule of an unprotected key without a default = %+v; want nil", r)
	}
	if r := New(Config{}).Rule([]byte("a")); r != nil {
		t.Errorf("Rule with no rules at all = %+v; want nil", r)
	}
	if a, b := g.Rule([]byte("a:1")), g.Rule([]byte("a:2")); a != b {
		t.Errorf("Rule returned different pointers for one rule: %p, %p", a, b)
	}
}

func TestMatchPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, key string
		want         bool
	}{
		{"thread:", "thread:1", true},
		{"thread:", "thread", false},
		{"app:*:thread:", "app:1:thread:1", true},
		{"app:*:thread:", "app:12:thread:", true},
		{"app:*:thread:", "app::thread:1", true},
		{"app:*:thread:", "app:1:post:1", false},
		{"app:*:thread:", "app:1:2:thread:1", false}, // * is one segment
		{"app:*:thread:", "app:1", false},
		{"*:*:thread:", "anyapp:3:thread:9", true},
		{"*:*:thread:", "thread:9", false},
		{"app:*", "app:", true},
		{"app:*", "app:x:y", true},
		{"", "anything", true},
	} {
		if got := matchPrefix(tc.pattern, []byte(tc.key)); got != tc.want {
			t.Errorf("matchPrefix(%q, %q) = %v; want %v", tc.pattern, tc.key, got, tc.want)
		}
	}
}

func TestLeaseValid(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		l    Lease
		want bool
	}{
		{"zero", Lease{}, false},
		{"no cas", Lease{Expires: now.Add(time.Hour)}, false},
		{"held", Lease{CAS: 7, Expires: now.Add(time.Nanosecond)}, true},
		{"expires now", Lease{CAS: 7, Expires: now}, false},
		{"expired", Lease{CAS: 7, Expires: now.Add(-time.Second)}, false},
	} {
		if got := tc.l.Valid(now); got != tc.want {
			t.Errorf("%s: Valid = %v; want %v", tc.name, got, tc.want)
		}
	}
}
