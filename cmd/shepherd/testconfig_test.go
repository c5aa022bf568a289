package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTestConfig: --test-config prints the example configs (shepherd's and
// twemproxy's) resolved, with defaults and ring shares, and what it prints
// is shepherd YAML that loads back to the same config; an invalid file
// exits 2 naming the key and line.
func TestTestConfig(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"shepherd.yaml", "nutcracker.yml"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testConfigRoundTrip(t, filepath.Join("..", "..", "configs", name))
		})
	}
	var out, errOut bytes.Buffer
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("pools:\n  a:\n    connections: 0\n    servers: [127.0.0.1:1]\n"), 0o644)
	if code := run([]string{"-t", "-c", bad}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "connections: line 3") {
		t.Errorf("-t on an invalid file: exit %d, %q; want 2 naming connections: line 3", code, errOut.String())
	}
}

func testConfigRoundTrip(t *testing.T, example string) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--test-config", "-c", example}, &out, &errOut); code != 0 {
		t.Fatalf("--test-config on the example: exit %d; want 0\n%s", code, errOut.String())
	}
	for _, want := range []string{"# " + example + ": valid", "connect_timeout: ", "failure_limit: ", "# share of 100000 sample keys"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--test-config output lacks %q:\n%s", want, out.String())
		}
	}
	printed := filepath.Join(t.TempDir(), "printed.yaml")
	if err := os.WriteFile(printed, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	orig, again := mustLoadFile(t, example), mustLoadFile(t, printed)
	for _, s := range []*settings{orig, again} {
		s.Config.Logger = nil
	}
	for name, p := range orig.Config.Pools {
		if !reflect.DeepEqual(p, again.Config.Pools[name]) {
			t.Errorf("pool %s: the printed config loads to %+v; want the original's %+v", name, again.Config.Pools[name], p)
		}
	}
	if !reflect.DeepEqual(orig.Config, again.Config) {
		t.Errorf("the printed config loads to %+v / herd %+v; want the original's %+v / herd %+v", again.Config, again.Config.Herd, orig.Config, orig.Config.Herd)
	}

	if again.Format != formatShepherd {
		t.Errorf("printed config format: got %s; want shepherd's YAML", again.Format)
	}
}

func mustLoadFile(t *testing.T, path string) *settings {
	t.Helper()
	fs := newFlagSet(&bytes.Buffer{})
	fs.Parse([]string{"-c", path})
	s, err := loadSettings(fs)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return s
}
