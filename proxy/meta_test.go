package proxy_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// TestMetaPassthrough: meta commands reach the key's node with their
// flags and come back in order, quiet mode included across nodes.
func TestMetaPassthrough(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	c := dial(t, f.addr)
	c.send("ms m1 2 T0 F7\r\nhi\r\n")
	c.expect("HD")
	c.send("mg m1 v f k O123\r\n")
	c.expect("VA 2 f7 km1 O123", "hi")
	c.send("mg missing v O9\r\n")
	c.expect("EN O9")
	c.send("ma m1\r\n")
	c.expect("CLIENT_ERROR cannot increment or decrement non-numeric value")
	c.send("ms n1 1\r\n5\r\nma n1 D10 v\r\n")
	c.expect("HD", "VA 2", "15")
	c.send("md n1 q\r\nmd n1 O77\r\n")
	c.expect("NF O77")
	// quiet gets over many keys (spread over the nodes): only hits speak, then MN
	var b strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "ms qk%d 1 q\r\n%d\r\n", i%10, i%10)
	}
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "mg qk%d v k q\r\n", i)
	}
	b.WriteString("mn\r\n")
	c.send(b.String())
	for i := 0; i < 10; i++ {
		c.expect(fmt.Sprintf("VA 1 kqk%d", i), fmt.Sprint(i))
	}
	c.expect("MN")
	// base64 keys route by their decoded bytes: set in base64, read in plain
	key := base64.StdEncoding.EncodeToString([]byte("b64key"))
	c.send("ms " + key + " 3 b\r\nabc\r\nmg b64key v\r\n")
	c.expect("HD", "VA 3", "abc")
	c.send("me m1\r\n")
	if l := c.line(); !strings.HasPrefix(l, "ME m1 ") {
		t.Errorf("got %q; want ME m1 ...", l)
	}
}
