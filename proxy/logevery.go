package proxy

import (
	"sync"
	"time"
)

// logEvery lets one log line of a kind through per period, so that what
// a stranger can trigger at will (a port scanner failing TLS handshakes)
// cannot flood the log. The line that passes says how many were held
// back since the last one; the metric beside it counts every event.
type logEvery struct {
	period time.Duration

	mu   sync.Mutex // guards next, held
	next time.Time
	held int
}

// allow reports whether a line may be logged at now, and how many lines
// were held back before it.
func (l *logEvery) allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.held++
		return false, 0
	}
	held, l.held = l.held, 0
	l.next = now.Add(l.period)
	return true, held
}
