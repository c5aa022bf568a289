// Test setup: shepherd is built once for every test that runs it.
package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// shepherdBin is the binary built by TestMain; "" when the build failed
// (buildErr says why) and tests that need it fail.
var shepherdBin, buildErr = "", error(nil)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herdbench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wd, _ := os.Getwd()
	root, err := ModuleRoot(wd)
	if err == nil {
		shepherdBin, err = BuildShepherd(context.Background(), root, dir)
	}
	buildErr = err
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testEnv is an Env using the prebuilt shepherd, closed with the test.
func testEnv(t *testing.T, log *syncLog) *Env {
	t.Helper()
	needBinary(t, "memcached")
	if buildErr != nil {
		t.Fatalf("build shepherd: %v", buildErr)
	}
	o := Options{Shepherd: shepherdBin}
	if log != nil {
		o.Log = log
	}
	e, err := NewEnv(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func needBinary(t *testing.T, name string) {
	t.Helper()
	if findBinary("", name) == "" {
		t.Skipf("%s not installed: apt-get install %s (CI installs it)", name, name)
	}
}
