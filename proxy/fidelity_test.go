// Fidelity on bad input: each case goes to memcached directly and through
// shepherd, on a connection of its own after a flush, and the replies must
// be the same bytes (as diffNormalize sees them).
package proxy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

func TestBadInputAsMemcached(t *testing.T) {
	t.Parallel()
	direct := mctest.Start(t)
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	over := strings.Repeat("v", 1<<20+1)
	near := strings.Repeat("n", 1048500) // under max_item_size, over what memcached can store
	for _, tc := range []struct{ name, in string }{
		{"value over max_item_size", "set big 0 0 1\r\nx\r\nset big 0 0 " + fmt.Sprint(len(over)) + "\r\n" + over + "\r\nget big\r\n"},
		{"value over max_item_size, noreply", "set big 0 0 " + fmt.Sprint(len(over)) + " noreply\r\n" + over + "\r\nmn\r\n"},
		{"ms over max_item_size", "ms big 1 T0\r\nx\r\nms big " + fmt.Sprint(len(over)) + " q\r\n" + over + "\r\nmg big v\r\nmn\r\n"},
		{"add over max_item_size keeps the old value", "set big 0 0 1\r\nx\r\nadd big 0 0 " + fmt.Sprint(len(over)) + "\r\n" + over + "\r\nget big\r\n"},
		{"bad chunk near the limit", "set near 0 0 " + fmt.Sprint(len(near)) + "\r\n" + near + "XXmn\r\n"},
		{"flags not a number", "set a b 0 0 1\r\nx\r\n"},
		{"flags over 2^32-1", "set f 4294967296 0 1\r\nx\r\nget f\r\nset f 4294967297 0 1\r\ny\r\nget f\r\n"},
		{"negative flags", "set f -1 0 1\r\nx\r\n"},
		{"size read as int32", "set s 0 0 4294967297\r\nx\r\nget s\r\n"},
		{"gat without exptime", "gat k\r\n"},
		{"gat without keys", "gat 10\r\n"},
		{"gat alone", "gat\r\n"},
		{"key with 0x7f", "set del\x7fkey 0 0 1\r\nx\r\nget del\x7fkey\r\n"},
		{"key with control bytes", "set a\x01\tb 0 0 1\r\nx\r\nget a\x01\tb\r\n"},
		{"key cut at NUL", "set nul 0 0 1\r\nx\r\nget nul\x00junk\r\n"},
		{"300 KiB single-key get", "get " + strings.Repeat("k", 300<<10) + "\r\nset after 0 0 1\r\nx\r\nget after\r\n"},
		{"key of 251 bytes", "set " + strings.Repeat("k", 251) + " 0 0 1\r\nx\r\n"},
		{"extra token after size", "set e 0 0 1 junk\r\nx\r\nget e\r\n"},
		{"noreply silences errors", "set a b 0 0 noreply\r\nincr k x noreply\r\ntouch k x noreply\r\nmn\r\n"},
		{"delete variants", "delete a 0\r\ndelete a 0 noreply\r\ndelete a 1\r\ndelete a x y\r\nmn\r\n"},
		{"quiet long forms", "mg k v qq\r\nmd k q9\r\nms k 1 quiet\r\nx\r\nmg k v qX\r\nmn\r\n"},
		{"bx is base64", "ms Zm9v 2 bx\r\nhi\r\nmg foo v\r\n"},
		{"flag bytes over 126", "mg k v \x80\r\nmg k \xff\r\n"},
		{"flush_all forms", "flush_all noreply\r\nflush_all 0 0\r\nflush_all x\r\nmn\r\n"},
		{"verbosity forms", "verbosity\r\nverbosity x\r\nverbosity 1 2\r\nverbosity noreply\r\nmn\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { // one at a time: the cases share keys
			exchange(direct.Addr, []byte("flush_all\r\n"), 0)
			exchange(f.addr, []byte("flush_all\r\n"), 0)
			in := tc.in
			want := diffNormalize(exchange(direct.Addr, []byte(in), 1))
			got := diffNormalize(exchange(f.addr, []byte(in), 1))
			if string(got) != string(want) {
				t.Errorf("through shepherd:\n got  %.400q\nmemcached:\n want %.400q", got, want)
			}
		})
	}
}
