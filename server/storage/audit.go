package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/alter-sidecar/alter/audit"
)

// Audit records. Sidecars ship batches and retry until acknowledged, so an
// insert skips ids already stored (ON CONFLICT DO NOTHING) rather than
// failing or duplicating. Queries page newest first by (time, insertion
// order) with a keyset cursor: stable while new records arrive, and cheap
// at any depth (no OFFSET).

// InsertAudit stores records; see Storage.
func (d *DB) InsertAudit(ctx context.Context, recs ...AuditRecord) (int, error) {
	if len(recs) > maxAuditBatch {
		return 0, invalid("%d audit records in one batch, at most %d", len(recs), maxAuditBatch)
	}
	for i, r := range recs {
		if err := checkAudit(r); err != nil {
			return 0, fmt.Errorf("audit record %d: %w", i, err)
		}
	}
	inserted := 0
	// Not d.write: audit inserts do not touch grants or the change
	// sequence, so they need not wait for (or block) grant writes on
	// PostgreSQL. The unique id is what makes concurrent retries safe.
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable(err)
	}
	defer tx.Rollback() //nolint:errcheck
	stmt := d.q(`INSERT INTO audit (id, source, at, grant_id, actor, decision, run_id, tool, event, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	for _, r := range recs {
		res, err := tx.ExecContext(ctx, stmt, r.ID, r.Source, micro(r.Time), r.GrantID, r.Actor, r.Decision, r.RunID, r.Tool, eventOf(r), string(r.Body))
		if err != nil {
			return 0, unavailable(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, unavailable(err)
		}
		inserted += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable(err)
	}
	return inserted, nil
}

func checkAudit(r AuditRecord) error {
	if r.ID == "" {
		return invalid("id is empty")
	}
	for _, f := range []struct{ what, s string }{{"id", r.ID}, {"source", r.Source}, {"grant_id", r.GrantID}, {"actor", r.Actor},
		{"run_id", r.RunID}, {"tool", r.Tool}, {"event", r.Event}} {
		if err := checkText(f.what, f.s); err != nil {
			return err
		}
	}
	if r.Decision != audit.DecisionAllow && r.Decision != audit.DecisionDeny {
		return invalid("decision is not %q or %q", audit.DecisionAllow, audit.DecisionDeny)
	}
	if r.Time.IsZero() || r.Time.Year() > 9999 || r.Time.Year() < 1970 {
		return invalid("time is missing or out of range")
	}
	if len(r.Body) > maxAuditBody {
		return invalid("body is %d bytes, at most %d", len(r.Body), maxAuditBody)
	}
	// json.Valid passes bytes that are not UTF-8 inside strings: stored
	// (SQLite), they would be forwarded as JSON that is not UTF-8, which a
	// strict receiver refuses on every retry.
	if !utf8.Valid(r.Body) || !json.Valid(r.Body) {
		return invalid("body is not valid JSON")
	}
	if jsonDepth(r.Body) > maxAuditDepth {
		return invalid("body nests more than %d levels", maxAuditDepth)
	}
	return nil
}

// eventOf is the event column of r: a record without one is a grant use.
func eventOf(r AuditRecord) string {
	if r.Event == "" {
		return audit.EventGrantUse
	}
	return r.Event
}

// QueryAudit returns one page of matching records, newest first (oldest
// first with q.Oldest).
func (d *DB) QueryAudit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultAuditLimit
	case limit < 0 || limit > MaxAuditLimit:
		return AuditPage{}, invalid("limit %d: want 1 to %d", limit, MaxAuditLimit)
	}
	if q.Decision != "" && q.Decision != audit.DecisionAllow && q.Decision != audit.DecisionDeny {
		return AuditPage{}, invalid("decision filter is not %q or %q", audit.DecisionAllow, audit.DecisionDeny)
	}
	var where []string
	var args []any
	add := func(cond string, arg ...any) { where = append(where, cond); args = append(args, arg...) }
	if q.GrantID != "" {
		add("grant_id = ?", q.GrantID)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if q.Decision != "" {
		add("decision = ?", q.Decision)
	}
	if q.RunID != "" {
		add("run_id = ?", q.RunID)
	}
	if q.Tool != "" {
		add("tool = ?", q.Tool)
	}
	if q.Event != "" {
		add("event = ?", q.Event)
	}
	if !q.Since.IsZero() {
		add("at >= ?", micro(q.Since))
	}
	if !q.Until.IsZero() {
		add("at < ?", micro(q.Until))
	}
	if q.Cursor != "" {
		at, seq, err := parseCursor(q.Cursor, q.Oldest)
		if err != nil {
			return AuditPage{}, err
		}
		if q.Oldest {
			add("(at > ? OR (at = ? AND seq > ?))", at, at, seq)
		} else {
			add("(at < ? OR (at = ? AND seq < ?))", at, at, seq)
		}
	}
	query := `SELECT seq, id, source, at, grant_id, actor, decision, run_id, tool, event, body FROM audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	// One extra row tells whether there is a next page.
	if q.Oldest {
		query += " ORDER BY at ASC, seq ASC LIMIT ?"
	} else {
		query += " ORDER BY at DESC, seq DESC LIMIT ?"
	}
	args = append(args, limit+1)
	rows, err := d.db.QueryContext(ctx, d.q(query), args...)
	if err != nil {
		return AuditPage{}, unavailable(err)
	}
	defer rows.Close()
	var page AuditPage
	var lastAt, lastSeq int64
	for rows.Next() {
		if len(page.Records) == limit {
			page.Next = formatCursor(lastAt, lastSeq, q.Oldest)
			break
		}
		var r AuditRecord
		var body string
		if err := rows.Scan(&lastSeq, &r.ID, &r.Source, &lastAt, &r.GrantID, &r.Actor, &r.Decision, &r.RunID, &r.Tool, &r.Event, &body); err != nil {
			return AuditPage{}, unavailable(err)
		}
		r.Time, r.Body = fromMicro(lastAt), json.RawMessage(body)
		page.Records = append(page.Records, r)
	}
	if err := rows.Err(); err != nil {
		return AuditPage{}, unavailable(err)
	}
	return page, nil
}

// A cursor is the (time, seq) of the last record of a page; one made
// oldest first starts with '+', so a cursor is never read in the other
// order (it would skip the records it has not shown). It is not signed:
// it only selects among records the caller may already query.
func formatCursor(at, seq int64, oldest bool) string {
	c := strconv.FormatInt(at, 36) + "." + strconv.FormatInt(seq, 36)
	if oldest {
		return "+" + c
	}
	return c
}

func parseCursor(c string, oldest bool) (at, seq int64, err error) {
	body, plus := strings.CutPrefix(c, "+")
	if plus != oldest {
		return 0, 0, invalid("audit cursor %q was made for the other order", c)
	}
	a, s, ok := strings.Cut(body, ".")
	if ok {
		if at, err = strconv.ParseInt(a, 36, 64); err == nil {
			seq, err = strconv.ParseInt(s, 36, 64)
		}
	}
	if !ok || err != nil {
		return 0, 0, invalid("audit cursor %q is malformed", c)
	}
	return at, seq, nil
}
