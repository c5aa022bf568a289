// Django through shepherd: the cache patterns of a real application on
// protected keys, with Django's own memcached backends (pylibmc and
// pymemcache), the way issue 10 found them broken.
package proxy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/herd"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// djangoScript runs each pattern with each backend against the server in
// argv[1] and prints one "<backend> <pattern> <result>" line per check.
const djangoScript = `
import sys, threading, time
import django
from django.conf import settings

addr = sys.argv[1]
backends = {
    "pylibmc": "django.core.cache.backends.memcached.PyLibMCCache",
    "pymemcache": "django.core.cache.backends.memcached.PyMemcacheCache",
}
settings.configure(CACHES={name: {"BACKEND": b, "LOCATION": addr, "KEY_PREFIX": "app", "VERSION": 1}
                           for name, b in backends.items()})
django.setup()
from django.core.cache import caches

def rate_limit(cache, key):
    cache.get(key)
    try:
        cache.incr(key)
        return "incr-found"
    except ValueError:
        cache.add(key, 1)
    return "n=%d" % cache.incr(key)

def lock(cache, key):
    got = [cache.add(key, "held"), cache.delete(key), cache.add(key, "held")]
    return ",".join(str(g) for g in got)

def herd(name, key, deleted):
    cache = caches[name]
    fills = []
    if deleted:
        cache.set(key, "v1")
        cache.get(key)
        cache.delete(key)
    def fill():
        fills.append(1)
        time.sleep(0.05)
        return "v2"
    start = threading.Barrier(50)
    def reader():
        c = caches[name]  # each thread has its own connection
        start.wait()
        c.get_or_set(key, fill)
    threads = [threading.Thread(target=reader) for _ in range(50)]
    for t in threads: t.start()
    for t in threads: t.join()
    return "refills=%d" % len(fills)

for name in backends:
    cache = caches[name]
    print(name, "rate-limit", rate_limit(cache, "dj:rl:" + name))
    print(name, "lock", lock(cache, "dj:lock:" + name))
    print(name, "stale-herd", herd(name, "dj:hot:" + name, True))
    print(name, "cold-herd", herd(name, "dj:cold:" + name, False))
`

// TestDjangoPatterns: Django's rate-limit pattern (incr, on ValueError add
// 1) and an add/delete lock behave as on memcached on protected keys, and
// get_or_set from 50 threads on a just-deleted or absent key costs one
// refill.
func TestDjangoPatterns(t *testing.T) {
	t.Parallel()
	py := "/usr/bin/python3" // Debian's modules are on its path, not a pyenv's
	if err := exec.Command(py, "-c", "import django, pylibmc, pymemcache").Run(); err != nil {
		t.Skipf("needs Debian's python3-django, python3-pylibmc and python3-pymemcache (.ci/run installs them): %v", err)
	}
	f := startShepherd(t, mctest.StartN(t, 3), func(cfg *proxy.Config) {
		cfg.Herd = &proxy.HerdConfig{Rules: []herd.Rule{{Prefix: "app:*:dj:", Hold: 2 * time.Second}}}
	})
	script := filepath.Join(t.TempDir(), "patterns.py")
	if err := os.WriteFile(script, []byte(djangoScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, f.addr).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	t.Logf("Django through shepherd, keys under app:*:dj: protected:\n%s", out)
	want := []string{"rate-limit n=2", "lock True,True,True", "stale-herd refills=1", "cold-herd refills=1"}
	for _, backend := range []string{"pylibmc", "pymemcache"} {
		for _, w := range want {
			if !strings.Contains(string(out), backend+" "+w+"\n") {
				t.Errorf("%s: got output %q; want a line %q", backend, out, backend+" "+w)
			}
		}
	}
}
