// Scenario tests: every shipped file parses; bad files fail with the key
// named; defaults and overrides land where they should.
package bench

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShippedScenariosParse(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("scenarios/*.yaml")
	if len(files) < 5 {
		t.Fatalf("scenarios: got %d files; want at least 5", len(files))
	}
	kinds := map[string]bool{}
	for _, f := range files {
		s, err := ParseFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		kinds[s.Kind] = true
	}
	for _, k := range Kinds {
		if !kinds[k] {
			t.Errorf("no shipped scenario of kind %s", k)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown kind", "scenario: nope\n", `"nope" is not one of`},
		{"unknown key", "scenario: herd\nherd:\n  clients: 4\n  bogus: 1\n", "bogus"},
		{"other section", "scenario: herd\nfailover:\n  clients: 4\n", "has a failover: section"},
		{"too many clients", "scenario: herd\nherd:\n  clients: 100000\n", "herd.clients"},
		{"bad duration", "scenario: throughput\nthroughput:\n  load:\n    duration: forever\n", "time.Duration"},
		{"zipf one", "scenario: throughput\nthroughput:\n  load:\n    zipf: 1\n", "zipf"},
		{"rate without rate", "scenario: throughput\nthroughput:\n  load:\n    mode: rate\n", "rate"},
		{"return before fault", "scenario: failover\nfailover:\n  fault_at: 5s\n  return_at: 1s\n", "return_at"},
		{"one node failover", "scenario: failover\nnodes: 1\n", "at least 2 nodes"},
		{"bad variant", "scenario: failover\nfailover:\n  variants: [melt]\n", `"melt"`},
		{"invalidate after end", "scenario: herd\nherd:\n  duration: 1s\n  invalidate: [2s]\n", "herd.invalidate"},
		{"comments writes over 1", "scenario: comments\ncomments:\n  writes: 1.5\n", "comments.writes"},
		{"comments negative edits", "scenario: comments\ncomments:\n  edits: -0.1\n", "comments.edits"},
		{"comments uniform zipf", "scenario: comments\ncomments:\n  zipf: 1\n", "comments.zipf"},
		{"comments few posts", "scenario: comments\ncomments:\n  posts: 10\n", "comments.posts"},
		{"comments deep pages", "scenario: comments\ncomments:\n  pages: 5000\n", "comments.pages"},
		{"comments unknown key", "scenario: comments\ncomments:\n  binary: /bin/true\n", "binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want an error containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrScenario) {
				t.Fatalf("got %v; want errors.Is ErrScenario", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte("scenario: herd\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := s.Herd
	if s.Name != "herd" || s.Nodes != 3 || h.Clients != 400 || h.Shepherds != 4 || len(h.Modes) != 3 {
		t.Fatalf("defaults: got name %q nodes %d clients %d shepherds %d modes %v; want herd 3 400 4 [off on origin]",
			s.Name, s.Nodes, h.Clients, h.Shepherds, h.Modes)
	}
	if s.Pool.Timeout != 250*time.Millisecond || s.Pool.FailureLimit != 2 || s.Pool.OnEject != "rehash" {
		t.Fatalf("pool defaults: got %+v", s.Pool)
	}
	tp, err := Parse([]byte("scenario: throughput\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tp.Throughput.points()); got != 5 {
		t.Fatalf("throughput points: got %d; want 5 (c=1, c=8, c=32, mget=100, mget=1000)", got)
	}
}

func TestCommentsDefaultsAndShares(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte("scenario: comments\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Comments
	if c.Posts != 20000 || c.Clients != 8 || c.Duration != 8*time.Second || c.Warmup != 0 || c.Threads != 200 || c.Pages != 3 || c.PageSize != 50 || c.Plain {
		t.Fatalf("defaults: got %+v; want 20000 posts, 8 clients, 8s, no warm-up, 200 threads, 3 pages of 50, herd rule", c)
	}
	if *c.Writes != 0.05 || *c.Edits != 0.3 || *c.Oldest != 0.3 {
		t.Fatalf("default shares: got writes %v edits %v oldest %v; want 0.05 0.3 0.3", *c.Writes, *c.Edits, *c.Oldest)
	}
	// 0 is a share, not "the default".
	s, err = Parse([]byte("scenario: comments\ncomments:\n  writes: 0\n  oldest: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *s.Comments.Writes != 0 || *s.Comments.Oldest != 0 {
		t.Fatalf("explicit 0: got writes %v oldest %v; want 0 0", *s.Comments.Writes, *s.Comments.Oldest)
	}
	zero, zipf := 0.0, 1.3
	if err := s.Apply(Overrides{Posts: 5000, Writes: &zero, Zipf: &zipf, Clients: 3, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	if c := s.Comments; c.Posts != 5000 || *c.Writes != 0 || c.Zipf != 1.3 || c.Clients != 3 || c.Duration != time.Second {
		t.Fatalf("overrides: got posts %d writes %v zipf %v clients %d duration %v; want 5000 0 1.3 3 1s", c.Posts, *c.Writes, c.Zipf, c.Clients, c.Duration)
	}
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte("scenario: failover\nfailover:\n  duration: 10s\n  fault_at: 1s\n  return_at: 6s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(Overrides{Duration: 2 * time.Second, Clients: 7, Variants: []string{FaultKill}}); err != nil {
		t.Fatal(err)
	}
	f := s.Failover
	if f.Duration != 2*time.Second || f.FaultAt != 200*time.Millisecond || f.ReturnAt != 1200*time.Millisecond {
		t.Fatalf("scaled times: got %v %v %v; want 2s 200ms 1.2s", f.Duration, f.FaultAt, f.ReturnAt)
	}
	if f.Clients != 7 || len(f.Variants) != 1 || f.Variants[0] != FaultKill {
		t.Fatalf("clients/variants: got %d %v; want 7 [kill]", f.Clients, f.Variants)
	}
	zero := 0.0
	tp, _ := Parse([]byte("scenario: throughput\nthroughput:\n  load:\n    zipf: 1.2\n"))
	if err := tp.Apply(Overrides{Zipf: &zero, Rate: 1000, Connections: []int{3}}); err != nil {
		t.Fatal(err)
	}
	if l := tp.Throughput.Load; l.Zipf != 0 || l.Mode != "rate" || l.Rate != 1000 || tp.Throughput.Connections[0] != 3 {
		t.Fatalf("throughput overrides: got %+v %v", l, tp.Throughput.Connections)
	}
	if err := tp.Apply(Overrides{Connections: []int{0}}); err == nil {
		t.Fatal("connections 0: got no error; want one")
	}
}

func TestGetRatioZeroMeansZero(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte("scenario: throughput\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := *s.Throughput.Load.GetRatio; got != 0.9 {
		t.Fatalf("default get_ratio: got %v; want 0.9", got)
	}
	if err := s.Apply(Overrides{GetRatio: ptrTo(0.0)}); err != nil {
		t.Fatal(err)
	}
	if got := *s.Throughput.Load.GetRatio; got != 0 {
		t.Fatalf("--get-ratio 0: got %v; want 0", got)
	}
	s, err = Parse([]byte("scenario: throughput\nthroughput:\n  load: {get_ratio: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := *s.Throughput.Load.GetRatio; got != 0 {
		t.Fatalf("get_ratio: 0 in the file: got %v; want 0", got)
	}
}
