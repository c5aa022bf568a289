// Package comments is shepherd's bundled comment service: forums, threads,
// posts and users in SQLite or PostgreSQL, read through shepherd with an
// ordinary memcached client, served as a JSON API and an embeddable widget.
//
// The read path of a thread page costs three cache requests when warm (the
// thread and its page of post ids, the posts, their authors) and at most
// three batched queries when cold. Writes commit first and then invalidate
// with plain deletes. See README.md for the cache design.
package comments

import (
	"errors"
	"log/slog"
	"time"
)

// Errors returned by Service methods; the HTTP layer maps them to statuses.
var (
	ErrNotFound = errors.New("comments: not found")
	ErrInvalid  = errors.New("comments: invalid request")
)

// DefaultPageSize is the number of posts on a thread page when
// Options.PageSize is zero.
const DefaultPageSize = 50

// maxReplay bounds the replay cache: used login tokens remembered at once
// (about 100 bytes each, each for at most maxTokenLife).
const maxReplay = 100000

// Options configures a Service. Zero fields mean the default noted beside them.
type Options struct {
	Store    *Store       // required
	Cache    *Cache       // nil: every read goes to the database
	PageSize int          // posts per page; default 50
	Logger   *slog.Logger // default slog.Default()
	Now      func() time.Time

	// HerdFills says shepherd's herd rules cover the thread: keys, so
	// shepherd grants fill leases (its meta-protocol wins) and guards a
	// winner's set with the win's CAS: fills are then plain sets. When
	// false (plain memcached, or no herd rule for thread:), the service
	// takes its own leases with add/gets/cas.
	HerdFills bool

	// Keys are the single sign-on secrets. nil: no site can sign users
	// in (everyone posts as a guest) and sessions are signed with a key
	// random to this process.
	Keys *Keys
}

// Service is the comment service. It is safe for concurrent use; create it
// with New and stop its background queue with Close.
type Service struct {
	store     *Store
	cache     *Cache
	pageSize  int
	herdFills bool
	log       *slog.Logger
	now       func() time.Time
	queue     *Queue
	keys      Keys
	replay    *replayCache
	metrics   *metrics
}

// New returns a Service over opts.Store (already migrated, see Store.Migrate).
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("comments: Options.Store is required")
	}
	s := &Service{store: opts.Store, cache: opts.Cache, pageSize: opts.PageSize, herdFills: opts.HerdFills, log: opts.Logger, now: opts.Now}
	if s.pageSize <= 0 {
		s.pageSize = DefaultPageSize
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Keys != nil {
		s.keys = *opts.Keys
	}
	if s.keys.Session == nil {
		s.keys.Session = randomKey()
	}
	s.replay = newReplayCache(maxReplay)
	s.metrics = newMetrics()
	s.queue = NewQueue(s.log, 0)
	return s, nil
}

// Close stops the delayed-work queue after running the work already due.
// It does not close the Store or the Cache.
func (s *Service) Close() { s.queue.Close() }

// Drain waits until the delayed-work queue holds no work due within d;
// tests use it to observe side effects.
func (s *Service) Drain(d time.Duration) { s.queue.Drain(d) }
