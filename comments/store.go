// Store: the database handle, its dialect, and the one place every SQL
// statement passes through (where it is counted and timed).

package comments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// dialect is the SQL flavour of a Store.
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

// Store is the service's database: SQLite or PostgreSQL. It is safe for
// concurrent use. Create it with Open; its zero value is not usable.
type Store struct {
	db      *sql.DB
	dialect dialect
	name    string // what String says: the database, without a password
}

// Open connects to dsn: "postgres://..." or "postgresql://..." for
// PostgreSQL, "sqlite:PATH" or a bare PATH for SQLite. It does not migrate;
// call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	st, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := st.db.PingContext(ctx); err != nil {
		st.db.Close()
		return nil, fmt.Errorf("comments: connect: %w", err)
	}
	return st, nil
}

func open(dsn string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("comments: open postgres: %w", err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		return &Store{db: db, dialect: postgresDialect, name: redactDSN(dsn)}, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("comments: sqlite needs a file path (several connections share it): %w", ErrInvalid)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("comments: open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	return &Store{db: db, dialect: sqliteDialect, name: "sqlite:" + path}, nil
}

// redactDSN is a postgres:// URL without its password (in the user part
// or a password= parameter).
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// String names the database for logs: sqlite:PATH or the postgres:// URL
// with any password masked.
func (st *Store) String() string { return st.name }

// sqliteDSN: WAL so readers never wait for the writer, a busy timeout so
// writers queue instead of failing, and immediate transactions so a
// transaction takes the write lock at BEGIN (no deadlocked lock upgrades).
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
}

// Close closes the database.
func (st *Store) Close() error { return st.db.Close() }

// Postgres reports whether the store is PostgreSQL.
func (st *Store) Postgres() bool { return st.dialect == postgresDialect }

// DB returns the underlying handle, for tests and tools. Statements sent
// through it are not counted.
func (st *Store) DB() *sql.DB { return st.db }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// conn sends statements over q (the pool or one transaction), counting
// each in the context's Stats.
type conn struct {
	q       querier
	dialect dialect
}

func (st *Store) conn() conn { return conn{q: st.db, dialect: st.dialect} }

// each runs a query and calls scan for every row.
func (c conn) each(ctx context.Context, query string, args []any, scan func(*sql.Rows) error) error {
	query = c.rebind(query)
	start := time.Now()
	defer func() { statsFrom(ctx).addQuery(query, time.Since(start)) }()
	rows, err := c.q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("comments: query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("comments: scan: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("comments: rows: %w", err)
	}
	return nil
}

// one runs a query expected to return at most one row into dest;
// ErrNotFound when it returns none.
func (c conn) one(ctx context.Context, query string, args []any, dest ...any) error {
	found := false
	err := c.each(ctx, query, args, func(r *sql.Rows) error {
		found = true
		return r.Scan(dest...)
	})
	if err == nil && !found {
		return ErrNotFound
	}
	return err
}

// exec runs a statement and returns the rows it affected.
func (c conn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	query = c.rebind(query)
	start := time.Now()
	defer func() { statsFrom(ctx).addQuery(query, time.Since(start)) }()
	res, err := c.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("comments: exec: %w", err)
	}
	return res.RowsAffected()
}

// rebind turns ? placeholders into PostgreSQL's $1, $2, ...
func (c conn) rebind(query string) string {
	if c.dialect != postgresDialect || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		b.WriteString("$" + strconv.Itoa(n))
	}
	return b.String()
}

// tx runs fn in one transaction, counted as BEGIN, fn's statements and
// COMMIT (or ROLLBACK when fn fails).
func (st *Store) tx(ctx context.Context, fn func(c conn) error) (err error) {
	begin := time.Now()
	t, err := st.db.BeginTx(ctx, nil)
	statsFrom(ctx).addQuery("BEGIN", time.Since(begin))
	if err != nil {
		return fmt.Errorf("comments: begin: %w", err)
	}
	if err := fn(conn{q: t, dialect: st.dialect}); err != nil {
		start := time.Now()
		rbErr := t.Rollback()
		statsFrom(ctx).addQuery("ROLLBACK", time.Since(start))
		return errors.Join(err, ignoreDone(rbErr))
	}
	start := time.Now()
	err = t.Commit()
	statsFrom(ctx).addQuery("COMMIT", time.Since(start))
	if err != nil {
		return fmt.Errorf("comments: commit: %w", err)
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// micros and fromMicros convert timestamps to and from the BIGINT
// microseconds both databases store.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// inList returns "?,?,?" for n placeholders and ids as arguments.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(ids)), ","), args
}
