// Tests of the command line: usage, seed, and serve start to stop.

package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 {
		t.Errorf("no arguments: got exit %d; want 2", code)
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("unknown command: got exit %d; want 2", code)
	}
	if code := run(context.Background(), []string{"seed", "--bogus"}, &out, &errb); code != 2 {
		t.Errorf("unknown flag: got exit %d; want 2", code)
	}
	if code := run(context.Background(), []string{"seed", "--db", "sqlite:" + filepath.Join(t.TempDir(), "x.db")}, &out, &errb); code != 1 {
		t.Errorf("seed without --posts: got exit %d; want 1", code)
	}
}

func TestSeedAndTop(t *testing.T) {
	t.Parallel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"seed", "--posts", "500", "--db", db}, &out, &errb); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "500 posts") || !strings.Contains(out.String(), "database size") {
		t.Errorf("seed output: got %q; want the counts and the size", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"top", "--n", "3", "--db", db}, &out, &errb); code != 0 {
		t.Fatalf("top: exit %d: %s", code, errb.String())
	}
	if got := strings.Fields(out.String()); len(got) != 3 {
		t.Errorf("top --n 3: got %q; want 3 ids", out.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while serve writes it.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeStartsAndStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	args := []string{"serve", "--listen", "127.0.0.1:0", "--memcache", "off", "--db", db}
	go func() { done <- run(ctx, args, out, logs) }()
	url := waitListening(t, out)
	if want := "db=" + db; !strings.Contains(logs.String(), want) {
		t.Errorf("startup log: got %q; want it to name the database (%s)", logs.String(), want)
	}
	resp, err := http.Get(url + "/api/forums")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-DB-Queries") != "1" {
		t.Errorf("GET /api/forums: got %d with X-DB-Queries %q; want 200, 1", resp.StatusCode, resp.Header.Get("X-DB-Queries"))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve after cancel: got exit %d; want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of cancel")
	}
}

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

func waitListening(t *testing.T, out *syncBuffer) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("serve printed no address: %q", out.String())
	return ""
}
