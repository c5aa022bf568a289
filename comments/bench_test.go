// Benchmarks of the read path (whole-system load lives in bench.sh).

package comments

import (
	"context"
	"testing"
)

var sinkPage *Page

// BenchmarkWarmPage reads a warm 50-post page through shepherd.
func BenchmarkWarmPage(b *testing.B) {
	e := newEnv(b, "sqlite", Options{})
	th := e.thread(b, "bench")
	e.fill(b, th.ID, 60, 20)
	ctx := context.Background()
	if _, err := e.svc.ThreadPage(ctx, th.ID, 1, Newest, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := e.svc.ThreadPage(ctx, th.ID, 1, Newest, 0)
		if err != nil {
			b.Fatal(err)
		}
		sinkPage = p
	}
}
