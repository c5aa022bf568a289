// Isolation: one client's malformed or quiet-flagged commands never move,
// delay or leak another client's replies on a shared backend connection.
package proxy_test

import (
	"fmt"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// TestQuietFlagLongForms: memcached reads a meta flag by its first
// character, so "qq" and "q9" are quiet. A victim on another connection
// must get its own value, never a timeout, while an attacker sends them.
func TestQuietFlagLongForms(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	victim := dial(t, f.addr)
	attacker := dial(t, f.addr)
	victim.send("set secret 0 0 16\r\nSECRET-of-victim\r\n")
	victim.expect("STORED")
	for i, q := range []string{"qq", "q9", "quiet", "qX"} {
		attacker.send(fmt.Sprintf("mg nokey%d v %s\r\nmd nokey%d %s\r\nms k%d 1 %s\r\nx\r\n", i, q, i, q, i, q))
		victim.send("mg secret v\r\n")
		victim.expect("VA 16", "SECRET-of-victim")
		attacker.send("mn\r\n")
		attacker.expect("NF", "MN")
	}
}
