package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// The change sequence. Every write to grants, secrets or policies appends
// one row per affected grant, in the write's transaction, so a change is
// visible exactly when the write is. Writers hold the write lock while they
// draw sequence numbers, so numbers commit in increasing order and a
// reader that remembers the last number it saw never skips a change (gaps
// from rolled-back writes are possible and harmless).
//
// On PostgreSQL the write also sends NOTIFY on NotifyChannel with the new
// last number as payload, delivered at commit: the change stream can
// LISTEN instead of polling. Audit inserts are not changes.

// NotifyChannel is the PostgreSQL channel notified after every write.
const NotifyChannel = "alter_changes"

// maxChangeBatch bounds one Changes call.
const maxChangeBatch = 10000

// recordChanges appends one change of kind per grant id.
func (d *DB) recordChanges(ctx context.Context, tx *sql.Tx, kind string, ids []string) error {
	at := micro(now())
	var last int64
	for _, id := range ids {
		err := tx.QueryRowContext(ctx, d.q(`INSERT INTO changes (at, kind, grant_id) VALUES (?, ?, ?) RETURNING seq`),
			at, kind, id).Scan(&last)
		if err != nil {
			return unavailable(err)
		}
	}
	if len(ids) > 0 {
		return d.notify(ctx, tx, last)
	}
	return nil
}

// recordProfileChange appends the change of a profile of app: it names
// no grant, and only app's sidecars are told of it (ChangesFor).
func (d *DB) recordProfileChange(ctx context.Context, tx *sql.Tx, name, app string) error {
	var last int64
	err := tx.QueryRowContext(ctx, d.q(`INSERT INTO changes (at, kind, grant_id, profile, profile_app) VALUES (?, ?, '', ?, ?) RETURNING seq`),
		micro(now()), ChangeProfile, name, app).Scan(&last)
	if err != nil {
		return unavailable(err)
	}
	return d.notify(ctx, tx, last)
}

// notify tells the other replicas' watchers (PostgreSQL), at commit.
func (d *DB) notify(ctx context.Context, tx *sql.Tx, last int64) error {
	if d.eng.name != postgresEngine.name {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, strconv.FormatInt(last, 10))
	return unavailable(err)
}

// descendantsQuery is a grant and every clone below it. UNION (not UNION
// ALL) stops at a row already seen, so even a corrupt loop terminates.
const descendantsQuery = `WITH RECURSIVE tree(id) AS (
		SELECT id FROM grants WHERE id = ?
		UNION
		SELECT g.id FROM grants g JOIN tree t ON g.parent = t.id
	)
	SELECT id FROM tree`

// changeTree records a change for a grant and all its clones: a revoked or
// narrowed parent changes what each of them resolves to.
func (d *DB) changeTree(ctx context.Context, tx *sql.Tx, kind, grantID string) error {
	ids, err := d.idList(ctx, tx, descendantsQuery, grantID)
	if err != nil {
		return err
	}
	return d.recordChanges(ctx, tx, kind, ids)
}

func (d *DB) idList(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, d.q(query), args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, unavailable(err)
		}
		ids = append(ids, id)
	}
	return ids, unavailable(rows.Err())
}

// LastChange is the newest change sequence number, 0 if none.
func (d *DB) LastChange(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := d.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM changes`).Scan(&seq); err != nil {
		return 0, unavailable(err)
	}
	return seq.Int64, nil
}

// Changes returns up to limit changes after the given number, oldest first.
func (d *DB) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	if limit <= 0 || limit > maxChangeBatch {
		return nil, invalid("limit %d: want 1 to %d", limit, maxChangeBatch)
	}
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT seq, at, kind, grant_id, profile FROM changes
		WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, unavailable(err)
	}
	return scanChanges(rows)
}

func scanChanges(rows *sql.Rows) ([]Change, error) {
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		var c Change
		var at int64
		if err := rows.Scan(&c.Seq, &at, &c.Kind, &c.GrantID, &c.Profile); err != nil {
			return nil, unavailable(err)
		}
		c.At = fromMicro(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("changes: %w", err))
	}
	return out, nil
}
