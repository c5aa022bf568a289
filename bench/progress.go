// Progress: the live line on stderr (elapsed, ops/s, errors) while a load runs.
package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// progress redraws one line every tick: in place on a terminal, as new
// lines (less often) elsewhere.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	rec   *recorder
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startProgress shows rec's totals under label until the returned func runs.
func (e *Env) startProgress(label string, rec *recorder) func() {
	if e.progressW == nil {
		return func() {}
	}
	p := &progress{w: e.progressW, tty: isTerminal(e.progressW), label: label, rec: rec, start: time.Now(), stop: make(chan struct{})}
	p.wg.Go(p.run)
	return func() {
		close(p.stop)
		p.wg.Wait()
	}
}

func (p *progress) run() {
	tick := time.Second
	if p.tty {
		tick = 250 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	lastOps, last := int64(0), p.start
	for {
		select {
		case <-p.stop:
			p.line(lastOps, last, true)
			return
		case <-t.C:
			lastOps, last = p.line(lastOps, last, false)
		}
	}
}

// line prints one update and returns the totals it was based on.
func (p *progress) line(lastOps int64, last time.Time, final bool) (int64, time.Time) {
	now := time.Now()
	ops, errs := p.rec.ops.Load(), p.rec.errs.Load()
	rate := ratio(float64(ops-lastOps), now.Sub(last).Seconds())
	if final {
		rate = ratio(float64(ops), now.Sub(p.start).Seconds())
	}
	text := progressText(p.label, now.Sub(p.start), rate, ops, errs)
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r\033[K%s\n", text)
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", text)
	default:
		fmt.Fprintln(p.w, text)
	}
	return ops, now
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressWidth keeps the line inside an 80-column terminal: a longer line
// wraps, and "\r" then returns only to the start of its last row, so each
// redraw would leave a row behind instead of drawing in place.
const progressWidth = 79

// progressText is one progress line, at most progressWidth runes.
func progressText(label string, elapsed time.Duration, rate float64, ops, errs int64) string {
	nums := fmt.Sprintf(" %6.1fs %9.0f ops/s %10d ops %d err", elapsed.Seconds(), rate, ops, errs)
	room := max(progressWidth-utf8.RuneCountInString(nums), 8)
	if r := []rune(label); len(r) > room {
		label = string(r[:room-1]) + "…"
	}
	text := fmt.Sprintf("%-*s%s", room, label, nums)
	if r := []rune(text); len(r) > progressWidth {
		text = string(r[:progressWidth])
	}
	return text
}
