package proxy_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// phpScript reads shepherd's version and stats with php-memcached (which
// is libmemcached underneath) and prints what it got.
const phpScript = `<?php
$m = new Memcached();
$m->addServer($argv[1], (int)$argv[2]);
$v = $m->getVersion();
echo "version ", $v === false ? "false: " . $m->getResultMessage() : implode(",", $v), "\n";
$m->set("php:k", "v");
$s = $m->getStats();
if ($s === false) { echo "stats false: ", $m->getResultMessage(), "\n"; exit; }
foreach ($s as $server => $st) { echo "stats ", $st["version"], " curr_items ", $st["curr_items"], "\n"; }
`

// TestPHPMemcached: php-memcached's getVersion() and getStats() work
// through shepherd as they do against memcached.
func TestPHPMemcached(t *testing.T) {
	t.Parallel()
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php not installed: apt-get install php-cli php-memcached (CI installs them)")
	}
	if out, _ := exec.Command(php, "-m").Output(); !strings.Contains(string(out), "memcached") {
		t.Skip("php's memcached extension is missing: apt-get install php-memcached (CI installs it)")
	}
	f := startShepherd(t, mctest.StartN(t, 2), nil)
	script := filepath.Join(t.TempDir(), "stats.php")
	if err := os.WriteFile(script, []byte(phpScript), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(f.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, php, script, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	want := "version " + proxy.ProtocolVersion() + "\nstats " + proxy.ProtocolVersion() + " curr_items 1\n"
	if string(out) != want {
		t.Errorf("php-memcached through shepherd: got %q; want %q", out, want)
	}
}
