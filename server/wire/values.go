package wire

import (
	"encoding/json"
	"time"
)

// Change kinds.
const (
	ChangeAdd    = "add"
	ChangeClone  = "clone"
	ChangeRotate = "rotate"
	ChangeRevoke = "revoke"
	ChangePolicy = "policy"
	// ChangeToken is a token's revocation: it names no grant (GrantID is
	// empty), so ChangesFor lists it to no app; it only wakes waiters.
	ChangeToken = "token"
	// ChangeProfile is a profile's creation, change, revocation or new
	// token: it names no grant (GrantID is empty) but the profile
	// (Profile), and ChangesFor lists it to the profile's app only.
	ChangeProfile = "profile"
)

// Change is one entry of the change sequence: grant GrantID may resolve
// differently since Seq. A write records one change per affected grant (a
// revocation or policy change also lists every clone below the grant, a
// rotation every grant sharing the secret), so a sidecar can drop exactly
// those cache entries without knowing the grant tree.
type Change struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	GrantID string    `json:"grant_id"`
	// Profile names the profile of a ChangeProfile change: drop any
	// cached binding of it (whatever token it was found by).
	Profile string `json:"profile,omitempty"`
}

// AuditRecord is one audit record as a sidecar ships it. The filter columns
// are copied out of the record for indexing; Body is the record itself,
// stored as given (it is never a secret: the sidecar's audit package
// guarantees that).
type AuditRecord struct {
	// ID is unique per record across all shippers (for example the
	// sidecar's name and the record's position in its log); it makes
	// retried shipments idempotent.
	ID       string    `json:"id"`
	Source   string    `json:"source"` // the app or sidecar that shipped it
	Time     time.Time `json:"time"`
	GrantID  string    `json:"grant_id,omitempty"`
	Actor    string    `json:"actor,omitempty"`
	Decision string    `json:"decision"` // audit.DecisionAllow or audit.DecisionDeny
	// RunID and Tool are the record's call context (run_id, tool), as
	// filter columns; empty in records without one.
	RunID string `json:"run_id,omitempty"`
	Tool  string `json:"tool,omitempty"`
	// Event is "grant_use" for a record a sidecar shipped, else the
	// server's own event (audit.Event*: grant_revoke, portal_login, ...).
	Event string          `json:"event,omitempty"`
	Body  json.RawMessage `json:"body"`
}

// AuditQuery selects audit records. Empty fields do not filter.
type AuditQuery struct {
	GrantID  string
	Actor    string
	Decision string
	RunID    string    // the call context's run id (X-Alter-Run-Id as recorded)
	Tool     string    // the call context's tool (X-Alter-Tool as recorded)
	Event    string    // grant_use, or one of the server's events (audit.Event*)
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	// Limit is the page size: DefaultAuditLimit when 0, at most
	// MaxAuditLimit.
	Limit int
	// Cursor is AuditPage.Next of the previous page; empty for the first.
	Cursor string
	// Oldest pages oldest first (exports read the trail in the order it
	// happened); the default is newest first. A cursor belongs to the
	// order it was made in.
	Oldest bool
}

// AuditPage is one page of results. Next is empty on the last page.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	Next    string        `json:"next,omitempty"`
}

// Audit page sizes.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// ForwardStatus is one audit.forward target of the control plane as the
// database knows it (GET /v1/audit/forwarding).
type ForwardStatus struct {
	Name string `json:"name"`
	// Configured: the answering replica's server.yaml names the target;
	// false for one a past config named, whose position is kept.
	Configured bool `json:"configured"`
	// Holder is the replica sending to it ("host/pid/random"), empty when
	// none holds a running lease (a killed holder's has run out);
	// LeaseUntil is when another may take over.
	Holder     string    `json:"holder,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// ForwardedAt is when a batch was last acknowledged (zero: never).
	ForwardedAt time.Time `json:"forwarded_at,omitzero"`
	// Pending counts the committed records not yet acknowledged, up to
	// PendingMax; PendingMore says there are more than that.
	Pending     int  `json:"pending"`
	PendingMore bool `json:"pending_more,omitempty"`
}

// ForwardStatuses is the body of GET /v1/audit/forwarding.
type ForwardStatuses struct {
	Targets []ForwardStatus `json:"targets"`
}

// PendingMax bounds the count of a ForwardStatus: counting a trail far
// behind must not scan it all.
const PendingMax = 1_000_000
