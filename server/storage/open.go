package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// engine is what differs between SQLite and PostgreSQL. Queries are
// written once with '?' placeholders and rebound for PostgreSQL.
type engine struct {
	name   string // "sqlite" or "postgres": also the migrations directory
	dollar bool   // placeholders are $1, $2, ...
	// writeLock, run first in every write transaction, serialises writers
	// across processes and replicas. SQLite needs none: its transactions
	// are opened with BEGIN IMMEDIATE (see sqliteDSN).
	writeLock string
	// afterPosition is the condition "(xid, seq) after p" with its
	// arguments, in the form the engine answers from the audit_xid index
	// as a range: PostgreSQL reads every row before the position for the
	// OR form, SQLite for the row value (BenchmarkAuditAfterDeepInTheTrail).
	afterPosition func(p AuditPosition) (string, []any)
}

var (
	sqliteEngine = engine{name: "sqlite", afterPosition: func(p AuditPosition) (string, []any) {
		return "(xid > ? OR (xid = ? AND seq > ?))", []any{p.XID, p.XID, p.Seq}
	}}
	postgresEngine = engine{
		name:   "postgres",
		dollar: true,
		// Keyed by schema, so databases shared by several schemas (as the
		// tests do) do not serialise each other.
		writeLock: "SELECT pg_advisory_xact_lock(hashtext('alter-write:' || current_schema()))",
		afterPosition: func(p AuditPosition) (string, []any) {
			return "(xid, seq) > (?, ?)", []any{p.XID, p.Seq}
		},
	}
)

// Pool sizes. The pool has a ceiling so that no load (ten thousand parked
// long polls, a burst of resolves) can open more connections than the
// database allows: callers beyond it queue for a connection instead.
//
//   - SQLite: one writer at a time whatever the pool size (BEGIN IMMEDIATE),
//     and WAL readers are fast in-process reads; 8 connections keep both
//     CPUs of a small host busy. Each connection holds three file
//     descriptors (database, WAL, shared memory).
//   - PostgreSQL: 20 per replica leaves room for several replicas, the
//     listener connections and an operator under the default
//     max_connections of 100. Set with WithMaxConns (database_max_connections
//     in the server config).
const (
	DefaultSQLiteConns   = 8
	DefaultPostgresConns = 20
)

// maxIdleConns is how many pooled database connections stay open between
// requests (never more than the pool's ceiling).
const maxIdleConns = 16

// Option changes how Open sets up the database.
type Option func(*options)

type options struct {
	maxConns int
}

// WithMaxConns sets the connection pool's ceiling; n <= 0 keeps the
// engine's default (DefaultSQLiteConns, DefaultPostgresConns).
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// DB is a Storage backed by SQLite or PostgreSQL.
type DB struct {
	db     *sql.DB
	eng    engine
	sealer Sealer
	addr   string   // for the PostgreSQL listener's own connection; never logged
	macKey []byte   // the integrity key (integrity.go)
	wake   *watcher // the newest change number, for waiters (wait.go)
}

var _ Storage = (*DB)(nil)

// Open opens (creating if needed) the database at addr and applies any
// pending migrations. addr is "postgres://..." or "postgresql://..." for
// PostgreSQL, and "sqlite:///abs/path.db", "sqlite:rel/path.db" or a plain
// file path for SQLite. sealer seals secrets before they are written.
func Open(ctx context.Context, addr string, sealer Sealer, opts ...Option) (*DB, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if sealer == nil {
		return nil, errors.New("storage: no sealer: secrets must be sealed before they reach the database")
	}
	var (
		db       *sql.DB
		eng      engine
		err      error
		maxConns int
	)
	switch {
	case strings.HasPrefix(addr, "postgres://"), strings.HasPrefix(addr, "postgresql://"):
		eng, maxConns = postgresEngine, DefaultPostgresConns
		db, err = sql.Open("pgx", addr)
	default:
		eng, maxConns = sqliteEngine, DefaultSQLiteConns
		var dsn string
		if dsn, err = sqliteDSN(addr); err == nil {
			db, err = sql.Open("sqlite", dsn)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: %s", redact(err, addr))
	}
	// database/sql keeps 2 idle connections by default: under load a
	// server then closes and reopens connections all the time (844 new
	// PostgreSQL sessions in a 3 s resolve benchmark, SQLite spending 14% of
	// its CPU opening them). Keeping as many idle as a busy replica uses
	// doubled resolves/s on both engines (server/api BenchmarkSidecarResolve).
	if o.maxConns > 0 {
		maxConns = o.maxConns
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(min(maxIdleConns, maxConns))
	d := &DB{db: db, eng: eng, sealer: sealer, addr: addr, wake: newWatcher()}
	if err := connect(ctx, db, eng); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: connect to %s: %s", eng.name, redact(err, addr))
	}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := d.loadIntegrityKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the change watcher, if any (its waiters return an error
// wrapping ErrStoreUnavailable), and closes the connection pool.
func (d *DB) Close() error {
	d.wake.stop()
	return d.db.Close()
}

// Ping checks that the database answers (for readiness probes).
func (d *DB) Ping(ctx context.Context) error { return unavailable(d.db.PingContext(ctx)) }

// PoolStats are the connection pool's numbers (open, in use, waits), for
// metrics and tests.
func (d *DB) PoolStats() sql.DBStats { return d.db.Stats() }

// sqliteDSN turns an address into a modernc DSN. The file is created mode
// 0600 first: it holds sealed secrets and every grant's metadata, and
// SQLite would otherwise create it (and its WAL) with the umask's mode.
func sqliteDSN(addr string) (string, error) {
	path := addr
	if rest, ok := strings.CutPrefix(addr, "sqlite://"); ok {
		path = rest // sqlite:///abs -> /abs, sqlite://rel -> rel
	} else if rest, ok := strings.CutPrefix(addr, "sqlite:"); ok {
		path = rest
	} else if strings.Contains(addr, "://") {
		return "", fmt.Errorf("unsupported database address scheme in %q (want postgres:// or sqlite://)", schemeOf(addr))
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("sqlite path %q: empty or contains '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	f.Close()
	// WAL lets readers run beside the one writer; busy_timeout makes a
	// second process wait for the lock instead of failing; _txlock makes
	// every transaction BEGIN IMMEDIATE, so a read-check-write transaction
	// holds the write lock from its first read.
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode(), nil
}

// connect opens the first connection. A SQLite file that another process
// or replica is opening at the same moment (switching it to WAL) can answer
// SQLITE_BUSY at connect time without waiting for busy_timeout; that is
// retried for as long as busy_timeout would have waited (TestConcurrentOpen
// failed now and then on a loaded machine without it).
func connect(ctx context.Context, db *sql.DB, eng engine) error {
	deadline := time.Now().Add(sqliteBusyWait)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		if err == nil || eng.name != sqliteEngine.name || !sqliteBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// sqliteBusyWait is busy_timeout in the DSN below.
const sqliteBusyWait = 10 * time.Second

// sqliteBusy reports SQLITE_BUSY (primary code 5, in any extended form).
func sqliteBusy(err error) bool {
	var c interface{ Code() int }
	return errors.As(err, &c) && c.Code()&0xff == 5
}

func schemeOf(addr string) string {
	s, _, _ := strings.Cut(addr, "://")
	return s
}

// redact keeps a password in a PostgreSQL URL out of error text.
func redact(err error, addr string) string {
	msg := err.Error()
	if u, perr := url.Parse(addr); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// q rebinds a query written with '?' placeholders for the engine.
func (d *DB) q(query string) string {
	if !d.eng.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// write runs fn in a transaction holding the write lock, and commits if fn
// returns nil.
func (d *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := d.writeQuiet(ctx, fn); err != nil {
		return err
	}
	d.wake.poke() // local waiters need not wait for the next poll
	return nil
}

// writeQuiet is write without waking the change waiters: for writes that
// are no change a sidecar follows (counting rate-limited uses).
func (d *DB) writeQuiet(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if d.eng.writeLock != "" {
		if _, err := tx.ExecContext(ctx, d.eng.writeLock); err != nil {
			return unavailable(err)
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return unavailable(err)
	}
	return nil
}
