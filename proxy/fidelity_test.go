// Fidelity on bad input: each case goes to memcached directly and through
// shepherd, on a connection of its own after a flush, and the replies must
// be the same bytes (as diffNormalize sees them).
package proxy_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
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

// TestBinaryProtocolRefused: a binary-protocol request gets a binary error
// response (magic 0x81, status 0x0081 unknown command, its opaque echoed)
// at once, and the connection closes.
func TestBinaryProtocolRefused(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	// A binary GET of key "k": magic, opcode 0x00, key length 1, body 1,
	// opaque 0xdeadbeef.
	req := []byte{0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 'k'}
	start := time.Now()
	got := exchangeOpen(t, f.addr, req)
	if len(got) < 24 {
		t.Fatalf("got %q; want a 24-byte binary header and a body", got)
	}
	if got[0] != 0x81 || got[1] != 0x00 || binary.BigEndian.Uint16(got[6:8]) != 0x0081 {
		t.Errorf("got magic %#x opcode %#x status %#x; want 0x81 0x00 0x0081", got[0], got[1], binary.BigEndian.Uint16(got[6:8]))
	}
	if op := binary.BigEndian.Uint32(got[12:16]); op != 0xdeadbeef {
		t.Errorf("got opaque %#x; want 0xdeadbeef", op)
	}
	if n := binary.BigEndian.Uint32(got[8:12]); int(n) != len(got)-24 {
		t.Errorf("got body length %d and %d body bytes; want them equal", n, len(got)-24)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("got the answer after %v; want it at once", d)
	}
	admin := httptest.NewServer(f.srv.AdminHandler())
	t.Cleanup(admin.Close)
	if !strings.Contains(httpGet(t, admin.URL+"/metrics"), "shepherd_binary_protocol_refused_total 1") {
		t.Errorf("metrics: want shepherd_binary_protocol_refused_total 1")
	}
	// A text client on the same listener is not affected.
	c := dial(t, f.addr)
	c.send("set a 0 0 1\r\nx\r\nget a\r\n")
	c.expect("STORED", "VALUE a 0 1", "x", "END")
}

// exchangeOpen writes b without closing the write side and reads until the
// server closes the connection.
func exchangeOpen(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	c := dial(t, addr)
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	c.send(string(b))
	got, err := io.ReadAll(c.br)
	if err != nil {
		t.Fatalf("read: %v (so far %q); want the server to close", err, got)
	}
	return got
}

// TestBinaryProtocolPylibmc: pylibmc with binary=True (libmemcached) fails
// at once through shepherd instead of timing out.
func TestBinaryProtocolPylibmc(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err == nil && exec.Command(py, "-c", "import pylibmc").Run() != nil {
		py, err = "/usr/bin/python3", exec.Command("/usr/bin/python3", "-c", "import pylibmc").Run()
	}
	if err != nil {
		t.Skip("pylibmc not installed (Debian package python3-pylibmc)")
	}
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	script := `
import sys, time, pylibmc
c = pylibmc.Client([sys.argv[1]], binary=True, behaviors={"connect_timeout": 5000, "receive_timeout": 5000000, "send_timeout": 5000000})
t = time.time()
try:
    c.set("a", "b")
    print("no error")
except pylibmc.Error as e:
    print("error %.3f %s" % (time.time() - t, type(e).__name__))
`
	out, err := exec.Command(py, "-c", script, f.addr).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v: %s", err, out)
	}
	var secs float64
	var name string
	if _, err := fmt.Sscanf(string(out), "error %f %s", &secs, &name); err != nil {
		t.Fatalf("got %q; want pylibmc to raise an error", out)
	}
	if secs > 2 {
		t.Errorf("pylibmc raised %s after %.3fs; want it at once (its timeout is 5s)", name, secs)
	}
}

// TestAllowedDifferences asserts shepherd's side of each row of README's
// table of allowed differences from memcached.
func TestAllowedDifferences(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	k251 := strings.Repeat("k", 251)
	for _, tc := range []struct{ name, in, want string }{
		{"version is shepherd's", "version\r\n", "VERSION " + proxy.Version + "\r\n"},
		{"stats are shepherd's", "stats\r\n", "STAT pid "},
		{"admin commands are not proxied", "lru_crawler metadump all\r\nslabs automove 1\r\nwatch\r\nshutdown\r\ncache_memlimit 100\r\n",
			"ERROR\r\nERROR\r\nERROR\r\nERROR\r\nERROR\r\n"},
		{"a get with a key over 250 bytes keeps the replies before it",
			"set a 0 0 1\r\nx\r\nget " + k251 + "\r\n", "STORED\r\nCLIENT_ERROR bad command line format\r\n"},
		{"an HTTP request line closes after the replies before it",
			"set a 0 0 1\r\nx\r\nGET / HTTP/1.1\r\nget a\r\n", "STORED\r\n"},
		{"a line over 2048 bytes closes", "set " + strings.Repeat("x ", 1100) + "\r\nget a\r\n", "CLIENT_ERROR line too long\r\n"},
		{"a get line over 256 KiB of valid keys is refused, the connection kept",
			"get " + strings.Repeat("k ", 140<<10) + "\r\nmn\r\n", "CLIENT_ERROR line too long\r\nMN\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(exchange(f.addr, []byte(tc.in), 1))
			whole := !strings.HasSuffix(tc.name, "shepherd's") // else want is a prefix
			if !strings.HasPrefix(got, tc.want) || (whole && got != tc.want) {
				t.Errorf("got %.200q; want %.200q", got, tc.want)
			}
		})
	}
}

// TestDecrShorterNumber: a decr whose result is shorter than the stored
// number is padded with spaces in place or stored anew, as memcached's own
// timing has it (README, allowed differences); shepherd relays either.
func TestDecrShorterNumber(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), nil)
	c := dial(t, f.addr)
	c.send("set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\n")
	c.expect("STORED", "9")
	switch got := c.reply("END"); got {
	case "VALUE n 0 1|9|END", "VALUE n 0 2|9 |END":
	default:
		t.Errorf("got %q; want 9 as memcached stores it, padded or not", got)
	}
}
