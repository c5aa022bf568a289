//go:build unix

package proc

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestClaimPortNeverTwice(t *testing.T) {
	seen := map[int]bool{}
	lo, hi := portFloor, claimCeil()
	for i := 0; i < 50; i++ {
		p, err := ClaimPort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if p < lo || p > hi {
			t.Fatalf("port %d outside [%d, %d], the range below the ephemeral ports", p, lo, hi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("claimed port %d is not free: %v", p, err)
		}
		l.Close()
	}
}

// Another process's claim is an flock on a separate open file; one taken
// here through a second open file is refused the same way.
func TestClaimPortExclusive(t *testing.T) {
	p, err := ClaimPort()
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := lockPort(filepath.Join(os.TempDir(), "shepherd-ports"), p); ok {
		f.Close()
		t.Fatalf("port %d: a second claim succeeded while the first is held", p)
	}
}
