package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/server/wire"
)

// Approvals (server/API.md, "Approvals"): the sidecar endpoints, which
// secretstore/remote turns into an approval.Store, and the admin ones
// the CLI decides with. Errors the server answers with an approval code
// wrap the approval package's error of that meaning (approval.ErrUsed,
// ErrDecided, ErrSelfApproval, ErrTooManyPending, and ErrNotFound for an
// unknown approval), besides the *Error.

// approvalErr is an API error that also wraps an approval sentinel.
type approvalErr struct {
	sentinel error
	err      error
}

func (e *approvalErr) Error() string   { return e.err.Error() }
func (e *approvalErr) Unwrap() []error { return []error{e.sentinel, e.err} }

func approvalError(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	var s error
	switch e.Code {
	case wire.CodeNotFound:
		s = approval.ErrNotFound
	case wire.CodeApprovalUsed:
		s = approval.ErrUsed
	case wire.CodeApprovalDecided:
		s = approval.ErrDecided
	case wire.CodeSelfApproval:
		s = approval.ErrSelfApproval
	case wire.CodeTooManyPending:
		s = approval.ErrTooManyPending
	default:
		return err
	}
	return &approvalErr{sentinel: s, err: err}
}

func approvalPath(prefix, id, suffix string) (string, error) {
	seg, err := segment(id)
	if err != nil {
		return "", &approvalErr{sentinel: approval.ErrNotFound, err: err}
	}
	return prefix + seg + suffix, nil
}

// FindApproval asks for the approval that decides req at now (the
// sidecar's clock).
func (c *Client) FindApproval(ctx context.Context, req approval.Request, now time.Time) (approval.Approval, bool, error) {
	var out wire.ApprovalFound
	err := c.do(ctx, call{method: http.MethodPost, path: "/v1/sidecar/find-approval", body: wire.ApprovalFind{Request: req, Now: now}, out: &out})
	if err != nil || !out.Found || out.Approval == nil {
		return approval.Approval{}, false, approvalError(err)
	}
	return *out.Approval, true, nil
}

// CreateApproval stores a pending approval for req, expiring ttl after now.
func (c *Client) CreateApproval(ctx context.Context, req approval.Request, now time.Time, ttl time.Duration) (approval.Approval, error) {
	var out approval.Approval
	err := c.do(ctx, call{method: http.MethodPost, path: "/v1/sidecar/approvals",
		body: wire.ApprovalCreate{Request: req, Now: now, TTL: ttl.String()}, out: &out})
	return out, approvalError(err)
}

// UseApproval consumes a one-request approval for the request requestID.
func (c *Client) UseApproval(ctx context.Context, id, requestID string, now time.Time) error {
	p, err := approvalPath("/v1/sidecar/approvals/", id, "/use")
	if err != nil {
		return err
	}
	return approvalError(c.do(ctx, call{method: http.MethodPost, path: p, body: wire.ApprovalUse{RequestID: requestID, Now: now}}))
}

// SidecarApproval returns one approval of the token's app.
func (c *Client) SidecarApproval(ctx context.Context, id string) (approval.Approval, error) {
	p, err := approvalPath("/v1/sidecar/approvals/", id, "")
	if err != nil {
		return approval.Approval{}, err
	}
	var out approval.Approval
	return out, approvalError(c.do(ctx, call{method: http.MethodGet, path: p, out: &out}))
}

func filterQuery(f approval.Filter) url.Values {
	q := url.Values{}
	if f.GrantID != "" {
		q.Set("grant", f.GrantID)
	}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	return q
}

// SidecarApprovals lists the token's app's approvals, newest first, with
// their status as of now.
func (c *Client) SidecarApprovals(ctx context.Context, f approval.Filter, now time.Time) ([]approval.Approval, error) {
	q := filterQuery(f)
	q.Set("now", now.UTC().Format(time.RFC3339Nano))
	var out wire.Approvals
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/sidecar/approvals", query: q, out: &out})
	return out.Approvals, approvalError(err)
}

// WaitApproval long-polls: it returns once the approval is decided (or
// used), or after wait with it still pending. wait is at most MaxWait.
func (c *Client) WaitApproval(ctx context.Context, id string, wait time.Duration) (approval.Approval, error) {
	p, err := approvalPath("/v1/sidecar/approvals/", id, "/wait")
	if err != nil {
		return approval.Approval{}, err
	}
	wait = min(max(wait, 0), MaxWait)
	var out approval.Approval
	err = c.do(ctx, call{method: http.MethodGet, path: p, query: url.Values{"wait": {wait.String()}}, out: &out, timeout: wait + c.Timeout})
	return out, approvalError(err)
}

// ListApprovals lists every app's approvals, newest first (admin).
func (c *Client) ListApprovals(ctx context.Context, f approval.Filter) ([]approval.Approval, error) {
	var out wire.Approvals
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/approvals", query: filterQuery(f), out: &out})
	return out.Approvals, approvalError(err)
}

// GetApproval returns one approval (admin).
func (c *Client) GetApproval(ctx context.Context, id string) (approval.Approval, error) {
	p, err := approvalPath("/v1/approvals/", id, "")
	if err != nil {
		return approval.Approval{}, err
	}
	var out approval.Approval
	return out, approvalError(c.do(ctx, call{method: http.MethodGet, path: p, out: &out}))
}

// DecideApproval approves or denies (admin). The server records the
// token's name as the decider and its own clock as the time.
func (c *Client) DecideApproval(ctx context.Context, id string, d wire.ApprovalDecide) (approval.Approval, error) {
	p, err := approvalPath("/v1/approvals/", id, "/decide")
	if err != nil {
		return approval.Approval{}, err
	}
	var out approval.Approval
	return out, approvalError(c.do(ctx, call{method: http.MethodPost, path: p, body: d, out: &out}))
}
