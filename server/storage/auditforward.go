package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/audit"
)

// Forwarding the audit trail (server/auditforward). Each target has a row
// in audit_forward: the position of the last record it acknowledged, and
// a lease so that, of several replicas, one sends to it at a time. The
// trail is read in commit order, by (xid, seq) below the committed horizon
// (migration 0010 says why seq alone is not enough on PostgreSQL), so a
// cursor that moves only after an acknowledgement loses nothing: every
// record is sent at least once, and again only if a send or its
// acknowledgement was cut off.

// AuditPosition is a place in the trail's commit order; the zero value is
// before the first record.
type AuditPosition struct {
	XID int64 // the inserting transaction (always 0 on SQLite)
	Seq int64
}

// Before reports whether p comes before q.
func (p AuditPosition) Before(q AuditPosition) bool {
	return p.XID < q.XID || (p.XID == q.XID && p.Seq < q.Seq)
}

// PositionedRecord is a record with its place in commit order.
type PositionedRecord struct {
	AuditRecord
	Position AuditPosition
}

// AuditAfter returns up to limit committed records after p, in commit
// order. A record whose transaction may still commit before others
// already committed is not returned yet (it comes in a later call), so a
// reader that goes on from the last position it got never skips one.
func (d *DB) AuditAfter(ctx context.Context, p AuditPosition, limit int) ([]PositionedRecord, error) {
	if limit <= 0 || limit > maxAuditBatch {
		return nil, invalid("limit %d: want 1 to %d", limit, maxAuditBatch)
	}
	cond, args, err := d.committedAfter(ctx, p)
	if err != nil {
		return nil, err
	}
	query := `SELECT xid, seq, id, source, at, grant_id, actor, decision, run_id, tool, event, body FROM audit
		WHERE ` + cond + ` ORDER BY xid, seq LIMIT ?`
	rows, err := d.db.QueryContext(ctx, d.q(query), append(args, limit)...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []PositionedRecord
	for rows.Next() {
		var r PositionedRecord
		var at int64
		var body string
		if err := rows.Scan(&r.Position.XID, &r.Position.Seq, &r.ID, &r.Source, &at, &r.GrantID, &r.Actor, &r.Decision,
			&r.RunID, &r.Tool, &r.Event, &body); err != nil {
			return nil, unavailable(err)
		}
		r.Time, r.Body = fromMicro(at), json.RawMessage(body)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// committedAfter is the WHERE condition of the records after p in commit
// order that no transaction still open can precede, with its arguments.
// The horizon is taken before the caller's statement runs, which a
// standby bounds by its own snapshot too (horizon.go).
func (d *DB) committedAfter(ctx context.Context, p AuditPosition) (string, []any, error) {
	cond, args := d.eng.afterPosition(p)
	h, ok, err := d.committedHorizon(ctx)
	if err != nil || !ok {
		return cond, args, err
	}
	if h.xmax > 0 && (p.XID >= h.xmax || h.maxStored >= h.xmax) {
		return "", nil, ErrTrailAhead
	}
	return cond + " AND xid < ? AND " + belowStandbySnapshot, append(args, h.below), nil
}

// ErrTrailAhead: the trail, or a forwarding position, holds a
// transaction id this database has not given out yet. Its rows came from
// another cluster (a restore from a dump, a logical-replication
// switchover), and the records written since have lower ids: reading by
// id would skip them, so nothing is read until an operator starts the
// trail's order over (README, "Forwarding to a SIEM").
var ErrTrailAhead = errors.New("storage: the audit trail holds transaction ids ahead of this database's " +
	"(restored from a dump or switched over by logical replication?); forwarding stops rather than skip records")

// ClaimForward takes or renews the lease of target name for holder until
// the given time, and returns the target's position. held is false while
// another holder's lease runs (now is before its end); a released lease
// is free at once. A target seen for the first time starts before the
// first record.
func (d *DB) ClaimForward(ctx context.Context, name, holder string, now, until time.Time) (pos AuditPosition, held bool, err error) {
	if name == "" || holder == "" {
		return AuditPosition{}, false, invalid("a forwarding target and its holder need names")
	}
	// One statement: of two replicas claiming a free lease at once, the
	// database lets one update match.
	claim := func() error {
		return d.db.QueryRowContext(ctx, d.q(`UPDATE audit_forward SET holder = ?, lease_until = ?
			WHERE name = ? AND (holder = ? OR holder = '' OR lease_until < ?) RETURNING after_xid, after_seq`),
			holder, micro(until), name, holder, micro(now)).Scan(&pos.XID, &pos.Seq)
	}
	err = claim()
	if errors.Is(err, sql.ErrNoRows) {
		// Held by another, or a target never seen: only then is its row
		// made (not on every pass, which would be a write each time).
		res, ierr := d.db.ExecContext(ctx, d.q(`INSERT INTO audit_forward (name) VALUES (?) ON CONFLICT (name) DO NOTHING`), name)
		if ierr != nil {
			return AuditPosition{}, false, unavailable(ierr)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			err = claim()
		}
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return AuditPosition{}, false, nil
	case err != nil:
		return AuditPosition{}, false, unavailable(err)
	}
	return pos, true, nil
}

// AdvanceForward moves target name's position to p when holder still
// holds its lease (expired or not: nobody else has taken it) and p is
// ahead of it. false means the lease went to another holder, whose
// position wins; the batch that holder sends again is a duplicate, which
// at-least-once allows, never a loss.
func (d *DB) AdvanceForward(ctx context.Context, name, holder string, p AuditPosition, at time.Time) (bool, error) {
	res, err := d.db.ExecContext(ctx, d.q(`UPDATE audit_forward SET after_xid = ?, after_seq = ?, forwarded_at = ?
		WHERE name = ? AND holder = ? AND (after_xid < ? OR (after_xid = ? AND after_seq < ?))`),
		p.XID, p.Seq, micro(at), name, holder, p.XID, p.XID, p.Seq)
	if err != nil {
		return false, unavailable(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// ReleaseForward ends holder's lease of target name, so another replica
// may take it over at once (a replica that stops cleanly). The lease ends
// now rather than being wiped: retention's ForwardActiveWindow counts
// from it.
func (d *DB) ReleaseForward(ctx context.Context, name, holder string) error {
	_, err := d.db.ExecContext(ctx, d.q(`UPDATE audit_forward SET holder = '', lease_until = ? WHERE name = ? AND holder = ?`),
		micro(now())-1, name, holder)
	return unavailable(err)
}

// ForwardState is what the database knows of one forwarding target.
type ForwardState struct {
	Name        string
	Position    AuditPosition
	Holder      string
	LeaseUntil  time.Time
	ForwardedAt time.Time // zero until a batch is acknowledged
}

// ForwardStates lists every target that was ever forwarded to, by name.
func (d *DB) ForwardStates(ctx context.Context) ([]ForwardState, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT name, after_xid, after_seq, holder, lease_until, forwarded_at FROM audit_forward ORDER BY name`)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []ForwardState
	for rows.Next() {
		var s ForwardState
		var lease, fwd int64
		if err := rows.Scan(&s.Name, &s.Position.XID, &s.Position.Seq, &s.Holder, &lease, &fwd); err != nil {
			return nil, unavailable(err)
		}
		s.LeaseUntil = fromMicro(lease)
		if fwd != 0 {
			s.ForwardedAt = fromMicro(fwd)
		}
		out = append(out, s)
	}
	return out, unavailable(rows.Err())
}

// PruneResult is what one PruneAudit pass did.
type PruneResult struct {
	Deleted int
	// HeldBack counts records past the retention that a forwarding target
	// has not acknowledged yet: they stay until it has.
	HeldBack int
}

// ForwardActiveWindow is how long a forwarding target that no replica
// of this one's config names still holds retention back: while any
// replica leased it or had a batch acknowledged that recently (replicas
// with different configs during a rolling change), its records stay. A
// target removed from every config stops holding them after it.
const ForwardActiveWindow = time.Hour

// PruneAudit deletes records older than before, batch rows per statement
// (so no transaction locks the trail for long), but none that a target
// has not acknowledged: the targets named, and any other a replica
// forwarded to within ForwardActiveWindow. Retention never deletes what a
// SIEM has not received. A pass that deletes anything records it as an
// audit_retention event by actor.
func (d *DB) PruneAudit(ctx context.Context, before time.Time, targets []string, batch int, actor string) (PruneResult, error) {
	if batch <= 0 || batch > 100000 {
		return PruneResult{}, invalid("batch %d: want 1 to 100000", batch)
	}
	cond := "at < ?"
	args := []any{micro(before)}
	horizon, held, err := d.forwardHorizon(ctx, targets)
	if err != nil {
		return PruneResult{}, err
	}
	if held { // at or before the earliest target's position
		after, afterArgs := d.eng.afterPosition(horizon)
		cond += " AND NOT " + after
		args = append(args, afterArgs...)
	}
	var res PruneResult
	stmt := d.q(`DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE ` + cond + ` ORDER BY at, seq LIMIT ?)`)
	for {
		r, err := d.db.ExecContext(ctx, stmt, append(args, batch)...)
		if err != nil {
			return res, d.recordPrune(ctx, res, before, actor, unavailable(err))
		}
		n, err := r.RowsAffected()
		if err != nil {
			return res, d.recordPrune(ctx, res, before, actor, unavailable(err))
		}
		res.Deleted += int(n)
		if int(n) < batch {
			break
		}
	}
	if held {
		if err := d.db.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM audit WHERE at < ?`), micro(before)).Scan(&res.HeldBack); err != nil {
			return res, d.recordPrune(ctx, res, before, actor, unavailable(err))
		}
	}
	return res, d.recordPrune(ctx, res, before, actor, nil)
}

// forwardHorizon is the earliest position of the targets named and of
// those forwarded to within ForwardActiveWindow; held is false when there
// are none. A named target without a row has acknowledged nothing, so
// nothing may go.
func (d *DB) forwardHorizon(ctx context.Context, targets []string) (horizon AuditPosition, held bool, err error) {
	states, err := d.ForwardStates(ctx)
	if err != nil {
		return AuditPosition{}, false, err
	}
	at := map[string]AuditPosition{}
	for _, name := range targets {
		at[name] = AuditPosition{}
	}
	active := now().Add(-ForwardActiveWindow)
	for _, s := range states {
		if _, named := at[s.Name]; named || s.LeaseUntil.After(active) || s.ForwardedAt.After(active) {
			at[s.Name] = s.Position
		}
	}
	for _, p := range at {
		if !held || p.Before(horizon) {
			horizon, held = p, true
		}
	}
	return horizon, held, nil
}

// recordPrune writes the audit_retention event of a pass that deleted
// something (also one cut short by err, which it returns).
func (d *DB) recordPrune(ctx context.Context, res PruneResult, before time.Time, actor string, err error) error {
	if res.Deleted == 0 {
		return err
	}
	detail := map[string]string{"deleted": strconv.Itoa(res.Deleted), "before": before.UTC().Format(time.RFC3339)}
	if res.HeldBack > 0 {
		detail["held_back"] = strconv.Itoa(res.HeldBack)
	}
	e := ServerEvent{Event: audit.EventAuditRetention, Actor: actor, Detail: detail}
	if err != nil {
		// Not err's text: the record is forwarded, and a driver's message
		// is not something to ship to a SIEM.
		e.Outcome, e.Error = audit.OutcomeFailed, "the pass stopped before its end"
	}
	// A cancelled pass is still recorded: the rows are gone either way.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return errors.Join(err, d.RecordServerEvent(rctx, e))
}

// AuditPendingAfter counts the committed records after p, at most max
// (more reports there are more).
func (d *DB) AuditPendingAfter(ctx context.Context, p AuditPosition, max int) (n int, more bool, err error) {
	cond, args, err := d.committedAfter(ctx, p)
	if err != nil {
		return 0, false, err
	}
	query := `SELECT COUNT(*) FROM (SELECT 1 FROM audit WHERE ` + cond + ` LIMIT ?) AS pending`
	if err := d.db.QueryRowContext(ctx, d.q(query), append(args, max+1)...).Scan(&n); err != nil {
		return 0, false, unavailable(err)
	}
	if n > max {
		return max, true, nil
	}
	return n, false, nil
}
