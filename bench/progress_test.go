// Tests of the live progress line.
package bench

import (
	"testing"
	"time"
)

func TestProgressTextFits80Columns(t *testing.T) {
	t.Parallel()
	for _, label := range []string{"herd off", "nutcracker mget=10000 c=2048 with a very long scenario label indeed"} {
		text := progressText(label, 123*time.Second, 1234567, 9_999_999_999, 12345)
		if n := len([]rune(text)); n > 79 {
			t.Errorf("%q: got %d runes; want ≤ 79: %q", label, n, text)
		}
	}
}
