// Queue: an in-process delayed-work queue for low-priority side effects
// (notifications, retried invalidations) that must run after a commit and
// never inside a request's transaction.

package comments

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultQueueLimit bounds the jobs a Queue holds when NewQueue gets 0.
const DefaultQueueLimit = 10000

// jobTimeout bounds one job.
const jobTimeout = 10 * time.Second

// Queue runs jobs after a delay on one background goroutine. It is safe
// for concurrent use; create it with NewQueue and stop it with Close.
type Queue struct {
	log  *slog.Logger
	max  int
	wake chan struct{}
	done chan struct{}

	mu      sync.Mutex // guards the fields below
	jobs    jobHeap
	seq     int64
	running int
	closed  bool
}

type job struct {
	due  time.Time
	seq  int64
	name string
	fn   func(context.Context) error
}

// NewQueue starts a queue holding at most max jobs (0: DefaultQueueLimit).
func NewQueue(log *slog.Logger, max int) *Queue {
	if max <= 0 {
		max = DefaultQueueLimit
	}
	q := &Queue{log: log, max: max, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go q.worker()
	return q
}

// After schedules fn to run d from now. It reports false, and drops the
// job, when the queue is full or closed: the work is low priority by
// definition, and a request never waits for room.
func (q *Queue) After(d time.Duration, name string, fn func(context.Context) error) bool {
	q.mu.Lock()
	if q.closed || len(q.jobs) >= q.max {
		q.mu.Unlock()
		q.log.Warn("comments: delayed work dropped", "job", name)
		return false
	}
	q.seq++
	heap.Push(&q.jobs, &job{due: time.Now().Add(d), seq: q.seq, name: name, fn: fn})
	q.mu.Unlock()
	q.poke()
	return true
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Close runs the jobs still queued, at once, and stops the worker.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.poke()
	<-q.done
}

// Drain waits until no job due within d is queued or running.
func (q *Queue) Drain(d time.Duration) {
	for q.pending(time.Now().Add(d)) {
		time.Sleep(2 * time.Millisecond)
	}
}

func (q *Queue) pending(before time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running > 0 || (len(q.jobs) > 0 && !q.jobs[0].due.After(before))
}

// worker is the queue's one goroutine.
func (q *Queue) worker() {
	defer close(q.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		j, wait, ok := q.next()
		if !ok {
			return
		}
		if j == nil {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-q.wake:
			}
			continue
		}
		q.run(j)
	}
}

// next pops a due job, or says how long to wait for one; ok is false once
// the queue is closed and empty.
func (q *Queue) next() (j *job, wait time.Duration, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) == 0 {
		return nil, time.Hour, !q.closed
	}
	if wait = time.Until(q.jobs[0].due); wait > 0 && !q.closed {
		return nil, wait, true
	}
	q.running++
	return heap.Pop(&q.jobs).(*job), 0, true
}

func (q *Queue) run(j *job) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("comments: delayed work panicked", "job", j.name, "panic", r)
		}
		q.mu.Lock()
		q.running--
		q.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	if err := j.fn(ctx); err != nil {
		q.log.Warn("comments: delayed work failed", "job", j.name, "err", err)
	}
}

// jobHeap orders jobs by due time, then by arrival.
type jobHeap []*job

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h jobHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)   { *h = append(*h, x.(*job)) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	return j
}
