// Package approval is the model of a request held for a person's decision:
// what a pending approval records, what decides it, and which later
// request it lets through. A grant whose policy requires approval
// (policy.Policy.RequiresApproval) makes the proxy ask a Store for an
// approval that covers the request; without one it creates a pending
// approval, tells people (Notifier), and holds the request or answers at
// once. Stores (the file store, alter server) keep approvals; this package
// decides what they mean, so both stores agree.
package approval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Statuses of an approval.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusDenied   = "denied"
	StatusExpired  = "expired" // nobody decided before ExpiresAt
	StatusUsed     = "used"    // a one-request approval that let its request through
)

// Errors stores wrap.
var (
	ErrNotFound = errors.New("approval not found")
	// ErrDecided: a decision on an approval that is no longer pending.
	ErrDecided = errors.New("approval already decided")
	// ErrSelfApproval: the person deciding is the client that asked.
	ErrSelfApproval = errors.New("nobody approves their own request")
	// ErrTooManyPending: the grant has MaxPendingPerGrant approvals waiting;
	// no more are created until some are decided or expire.
	ErrTooManyPending = errors.New("too many approvals are pending for this grant")
	// ErrUsed: a one-request approval was already used by another request.
	ErrUsed = errors.New("approval already used")
)

// MaxPendingPerGrant bounds what a client that may use a grant can make
// people look at.
const MaxPendingPerGrant = 100

// Request is what the proxy knows of a held request. It never holds the
// credential, the query string's values or the body beyond its preview.
type Request struct {
	GrantID   string   `json:"grant_id"`
	Profile   string   `json:"profile,omitempty"`
	Actor     string   `json:"actor,omitempty"` // the authenticated proxy client; "" when clients are not authenticated
	Method    string   `json:"method"`
	Scheme    string   `json:"scheme"`
	Host      string   `json:"host"`
	Port      int      `json:"port"`
	Path      string   `json:"path"` // as sent, percent-encoded
	QueryKeys []string `json:"query_keys,omitempty"`
	Reason    string   `json:"reason,omitempty"` // X-Alter-Reason, escaped and bounded as the audit record keeps it
	// Preview is the start of a text or JSON body (at most PreviewBytes),
	// "" when the body is empty, binary, or could hold the credential.
	Preview string `json:"preview,omitempty"`
	// Match is the digest that a retry of the same request has: grant,
	// method, full URL and body digest (MatchKey).
	Match string `json:"match"`
	// Prefix is the approval path prefix that matched ("" when the rule
	// covers every path): the scope of a time-boxed approval.
	Prefix    string `json:"prefix,omitempty"`
	RequestID string `json:"request_id"`
}

// PreviewBytes bounds Request.Preview.
const PreviewBytes = 1024

// Approval is one approval as stores keep it.
type Approval struct {
	ID string `json:"id"`
	Request
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"` // a pending approval lapses here; an approved one-request approval too
	Decision  *Decision `json:"decision,omitempty"`
	// CoversUntil is set by a time-boxed approval (--for): until then it
	// lets through any request of the same grant and method under Prefix.
	CoversUntil *time.Time `json:"covers_until,omitempty"`
	UsedAt      *time.Time `json:"used_at,omitempty"`
	UsedBy      string     `json:"used_by,omitempty"` // the request id it let through
}

// Decision is a person's answer.
type Decision struct {
	Approve bool          `json:"approve"`
	By      string        `json:"by"`
	Note    string        `json:"note,omitempty"`
	At      time.Time     `json:"at"`
	For     time.Duration `json:"for,omitempty"` // a time-boxed approval's length; 0: this request only
}

// MaxNote bounds a decision's note.
const MaxNote = 1024

// MaxFor bounds a time-boxed approval.
const MaxFor = 30 * 24 * time.Hour

// StatusAt is the approval's status at now: a pending approval past its
// expiry has expired, and so has an unused approved one.
func (a Approval) StatusAt(now time.Time) string {
	switch a.Status {
	case StatusPending, StatusApproved:
		if a.CoversUntil != nil {
			if now.Before(*a.CoversUntil) {
				return StatusApproved
			}
			return StatusExpired
		}
		if !now.Before(a.ExpiresAt) {
			return StatusExpired
		}
	}
	return a.Status
}

// MatchKey is the digest a request and its retry share: same grant,
// method, URL (scheme, host, port, path and query, exactly) and body.
// Nothing of the request can be read back from it.
func MatchKey(grantID, method, url string, body []byte) string {
	bd := sha256.Sum256(body)
	h := sha256.New()
	for _, part := range []string{grantID, method, url, hex.EncodeToString(bd[:])} {
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Lets reports whether a, looked up at now, lets req through: an approved,
// unexpired approval of exactly this request (Match) from the same actor
// that is unused, or a
// time-boxed approval of the same grant and method whose prefix covers the
// request's path. A one-request approval must then be consumed (Store.Use)
// before the request is forwarded.
func (a Approval) Lets(req Request, now time.Time) bool {
	if a.StatusAt(now) != StatusApproved || a.GrantID != req.GrantID || a.Method != req.Method {
		return false
	}
	if a.CoversUntil != nil {
		return a.Scheme == req.Scheme && a.Host == req.Host && a.Port == req.Port && a.Prefix == req.Prefix
	}
	// Exactly this request, from the client that asked (when clients are
	// known): another client that may use the grant does not spend it.
	return a.Match == req.Match && a.Actor == req.Actor
}

// Decide applies d to a, returning the decided approval. The rules: only a
// pending, unexpired approval is decided; the client that asked (when it is
// known) may not decide; a time-boxed approval lasts at most MaxFor.
func Decide(a Approval, d Decision) (Approval, error) {
	if st := a.StatusAt(d.At); st != StatusPending {
		return a, fmt.Errorf("approval %s is %s: %w", a.ID, st, ErrDecided)
	}
	if d.By == "" {
		return a, errors.New("a decision must name who made it")
	}
	if a.Actor != "" && strings.EqualFold(a.Actor, d.By) {
		return a, ErrSelfApproval
	}
	if len(d.Note) > MaxNote {
		return a, fmt.Errorf("the note is longer than %d bytes", MaxNote)
	}
	if d.For < 0 || d.For > MaxFor {
		return a, fmt.Errorf("--for must be between 0 and %v", MaxFor)
	}
	if !d.Approve && d.For != 0 {
		return a, errors.New("--for applies to an approval, not a denial")
	}
	a.Decision = &d
	if !d.Approve {
		a.Status = StatusDenied
		return a, nil
	}
	a.Status = StatusApproved
	if d.For > 0 {
		until := d.At.Add(d.For)
		a.CoversUntil = &until
	}
	return a, nil
}

// Filter selects approvals for a listing.
type Filter struct {
	GrantID string
	Status  string // "" for every status
}

// Store keeps approvals. Implementations are safe for concurrent use, and
// for use by several processes where they say so.
type Store interface {
	// Find returns the approval that decides req at now, if any: one that
	// lets it through (Lets), else the pending, denied or approved-but-used
	// approval of exactly this request (same Match and Actor), newest first.
	Find(ctx context.Context, req Request, now time.Time) (Approval, bool, error)
	// Get returns one approval by id.
	Get(ctx context.Context, id string) (Approval, error)
	// Create stores a new pending approval for req, expiring after ttl.
	// It fails with ErrTooManyPending when the grant has MaxPendingPerGrant.
	Create(ctx context.Context, req Request, now time.Time, ttl time.Duration) (Approval, error)
	// Use consumes a one-request approval for the request requestID, once:
	// a second Use fails with ErrUsed. A time-boxed approval is not consumed.
	Use(ctx context.Context, id, requestID string, now time.Time) error
	// Decide records a person's decision (approval.Decide's rules).
	Decide(ctx context.Context, id string, d Decision) (Approval, error)
	// List returns approvals, newest first.
	List(ctx context.Context, f Filter, now time.Time) ([]Approval, error)
	// Wait returns once the approval is no longer pending, or when ctx ends
	// (then with ctx's error).
	Wait(ctx context.Context, id string) (Approval, error)
}
