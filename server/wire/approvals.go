package wire

import (
	"time"

	"github.com/alter-sidecar/alter/approval"
)

// Approvals: requests a grant's approval rule holds for a person
// (package approval). The sidecar endpoints are an approval.Store over
// HTTP, scoped to the token's app; the admin endpoints list and decide.

// Approval error codes (server/API.md): each maps back onto the approval
// package's error of the same meaning.
const (
	CodeApprovalDecided = "approval_decided"  // 409: the approval is no longer pending
	CodeApprovalUsed    = "approval_used"     // 409: a one-request approval was used already
	CodeSelfApproval    = "self_approval"     // 403: the decider is the client that asked
	CodeTooManyPending  = "approvals_pending" // 429: approval.MaxPendingPerGrant are waiting
)

// ApprovalFind is the body of POST /v1/sidecar/find-approval.
type ApprovalFind struct {
	Request approval.Request `json:"request"`
	Now     time.Time        `json:"now"`
}

// ApprovalFound is its answer: Approval is set when Found.
type ApprovalFound struct {
	Found    bool               `json:"found"`
	Approval *approval.Approval `json:"approval,omitempty"`
}

// ApprovalCreate is the body of POST /v1/sidecar/approvals.
type ApprovalCreate struct {
	Request approval.Request `json:"request"`
	Now     time.Time        `json:"now"`
	TTL     string           `json:"ttl"` // a Go duration, 1s to 30 days
}

// ApprovalUse is the body of POST /v1/sidecar/approvals/{id}/use.
type ApprovalUse struct {
	RequestID string    `json:"request_id"`
	Now       time.Time `json:"now"`
}

// ApprovalDecide is the body of POST /v1/approvals/{id}/decide. Who
// decides and when is the server's to say: the admin token's name (or
// the portal user) and the server's clock.
type ApprovalDecide struct {
	Decision string `json:"decision"` // "approve" or "deny"
	Note     string `json:"note,omitempty"`
	For      string `json:"for,omitempty"` // a Go duration: a time-boxed approval
}

// Decisions of ApprovalDecide.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
)

// Approvals is the answer to the approval listings.
type Approvals struct {
	Approvals []approval.Approval `json:"approvals"`
}

// MaxApprovalList bounds one listing: the newest so many.
const MaxApprovalList = 1000
