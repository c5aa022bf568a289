// Which rule protects a key: the longest matching prefix, the first
// listed among equals, else the default.
package herd

import (
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/protocol"
)

func TestRulePick(t *testing.T) {
	t.Parallel()
	g := New(Config{Rules: []Rule{
		{Prefix: "u:*:a"}, // 5 bytes
		{Prefix: "u:x:*"}, // 5 bytes: matches u:x:a too, but is listed second
		{Prefix: "u:"},
		{Prefix: ""},
	}})
	for _, tc := range []struct{ key, want string }{
		{"u:x:a", "u:*:a"},
		{"u:y:a", "u:*:a"},
		{"u:x:b", "u:x:*"},
		{"u:z:b", "u:"},
		{"v", ""},
	} {
		if r := g.Rule([]byte(tc.key)); r == nil || r.Prefix != tc.want {
			t.Errorf("Rule(%q): got %+v; want the rule %q", tc.key, r, tc.want)
		}
	}
}

// TestRuleTTLBounds: TTLs are whole seconds up to 30 days (memcached reads
// more as a unix time): 1s and exactly 30 days are valid, just under 1s
// and just over 30 days are not.
func TestRuleTTLBounds(t *testing.T) {
	t.Parallel()
	// memcached's REALTIME_MAXDELTA: 60*60*24*30 seconds, written out here
	// rather than read from MaxTTL, so that a wrong MaxTTL fails.
	const thirtyDays = 60 * 60 * 24 * 30 * time.Second
	if MaxTTL != thirtyDays {
		t.Errorf("MaxTTL = %v; want memcached's 30 days (%v)", MaxTTL, thirtyDays)
	}
	for _, tc := range []struct {
		name string
		r    Rule
		ok   bool
	}{
		{"ttl 1s", Rule{TTL: time.Second}, true},
		{"ttl under 1s", Rule{TTL: time.Second - 1}, false},
		{"ttl 30 days", Rule{TTL: thirtyDays}, true},
		{"ttl over 30 days", Rule{TTL: thirtyDays + time.Second}, false},
		{"stale_ttl 30 days", Rule{StaleTTL: thirtyDays}, true},
		{"lease_ttl over 30 days", Rule{LeaseTTL: thirtyDays + time.Second}, false},
	} {
		if err := tc.r.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate: got %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestInvalidateRetriesChangedKey: a delete whose key changed between its
// look and its CAS-guarded md (EX) looks again, then deletes.
func TestInvalidateRetriesChangedKey(t *testing.T) {
	t.Parallel()
	b := &scripted{replies: map[protocol.Command][]string{
		protocol.CmdMetaGet: {"HD c5 t-1 s2\r\n", "HD c6 t-1 s2\r\n"}, protocol.CmdMetaDelete: {"EX\r\n", "HD\r\n"},
	}}
	a, err := New(Config{}).Invalidate(t.Context(), b, []byte("k"), &Rule{StaleTTL: 30 * time.Second})
	if err != nil || a.Outcome != Deleted {
		t.Errorf("delete of a live key that changed once: got %v, %v; want Deleted", a.Outcome, err)
	}
	if want := "mg k c t s|md k C5 T30 I|mg k c t s|md k C6 T30 I"; strings.Join(b.sent, "|") != want {
		t.Errorf("sent %q; want %q", strings.Join(b.sent, "|"), want)
	}
}
