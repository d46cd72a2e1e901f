package storage

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/secretstore"
)

// Migrations are numbered SQL files per engine (migrations/ENGINE/NNNN_name.sql),
// applied in order, each in its own transaction together with its row in
// schema_migrations, so a crash leaves either all of a migration or none.
// A migration, once released, is never edited: a change is a new file.

//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the engine's migrations in order.
func migrations(engine string) ([]migration, error) {
	dir := path.Join("migrations", engine)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", e.Name())
		}
		body, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := range out {
		if out[i].version != i+1 {
			return nil, fmt.Errorf("migrations for %s: version %d where %d was expected", engine, out[i].version, i+1)
		}
	}
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at BIGINT  NOT NULL
)`

// migrate applies pending migrations. On PostgreSQL several replicas may
// start at once: a session advisory lock on one connection makes them take
// turns, and each re-reads what is applied once it holds the lock. On
// SQLite the BEGIN IMMEDIATE transactions do the same across processes.
func (d *DB) migrate(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("storage: migrate %s schema: %w", d.eng.name, err)
		}
	}()
	ms, err := migrations(d.eng.name)
	if err != nil {
		return err
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if d.eng.name == postgresEngine.name {
		const key = "hashtext('alter-migrate:' || current_schema())"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
			return err
		}
		defer func() {
			// Unlock on a fresh context: ctx may be what failed. If unlocking
			// fails, drop the connection so the pool never hands out a
			// connection still holding the lock (closing the session frees it).
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, uerr := conn.ExecContext(uctx, "SELECT pg_advisory_unlock("+key+")"); uerr != nil {
				_ = conn.Raw(func(any) error { return errors.New("drop connection") })
			}
		}()
	}
	if _, err := conn.ExecContext(ctx, createMigrationsTable); err != nil {
		return err
	}
	for _, m := range ms {
		if err := d.apply(ctx, conn, m, len(ms)); err != nil {
			return fmt.Errorf("%04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

// apply runs one migration unless it is already applied. It also refuses a
// database migrated by a newer alter: old code on a newer schema could
// write rows the newer code misreads.
func (d *DB) apply(ctx context.Context, conn *sql.Conn, m migration, known int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	var newest sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&newest); err != nil {
		return err
	}
	if newest.Int64 > int64(known) {
		return fmt.Errorf("%w: the database is at schema version %d, this alter knows %d: upgrade alter",
			secretstore.ErrStoreUnavailable, newest.Int64, known)
	}
	if newest.Int64 >= int64(m.version) {
		return nil // applied already (by us earlier, or by another replica)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}
