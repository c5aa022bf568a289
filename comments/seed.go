// Seed: bulk-generated forums, users, threads with Zipf popularity and
// posts with reply trees, inserted in multi-row batches inside large
// transactions on one connection.

package comments

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// SeedOptions says what to generate. Zero fields mean the default beside them.
type SeedOptions struct {
	Posts    int     // required
	Forums   int     // default 10
	Threads  int     // default Posts/100 (at least 1)
	Users    int     // default Posts/20 (at least 1)
	Zipf     float64 // thread popularity exponent, > 1; default 1.1
	Replies  float64 // share of posts that reply to an earlier post; default 0.5
	Seed     uint64  // random seed; default 1
	Progress func(posts int)
}

// SeedReport says what Seed inserted and how long it took.
type SeedReport struct {
	Forums, Threads, Users, Posts int
	Elapsed                       time.Duration
}

const (
	seedBatch   = 1000  // rows per INSERT
	seedTxPosts = 50000 // posts per transaction
)

func (o *SeedOptions) defaults() error {
	if o.Posts <= 0 {
		return fmt.Errorf("%w: seed needs --posts > 0", ErrInvalid)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = max(d, 1)
		}
	}
	def(&o.Forums, 10)
	def(&o.Threads, o.Posts/100)
	def(&o.Users, o.Posts/20)
	if o.Zipf <= 1 {
		o.Zipf = 1.1
	}
	if o.Replies <= 0 {
		o.Replies = 0.5
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return nil
}

// seeder holds one seeding run's state.
type seeder struct {
	opts  SeedOptions
	st    *Store
	c     *sql.Conn
	rng   *rand.Rand
	base  map[string]int64 // table → largest id before seeding
	start time.Time        // created time of the first post
}

// Seed adds generated data next to whatever the database holds.
func (st *Store) Seed(ctx context.Context, opts SeedOptions) (SeedReport, error) {
	began := time.Now()
	if err := opts.defaults(); err != nil {
		return SeedReport{}, err
	}
	c, err := st.db.Conn(ctx)
	if err != nil {
		return SeedReport{}, fmt.Errorf("comments: seed: %w", err)
	}
	defer c.Close()
	defer st.untune(c)
	s := &seeder{opts: opts, st: st, c: c, rng: rand.New(rand.NewPCG(opts.Seed, 0x5eed)), base: map[string]int64{}}
	s.start = time.Now().Add(-365 * 24 * time.Hour)
	if err := s.run(ctx); err != nil {
		return SeedReport{}, fmt.Errorf("comments: seed: %w", err)
	}
	return SeedReport{Forums: opts.Forums, Threads: opts.Threads, Users: opts.Users, Posts: opts.Posts, Elapsed: time.Since(began)}, nil
}

func (s *seeder) run(ctx context.Context) error {
	if err := s.prepare(ctx); err != nil {
		return err
	}
	assign, counts := s.assign()
	steps := []func(context.Context) error{
		s.forums,
		s.users,
		func(ctx context.Context) error { return s.threads(ctx, counts) },
		func(ctx context.Context) error { return s.posts(ctx, assign, counts) },
		s.finish,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// prepare tunes the connection for bulk loading and reads the id bases.
func (s *seeder) prepare(ctx context.Context) error {
	tune := []string{`PRAGMA synchronous = OFF`, `PRAGMA foreign_keys = OFF`}
	if s.st.dialect == postgresDialect {
		tune = []string{`SET synchronous_commit = off`}
	}
	for _, q := range tune {
		if _, err := s.c.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if s.st.dialect == postgresDialect {
		// Skip the per-row foreign key triggers (4x faster; the rows are
		// consistent by construction). Superuser only: otherwise keep them.
		s.c.ExecContext(ctx, `SET session_replication_role = replica`)
	}
	for _, t := range []string{"forums", "users", "threads", "posts"} {
		var n sql.NullInt64
		if err := s.c.QueryRowContext(ctx, `SELECT MAX(id) FROM `+t).Scan(&n); err != nil {
			return err
		}
		s.base[t] = n.Int64
	}
	return nil
}

// untune puts the connection back as the pool configures it.
func (st *Store) untune(c *sql.Conn) {
	reset := []string{`PRAGMA synchronous = NORMAL`, `PRAGMA foreign_keys = ON`}
	if st.dialect == postgresDialect {
		reset = []string{`RESET synchronous_commit`, `RESET session_replication_role`}
	}
	for _, q := range reset {
		c.ExecContext(context.Background(), q)
	}
}

// assign picks each post's thread with Zipf popularity (the popular
// threads scattered over the ids) and counts posts per thread.
func (s *seeder) assign() (assign []int32, counts []int64) {
	T := s.opts.Threads
	perm := s.rng.Perm(T)
	counts = make([]int64, T)
	assign = make([]int32, s.opts.Posts)
	z := rand.NewZipf(s.rng, s.opts.Zipf, 1, uint64(T-1))
	for i := range assign {
		t := perm[z.Uint64()]
		assign[i] = int32(t)
		counts[t]++
	}
	return assign, counts
}

func (s *seeder) forums(ctx context.Context) error {
	now := micros(time.Now())
	return s.insertAll(ctx, "forums", []string{"id", "slug", "name", "moderated", "created"}, s.opts.Forums, func(i int) []any {
		id := s.base["forums"] + int64(i) + 1
		return []any{id, fmt.Sprintf("seed-%d", id), fmt.Sprintf("Seeded forum %d", id), false, now}
	})
}

func (s *seeder) users(ctx context.Context) error {
	now := micros(s.start)
	return s.insertAll(ctx, "users", []string{"id", "name", "created"}, s.opts.Users, func(i int) []any {
		id := s.base["users"] + int64(i) + 1
		return []any{id, fmt.Sprintf("%s%d", seedNames[i%len(seedNames)], id), now}
	})
}

func (s *seeder) threads(ctx context.Context, counts []int64) error {
	now := micros(s.start)
	cols := []string{"id", "forum_id", "slug", "url", "title", "post_count", "gen", "created"}
	return s.insertAll(ctx, "threads", cols, s.opts.Threads, func(i int) []any {
		id := s.base["threads"] + int64(i) + 1
		forum := s.base["forums"] + int64(i%s.opts.Forums) + 1
		slug := fmt.Sprintf("t-%d", id)
		return []any{id, forum, slug, "https://example.com/" + slug, s.words(3, 9), counts[i], counts[i], now}
	})
}

// posts inserts the posts in id order, seedTxPosts per transaction. A
// post replies, with probability Replies, to a random earlier post of its
// thread, which grows reply trees.
func (s *seeder) posts(ctx context.Context, assign []int32, counts []int64) error {
	byThread := make([][]int64, len(counts))
	cols := []string{"id", "thread_id", "parent_id", "parent_author", "author_id", "message", "created", "approved", "deleted"}
	authorOf := make([]int64, len(assign)) // by post index
	step := int64(365*24*time.Hour/time.Microsecond) / int64(len(assign))
	row := func(i int) []any {
		id := s.base["posts"] + int64(i) + 1
		t := assign[i]
		var parent any
		var parentAuthor int64
		if prev := byThread[t]; len(prev) > 0 && s.rng.Float64() < s.opts.Replies {
			pid := prev[s.rng.IntN(len(prev))]
			parent, parentAuthor = pid, authorOf[pid-s.base["posts"]-1]
		}
		byThread[t] = append(byThread[t], id)
		author := s.base["users"] + int64(s.rng.IntN(s.opts.Users)) + 1
		authorOf[i] = author
		return []any{id, s.base["threads"] + int64(t) + 1, parent, parentAuthor, author, s.words(4, 60), micros(s.start) + int64(i)*step, true, false}
	}
	for done := 0; done < len(assign); done += seedTxPosts {
		n := min(seedTxPosts, len(assign)-done)
		err := s.insertAll(ctx, "posts", cols, n, func(i int) []any { return row(done + i) })
		if err != nil {
			return err
		}
		if s.opts.Progress != nil {
			s.opts.Progress(done + n)
		}
	}
	return nil
}

// finish moves PostgreSQL's id sequences past the explicit ids and
// refreshes planner statistics.
func (s *seeder) finish(ctx context.Context) error {
	var stmts []string
	if s.st.dialect == postgresDialect {
		for _, t := range []string{"forums", "users", "threads", "posts"} {
			stmts = append(stmts, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT MAX(id) FROM %[1]s))`, t))
		}
	}
	stmts = append(stmts, `ANALYZE`)
	if s.st.dialect == sqliteDialect {
		stmts = append(stmts, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	for _, q := range stmts {
		if _, err := s.c.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// insertAll inserts n generated rows: on PostgreSQL with one COPY, on
// SQLite in one transaction of multi-row INSERTs, seedBatch per statement.
func (s *seeder) insertAll(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	if s.st.dialect == postgresDialect {
		return s.copyAll(ctx, table, cols, n, row)
	}
	tx, err := s.c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for lo := 0; lo < n; lo += seedBatch {
		hi := min(lo+seedBatch, n)
		args := make([]any, 0, (hi-lo)*len(cols))
		for i := lo; i < hi; i++ {
			args = append(args, row(i)...)
		}
		if _, err := tx.ExecContext(ctx, s.insertSQL(table, cols, hi-lo), args...); err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	return tx.Commit()
}

// copyAll streams n rows into table with PostgreSQL's COPY.
func (s *seeder) copyAll(ctx context.Context, table string, cols []string, n int, row func(i int) []any) error {
	return s.c.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("copy into %s: driver connection is %T, not pgx", table, dc)
		}
		_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return row(i), nil
		}))
		if err != nil {
			return fmt.Errorf("copy into %s: %w", table, err)
		}
		return nil
	})
}

// insertSQL is INSERT INTO table (cols) VALUES (?,..),(?,..)... for rows rows.
func (s *seeder) insertSQL(table string, cols []string, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
	return conn{dialect: s.st.dialect}.rebind(q)
}

// words makes a sentence of lo to hi words.
func (s *seeder) words(lo, hi int) string {
	n := lo + s.rng.IntN(hi-lo+1)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(seedWords[s.rng.IntN(len(seedWords))])
	}
	b.WriteByte('.')
	out := b.String()
	return strings.ToUpper(out[:1]) + out[1:]
}

var seedNames = []string{"ada", "alan", "barbara", "dennis", "edsger", "frances", "grace", "ken", "linus", "margaret", "radia", "rob", "sophie", "tim"}

var seedWords = strings.Fields(`the a cache proxy memcached herd stale lease thread post reply server
	fleet node ring hash ketama latency p99 database query index page order newest oldest
	write read invalidate fill origin sidecar pool timeout retry probe eject gutter spool
	comment forum user moderation approve edit delete count atomic transaction commit
	i think this is great but not sure why it works actually yes no maybe agree disagree
	benchmark numbers look good bad fast slow interesting point link source docs bug fix`)
