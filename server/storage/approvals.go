package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/secretstore"
)

// Approvals: requests a grant's approval rule holds for a person (package
// approval), in one table every replica shares (0007_approvals.sql). The
// approval package's Book applies the rules, as it does for the file
// store; this file loads the rows a rule looks at, applies the Book method
// and writes back what changed, inside one write transaction. Write
// transactions hold the write lock (open.go: BEGIN IMMEDIATE on SQLite, an
// advisory lock on PostgreSQL), so two replicas never apply a rule to the
// same rows at once: of many concurrent Use calls exactly one wins.
//
// Every row carries a mac (kind "approval") over all its columns: an
// approval marked approved, un-used, or moved to another app in the
// database fails closed (ErrStoreUnavailable), and the held request with it.
//
// A decision appends a change that names no grant (ChangeApproval, like a
// token's revocation): it moves the change sequence, so every replica's
// waiters wake (NOTIFY on PostgreSQL), and Wait, parked in WaitChange,
// looks at its approval again. No app lists such a change.
//
// Clocks: the sidecar's proxy passes its own clock to Find, Create, Use
// and List (as it does to the file store); it owns its hold and its
// approvals' expiry, and a sidecar token already resolves the secrets its
// approvals guard. Decisions and pruning use the server's clock.

const macApproval = "approval"

// ChangeApproval is an approval's decision on the change sequence: it
// names no grant, so no app lists it; it only wakes waiters.
const ChangeApproval = "approval"

// EventApprovalDecide is the server audit event of a decision.
const EventApprovalDecide = audit.EventApprovalDecide

// maxApprovalList bounds one List: the newest so many.
const maxApprovalList = 1000

// readTimeout bounds a read Wait makes after its context ended.
const readTimeout = 10 * time.Second

// Approvals returns the approvals of app's grants as an approval.Store;
// app "" is every app's (the admin API, the portal). A store of one app
// neither sees nor makes approvals of another app's grants.
func (d *DB) Approvals(app string) approval.Store { return &dbApprovals{d: d, app: app} }

type dbApprovals struct {
	d   *DB
	app string // "" for every app
}

const approvalCols = `id, app, grant_id, status, match_key, created_at, expires_at, body, mac`

func (d *DB) approvalSum(id, app, grantID, status, match string, created, expires int64, body string) string {
	return d.sum(macApproval, id, app, grantID, status, match,
		strconv.FormatInt(created, 10), strconv.FormatInt(expires, 10), body)
}

// scanApproval reads approvalCols and checks the row's mac and that its
// columns say what its body says.
func (d *DB) scanApproval(sc scanner) (approval.Approval, string, error) {
	var (
		id, app, grantID, status, match, body, mac string
		created, expires                           int64
	)
	if err := sc.Scan(&id, &app, &grantID, &status, &match, &created, &expires, &body, &mac); err != nil {
		return approval.Approval{}, "", err
	}
	if err := verify(mac, d.approvalSum(id, app, grantID, status, match, created, expires, body)); err != nil {
		return approval.Approval{}, "", unavailable(fmt.Errorf("approval %s: %w", id, err))
	}
	var a approval.Approval
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return approval.Approval{}, "", unavailable(fmt.Errorf("approval %s: body: %v", id, jsonProblem(err)))
	}
	if a.ID != id || a.GrantID != grantID || a.Status != status || a.Match != match ||
		micro(a.CreatedAt) != created || micro(a.ExpiresAt) != expires {
		return approval.Approval{}, "", unavailable(fmt.Errorf("approval %s: its columns and body disagree", id))
	}
	return a, app, nil
}

// jsonProblem names a decoding error without quoting the input.
func jsonProblem(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	return "malformed"
}

func (d *DB) insertApproval(ctx context.Context, tx *sql.Tx, app string, a approval.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	c, x := micro(a.CreatedAt), micro(a.ExpiresAt)
	_, err = tx.ExecContext(ctx, d.q(`INSERT INTO approvals (`+approvalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		a.ID, app, a.GrantID, a.Status, a.Match, c, x, string(body), d.approvalSum(a.ID, app, a.GrantID, a.Status, a.Match, c, x, string(body)))
	return unavailable(err)
}

func (d *DB) updateApproval(ctx context.Context, tx *sql.Tx, app string, a approval.Approval) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	c, x := micro(a.CreatedAt), micro(a.ExpiresAt)
	_, err = tx.ExecContext(ctx, d.q(`UPDATE approvals SET status = ?, body = ?, mac = ? WHERE id = ?`),
		a.Status, string(body), d.approvalSum(a.ID, app, a.GrantID, a.Status, a.Match, c, x, string(body)), a.ID)
	return unavailable(err)
}

// load returns the approvals a query selects, in the query's order.
func (s *dbApprovals) load(ctx context.Context, q querier, where, order string, args ...any) ([]approval.Approval, error) {
	if s.app != "" {
		where = "(" + where + ") AND app = ?"
		args = append(args, s.app)
	}
	rows, err := q.QueryContext(ctx, s.d.q(`SELECT `+approvalCols+` FROM approvals WHERE `+where+` `+order), args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []approval.Approval
	for rows.Next() {
		a, _, err := s.d.scanApproval(rows)
		if err != nil {
			return nil, unavailable(err)
		}
		out = append(out, a)
	}
	return out, unavailable(rows.Err())
}

// one returns the approval id of the store's app, and its app.
func (s *dbApprovals) one(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, id string) (approval.Approval, string, error) {
	where, args := `id = ?`, []any{id}
	if s.app != "" {
		where, args = where+` AND app = ?`, append(args, s.app)
	}
	a, app, err := s.d.scanApproval(q.QueryRowContext(ctx, s.d.q(`SELECT `+approvalCols+` FROM approvals WHERE `+where), args...))
	if isNoRows(err) {
		return a, "", fmt.Errorf("approval %s: %w", id, approval.ErrNotFound)
	}
	return a, app, unavailable(err)
}

// Find implements approval.Store: of the grant's approvals, only an
// approved one or one of exactly this request can decide it.
func (s *dbApprovals) Find(ctx context.Context, req approval.Request, now time.Time) (approval.Approval, bool, error) {
	list, err := s.load(ctx, s.d.db, `grant_id = ? AND (match_key = ? OR status = ?)`, `ORDER BY seq`,
		req.GrantID, req.Match, approval.StatusApproved)
	if err != nil {
		return approval.Approval{}, false, err
	}
	b := approval.Book{Approvals: list}
	a, ok := b.Find(req, now)
	return a, ok, nil
}

// Get implements approval.Store.
func (s *dbApprovals) Get(ctx context.Context, id string) (approval.Approval, error) {
	a, _, err := s.one(ctx, s.d.db, id)
	return a, err
}

// grantApp is the app of a grant whose row verifies; an unknown or
// tampered grant, or one of another app than the store's, is
// ErrGrantUnavailable.
func (s *dbApprovals) grantApp(ctx context.Context, tx *sql.Tx, grantID string) (string, error) {
	var c grantCols
	var parent sql.NullString
	var mac string
	err := tx.QueryRowContext(ctx, s.d.q(`SELECT id, secret_id, parent, policy, revoked, expires_at, app, mac FROM grants WHERE id = ?`), grantID).
		Scan(&c.id, &c.secretID, &parent, &c.policy, &c.revoked, &c.expires, &c.app, &mac)
	if isNoRows(err) {
		return "", fmt.Errorf("grant %s: %w", grantID, secretstore.ErrGrantUnavailable)
	}
	if err != nil {
		return "", unavailable(err)
	}
	c.parent = parent.String
	if verify(mac, s.d.grantSum(c)) != nil || (s.app != "" && c.app != s.app) {
		return "", fmt.Errorf("grant %s: %w", grantID, secretstore.ErrGrantUnavailable)
	}
	return c.app, nil
}

// Create implements approval.Store. The grant's pending approvals are
// what Book.Create counts (MaxPendingPerGrant); approvals that stopped
// mattering long ago are dropped on the way, by the server's clock.
func (s *dbApprovals) Create(ctx context.Context, req approval.Request, at time.Time, ttl time.Duration) (approval.Approval, error) {
	if err := CheckApprovalRequest(req); err != nil {
		return approval.Approval{}, err
	}
	if ttl <= 0 || ttl > approval.MaxFor {
		return approval.Approval{}, invalid("ttl %v: want more than 0 and at most %v", ttl, approval.MaxFor)
	}
	var out approval.Approval
	err := s.d.write(ctx, func(tx *sql.Tx) error {
		app, err := s.grantApp(ctx, tx, req.GrantID)
		if err != nil {
			return err
		}
		// A time-boxed approval covers at most MaxFor past its decision,
		// made before ExpiresAt: past that and Keep, nothing reads it.
		stale := micro(now().Add(-approval.Keep - approval.MaxFor))
		if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM approvals WHERE expires_at < ?`), stale); err != nil {
			return unavailable(err)
		}
		if err := s.d.boundApprovals(ctx, tx, req.GrantID, at); err != nil {
			return err
		}
		scoped := &dbApprovals{d: s.d, app: app}
		pending, err := scoped.load(ctx, tx, `grant_id = ? AND status = ? AND expires_at > ?`, `ORDER BY seq`,
			req.GrantID, approval.StatusPending, micro(at))
		if err != nil {
			return err
		}
		b := approval.Book{Approvals: pending}
		if out, err = b.Create(req, at.Truncate(time.Microsecond), ttl); err != nil {
			return err
		}
		return s.d.insertApproval(ctx, tx, app, out)
	})
	return out, err
}

// maxApprovalsPerGrant bounds the approvals one grant keeps (a variable
// for tests).
var maxApprovalsPerGrant = approval.MaxKept

// boundApprovals refuses a new approval of grantID, made at the
// sidecar's clock at, that would take the grant past its bounds. The
// sidecar's clock is its own: dated in the future, its approvals would be
// pending by the server's clock but not by its own, and dated one after
// another's expiry (or with a ttl of a second) they would pile up for
// weeks until pruned. So pending approvals are counted by whichever clock
// is earlier, and past maxApprovalsPerGrant the grant's oldest approvals
// that no longer matter by the server's clock (denied, used, pending past
// their expiry) are dropped, as Book.Prune drops them; when none can be,
// the new one is refused.
func (d *DB) boundApprovals(ctx context.Context, tx *sql.Tx, grantID string, at time.Time) error {
	serverNow := micro(now())
	var pending, total int
	if err := tx.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM approvals WHERE grant_id = ? AND status = ? AND expires_at > ?`),
		grantID, approval.StatusPending, min(micro(at), serverNow)).Scan(&pending); err != nil {
		return unavailable(err)
	}
	if pending >= approval.MaxPendingPerGrant {
		return approval.ErrTooManyPending
	}
	if err := tx.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM approvals WHERE grant_id = ?`), grantID).Scan(&total); err != nil {
		return unavailable(err)
	}
	if total < maxApprovalsPerGrant {
		return nil
	}
	res, err := tx.ExecContext(ctx, d.q(`DELETE FROM approvals WHERE id IN (SELECT id FROM approvals WHERE grant_id = ?
		AND (status IN (?, ?) OR (status = ? AND expires_at <= ?)) ORDER BY seq LIMIT ?)`),
		grantID, approval.StatusDenied, approval.StatusUsed, approval.StatusPending, serverNow, total-maxApprovalsPerGrant+1)
	if err != nil {
		return unavailable(err)
	}
	if n, err := res.RowsAffected(); err != nil || int(n) < total-maxApprovalsPerGrant+1 {
		return approval.ErrTooManyPending
	}
	return nil
}

// Use implements approval.Store.
func (s *dbApprovals) Use(ctx context.Context, id, requestID string, now time.Time) error {
	if err := checkText("request id", requestID); err != nil || len(requestID) > 128 {
		return invalid("request id: want 1 to 128 printable bytes")
	}
	return s.d.write(ctx, func(tx *sql.Tx) error {
		a, app, err := s.one(ctx, tx, id)
		if err != nil {
			return err
		}
		b := approval.Book{Approvals: []approval.Approval{a}}
		if err := b.Use(id, requestID, now); err != nil {
			return err
		}
		if b.Approvals[0].Status == a.Status {
			return nil // a time-boxed approval is not consumed
		}
		return s.d.updateApproval(ctx, tx, app, b.Approvals[0])
	})
}

// Decide implements approval.Store. d.By names the person (the API sets
// it from the token or portal user); the audit record also names the
// caller (ActingAs), and the change wakes every replica's waiters.
func (s *dbApprovals) Decide(ctx context.Context, id string, d approval.Decision) (approval.Approval, error) {
	d.At = d.At.UTC().Truncate(time.Microsecond)
	var out approval.Approval
	err := s.d.write(ctx, func(tx *sql.Tx) error {
		a, app, err := s.one(ctx, tx, id)
		if err != nil {
			return err
		}
		b := approval.Book{Approvals: []approval.Approval{a}}
		if out, err = b.Decide(id, d); err != nil {
			return err
		}
		if err := s.d.updateApproval(ctx, tx, app, out); err != nil {
			return err
		}
		if err := s.d.recordChanges(ctx, tx, ChangeApproval, []string{""}); err != nil {
			return err
		}
		return s.d.insertAuditTx(ctx, tx, decisionEvent(ctx, app, out).Record())
	})
	return out, err
}

// decisionEvent is the audit record of a decision: who, when, the note,
// and what was decided (never the body preview).
func decisionEvent(ctx context.Context, app string, a approval.Approval) ServerEvent {
	dec, verdict := audit.DecisionAllow, "approve"
	if a.Status == approval.StatusDenied {
		dec, verdict = audit.DecisionDeny, "deny"
	}
	detail := map[string]string{
		"approval_id": a.ID, "approval": verdict, "decided_by": a.Decision.By,
		"decided_at": a.Decision.At.Format(time.RFC3339Nano), "note": a.Decision.Note,
		"requested_by": a.Actor, "method": a.Method, "host": a.Host, "path": a.Path, "request_id": a.RequestID,
	}
	if a.CoversUntil != nil {
		detail["covers_until"] = a.CoversUntil.Format(time.RFC3339Nano)
	}
	return ServerEvent{Event: EventApprovalDecide, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), App: app, GrantID: a.GrantID,
		Decision: dec, Time: a.Decision.At, Detail: detail}
}

// storedStatuses are the stored statuses an approval listed with status
// st (as of a time) can have.
func storedStatuses(st string) []string {
	switch st {
	case approval.StatusExpired:
		return []string{approval.StatusPending, approval.StatusApproved}
	case "":
		return nil
	}
	return []string{st}
}

// List implements approval.Store: at most the newest maxApprovalList.
func (s *dbApprovals) List(ctx context.Context, f approval.Filter, now time.Time) ([]approval.Approval, error) {
	where, args := `1 = 1`, []any{}
	if f.GrantID != "" {
		where, args = where+` AND grant_id = ?`, append(args, f.GrantID)
	}
	if sts := storedStatuses(f.Status); len(sts) > 0 {
		where += ` AND status IN (?` + strings.Repeat(", ?", len(sts)-1) + `)`
		for _, st := range sts {
			args = append(args, st)
		}
	}
	list, err := s.load(ctx, s.d.db, where, `ORDER BY seq DESC LIMIT `+strconv.Itoa(maxApprovalList), args...)
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 { // Book: newest last
		list[i], list[j] = list[j], list[i]
	}
	b := approval.Book{Approvals: list}
	return b.Select(f, now), nil
}

// Wait implements approval.Store. It parks in WaitChange, which a
// decision on any replica ends, and reads the approval again on every
// change.
func (s *dbApprovals) Wait(ctx context.Context, id string) (approval.Approval, error) {
	for {
		seq, err := s.d.LastChange(ctx)
		a, gerr := s.getAfter(ctx, id)
		switch {
		case gerr != nil:
			return a, gerr
		case a.Status != approval.StatusPending:
			return a, nil
		case ctx.Err() != nil:
			return a, ctx.Err()
		case err != nil:
			return a, err
		}
		if _, err := s.d.WaitChange(ctx, seq); err != nil {
			if ctx.Err() != nil {
				a, gerr := s.getAfter(ctx, id)
				if gerr != nil || a.Status != approval.StatusPending {
					return a, gerr
				}
				return a, ctx.Err()
			}
			return a, err
		}
	}
}

// getAfter is Get, also once ctx has ended: Wait then still returns what
// the approval is.
func (s *dbApprovals) getAfter(ctx context.Context, id string) (approval.Approval, error) {
	if ctx.Err() == nil {
		return s.Get(ctx, id)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	defer cancel()
	return s.Get(rctx, id)
}

// Bounds of an approval request's fields: what a sidecar may make people
// read.
const (
	maxApprovalText  = 8 << 10
	maxApprovalQuery = 100
)

// CheckApprovalRequest checks what a sidecar sends to be held: the fields
// the proxy fills, within bounds. Errors wrap ErrInvalid and name the
// field, never quote it.
func CheckApprovalRequest(r approval.Request) error {
	if r.GrantID == "" || len(r.GrantID) > 128 || checkText("grant_id", r.GrantID) != nil {
		return invalid("request.grant_id: want a grant id")
	}
	if len(r.Match) != 64 || strings.Trim(r.Match, "0123456789abcdef") != "" {
		return invalid("request.match: want 64 lowercase hex digits (approval.MatchKey)")
	}
	if r.Method == "" || r.Scheme == "" || r.Host == "" || r.Port <= 0 || r.Port > 65535 || r.RequestID == "" {
		return invalid("request: method, scheme, host, port and request_id are required")
	}
	if len(r.Preview) > approval.PreviewBytes {
		return invalid("request.preview is longer than %d bytes", approval.PreviewBytes)
	}
	if len(r.QueryKeys) > maxApprovalQuery {
		return invalid("request.query_keys: more than %d", maxApprovalQuery)
	}
	for name, v := range map[string]string{"method": r.Method, "scheme": r.Scheme, "host": r.Host, "path": r.Path,
		"reason": r.Reason, "actor": r.Actor, "profile": r.Profile, "prefix": r.Prefix, "request_id": r.RequestID} {
		if len(v) > maxApprovalText {
			return invalid("request.%s is longer than %d bytes", name, maxApprovalText)
		}
	}
	// The one-line fields are shown to the person deciding (the client's
	// name above all): a control character there could rewrite what a
	// terminal shows. Path, reason and preview are shown escaped.
	for name, v := range map[string]string{"method": r.Method, "scheme": r.Scheme, "host": r.Host,
		"actor": r.Actor, "profile": r.Profile, "prefix": r.Prefix, "request_id": r.RequestID} {
		if strings.IndexFunc(v, func(c rune) bool { return unicode.IsControl(c) || c == '\u2028' || c == '\u2029' }) >= 0 {
			return invalid("request.%s contains a control character", name)
		}
	}
	return nil
}
