package proxy

import (
	"testing"
	"time"
)

func TestLogEvery(t *testing.T) {
	l := logEvery{period: time.Second}
	t0 := time.Unix(1000, 0)
	if ok, held := l.allow(t0); !ok || held != 0 {
		t.Fatalf("first line: got %v, %d held; want it through, 0 held", ok, held)
	}
	for i := 1; i <= 99; i++ {
		if ok, _ := l.allow(t0.Add(time.Duration(i) * 10 * time.Millisecond)); ok {
			t.Fatalf("line %d within the period went through", i)
		}
	}
	if ok, held := l.allow(t0.Add(time.Second)); !ok || held != 99 {
		t.Fatalf("after the period: got %v, %d held; want it through, 99 held", ok, held)
	}
	if ok, held := l.allow(t0.Add(2500 * time.Millisecond)); !ok || held != 0 {
		t.Fatalf("a quiet period later: got %v, %d held; want it through, 0 held", ok, held)
	}
}
