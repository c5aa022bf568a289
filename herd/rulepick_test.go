// Which rule protects a key: the longest matching prefix, the first
// listed among equals, else the default.
package herd

import "testing"

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
