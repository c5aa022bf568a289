package proxy_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// debianPython is the interpreter with Debian's python3-pylibmc,
// python3-pymemcache and python3-django (a pyenv or venv python3 earlier
// on PATH does not see them).
const debianPython = "/usr/bin/python3"

// TestApplicationClients runs the calls an application makes through the
// real clients the README's "Point your application at shepherd" shows:
// pylibmc, pymemcache, and Django's PyLibMCCache and PyMemcacheCache
// (testdata/clients.py), and gomemcache here. Each skips, saying so, when
// its client is not installed (.ci/run installs them).
func TestApplicationClients(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 3), nil)
	for _, client := range []string{"pylibmc", "pymemcache", "django-pylibmc", "django-pymemcache"} {
		t.Run(client, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(debianPython); err != nil {
				t.Skipf("%s not found: apt-get install python3-pylibmc python3-pymemcache python3-django", debianPython)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, debianPython, "testdata/clients.py", f.addr, client).CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == 3 {
				t.Skipf("%s: %s (apt-get install python3-pylibmc python3-pymemcache python3-django)", client, strings.TrimSpace(string(out)))
			}
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("%s through shepherd: %v\n%s", client, err, out)
			}
		})
	}
	t.Run("gomemcache", func(t *testing.T) {
		t.Parallel()
		mc := memcache.New(f.addr) // shepherd is the one server the app knows
		mc.Timeout = 2 * time.Second
		for _, it := range []*memcache.Item{{Key: "go:a", Value: []byte("one")}, {Key: "go:b", Value: []byte("two"), Flags: 7}} {
			if err := mc.Set(it); err != nil {
				t.Fatalf("Set %s: %v", it.Key, err)
			}
		}
		got, err := mc.GetMulti([]string{"go:a", "go:b", "go:missing"})
		if err != nil || len(got) != 2 || string(got["go:a"].Value) != "one" || got["go:b"].Flags != 7 {
			t.Fatalf("GetMulti: got %v, %v; want go:a=one and go:b with flags 7", got, err)
		}
		it, err := mc.Get("go:a")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		it.Value = []byte("uno")
		if err := mc.CompareAndSwap(it); err != nil {
			t.Fatalf("CompareAndSwap: %v", err)
		}
		if err := mc.CompareAndSwap(it); !errors.Is(err, memcache.ErrCASConflict) {
			t.Fatalf("second CompareAndSwap with a stale CAS: got %v; want ErrCASConflict", err)
		}
		mc.Set(&memcache.Item{Key: "go:n", Value: []byte("10")})
		if n, err := mc.Increment("go:n", 5); err != nil || n != 15 {
			t.Fatalf("Increment: got %d, %v; want 15", n, err)
		}
		if err := mc.Touch("go:n", 60); err != nil {
			t.Fatalf("Touch: %v", err)
		}
		if err := mc.Delete("go:a"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := mc.Get("go:a"); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Fatalf("Get after Delete: got %v; want ErrCacheMiss", err)
		}
		if err := mc.Ping(); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}
