package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestParseProxyCommand(t *testing.T) {
	p, err := ParseProxyCommand("epoll=bin/loopproto -design epoll -listen {listen} -nodes {nodes}")
	if err != nil || p.Name != "epoll" || len(p.Args) != 7 || p.Args[0] != "bin/loopproto" || p.Args[4] != "{listen}" {
		t.Fatalf("got %+v, %v", p, err)
	}
	for _, bad := range []string{
		"", "epoll", "=bin/x {listen}", "Epoll=bin/x {listen}", "a b=bin/x {listen}",
		"epoll=", "epoll=bin/loopproto -nodes {nodes}", "shepherd=bin/x {listen}", "direct=bin/x {listen}",
	} {
		if _, err := ParseProxyCommand(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// TestSmokeProxyCommand runs a throughput sweep with bench/loopproto given
// as a --proxy target and checks it is measured like the built-in ones.
func TestSmokeProxyCommand(t *testing.T) {
	t.Parallel()
	needBinary(t, "memcached")
	wd, _ := os.Getwd()
	root, err := ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "loopproto")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "bench", "loopproto")).CombinedOutput(); err != nil {
		t.Fatalf("build loopproto: %v\n%s", err, out)
	}
	p, err := ParseProxyCommand("lp=" + bin + " -design epoll -loops 1 -listen {listen} -nodes {nodes}")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse([]byte(`scenario: throughput
throughput:
  targets: [direct]
  warmup: 0s
  load: {duration: 200ms, keys: 500}
  connections: [2]
  multigets: [10]
  idle_connections: 50
`))
	if err != nil {
		t.Fatal(err)
	}
	e := testEnv(t, nil)
	e.Proxies = []ProxyCommand{p}
	rep := Run(context.Background(), e, []*Scenario{s})
	if r := rep.Results[0]; r.Error != "" {
		t.Fatal(r.Error)
	}
	tp := rep.Results[0].Throughput
	if len(tp.Idle) != 1 || tp.Idle[0].Target != "lp" || tp.Idle[0].Opened != 50 {
		t.Errorf("idle: got %+v; want 50 connections to lp", tp.Idle)
	}
	n := 0
	for _, pt := range tp.Points {
		if pt.Target != "lp" {
			continue
		}
		n++
		if pt.Ops == 0 || pt.Errors != 0 || pt.Cost == nil || pt.Cost.Syscalls <= 0 {
			t.Errorf("%s lp: got %d ops, %d errors, cost %+v; want ops, no errors, a cost", pt.Label, pt.Ops, pt.Errors, pt.Cost)
		}
	}
	if n != 2 {
		t.Errorf("lp points: got %d; want 2", n)
	}
	if e.Procs.Live() != 0 {
		t.Errorf("live processes after the run: got %d; want 0", e.Procs.Live())
	}
}
