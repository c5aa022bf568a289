// Hash tag extraction, with twemproxy's edge cases.

package ring

import (
	"errors"
	"testing"
)

func TestHashTag(t *testing.T) {
	tests := []struct {
		name string
		key  string
		tag  string
		want string
	}{
		{"prefix tag", "{user:1}:profile", "{}", "user:1"},
		{"middle tag", "a{b}c", "{}", "b"},
		{"suffix tag", "posts{user:1}", "{}", "user:1"},
		{"first tag wins", "{a}{b}", "{}", "a"},
		{"first close after open", "{a}b}", "{}", "a"},
		{"close before open", "}x{y}", "{}", "y"},
		{"empty tag", "a{}b", "{}", "a{}b"},
		{"no close", "a{b", "{}", "a{b"},
		{"no open", "a}b", "{}", "a}b"},
		{"no tag", "plain", "{}", "plain"},
		{"whole key is tag", "{k}", "{}", "k"},
		{"empty key", "", "{}", ""},
		{"same byte twice", "a$b$c", "$$", "b"},
		{"same byte empty", "a$$c", "$$", "a$$c"},
		{"utf8 tag", "{ключ}:x", "{}", "ключ"},
		{"non-ascii tag bytes", "a\xabb\xbbc", "\xab\xbb", "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hashTag([]byte(tt.key), [2]byte{tt.tag[0], tt.tag[1]})
			if string(got) != tt.want {
				t.Errorf("hashTag(%q, %q) = %q; want %q", tt.key, tt.tag, got, tt.want)
			}
		})
	}
}

// TestHashTagPlacement: keys sharing a tag share a node; without a tag
// configured the braces are ordinary bytes.
func TestHashTagPlacement(t *testing.T) {
	nodes := testNodes(8)
	tagged, err := New(nodes, Options{HashTag: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := New(nodes, Options{})
	want := plain.Lookup([]byte("user:42"))
	spread := map[int]bool{}
	for _, k := range []string{"{user:42}", "{user:42}:profile", "feed{user:42}", "x{user:42}y{z}"} {
		if got := tagged.Lookup([]byte(k)); got != want {
			t.Errorf("key %q: got node %d; want %d (the node of user:42)", k, got, want)
		}
		spread[plain.Lookup([]byte(k))] = true
	}
	if len(spread) == 1 {
		t.Errorf("without hash_tag the tagged keys all landed on one node; want them spread")
	}
}

func TestHashTagOption(t *testing.T) {
	for _, tag := range []string{"{", "{}}", "ab c"} {
		if _, err := New(testNodes(2), Options{HashTag: tag}); !errors.Is(err, ErrHashTag) {
			t.Errorf("New with HashTag %q: got %v; want %v", tag, err, ErrHashTag)
		}
	}
}
