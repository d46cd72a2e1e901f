package remote

import (
	"context"
	"errors"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/server/client"
)

// Approvals on the control plane: an approval.Store over the sidecar's
// approval endpoints, so a sidecar on store.type remote holds requests
// that need approval (proxy/govern.go) in the table every replica shares.
// People decide through the admin API (`alter approvals --server`) or the
// portal, never through a sidecar token: Decide here refuses.

// ApprovalAPI is what the store needs of the server; *client.Client has it.
type ApprovalAPI interface {
	FindApproval(ctx context.Context, req approval.Request, now time.Time) (approval.Approval, bool, error)
	CreateApproval(ctx context.Context, req approval.Request, now time.Time, ttl time.Duration) (approval.Approval, error)
	UseApproval(ctx context.Context, id, requestID string, now time.Time) error
	SidecarApproval(ctx context.Context, id string) (approval.Approval, error)
	SidecarApprovals(ctx context.Context, f approval.Filter, now time.Time) ([]approval.Approval, error)
	WaitApproval(ctx context.Context, id string, wait time.Duration) (approval.Approval, error)
}

var _ ApprovalAPI = (*client.Client)(nil)

// ErrDecideOnServer: a sidecar does not decide approvals.
var ErrDecideOnServer = errors.New("approvals on the control plane are decided by people: alter approvals approve|deny --server, or the portal's Approvals page")

// Approvals returns the control plane's approvals for this sidecar's app,
// or nil when the resolver's API has no approval endpoints (a test fake).
func (r *Resolver) Approvals() approval.Store {
	if a, ok := r.api.(ApprovalAPI); ok {
		return NewApprovals(a)
	}
	return nil
}

// NewApprovals returns the approval.Store over api.
func NewApprovals(api ApprovalAPI) *Approvals { return &Approvals{api: api, poll: DefaultShortPoll} }

// Approvals is the store; see NewApprovals.
type Approvals struct {
	api  ApprovalAPI
	poll time.Duration // how often Wait polls while the server refuses it a long poll
}

var _ approval.Store = (*Approvals)(nil)

func (s *Approvals) Find(ctx context.Context, req approval.Request, now time.Time) (approval.Approval, bool, error) {
	return s.api.FindApproval(ctx, req, now)
}

func (s *Approvals) Get(ctx context.Context, id string) (approval.Approval, error) {
	return s.api.SidecarApproval(ctx, id)
}

func (s *Approvals) Create(ctx context.Context, req approval.Request, now time.Time, ttl time.Duration) (approval.Approval, error) {
	return s.api.CreateApproval(ctx, req, now, ttl)
}

func (s *Approvals) Use(ctx context.Context, id, requestID string, now time.Time) error {
	return s.api.UseApproval(ctx, id, requestID, now)
}

// Decide refuses: see ErrDecideOnServer.
func (s *Approvals) Decide(context.Context, string, approval.Decision) (approval.Approval, error) {
	return approval.Approval{}, ErrDecideOnServer
}

func (s *Approvals) List(ctx context.Context, f approval.Filter, now time.Time) ([]approval.Approval, error) {
	return s.api.SidecarApprovals(ctx, f, now)
}

// approvalWait is one long poll's wait.
const approvalWait = 25 * time.Second

// Wait long-polls the server until the approval is no longer pending or
// ctx ends; then it reads the approval once more, so the caller still
// learns what it is. While the server has no long-poll slot for this
// sidecar (429), it polls every DefaultShortPoll instead.
func (s *Approvals) Wait(ctx context.Context, id string) (approval.Approval, error) {
	for {
		wait := approvalWait
		if dl, ok := ctx.Deadline(); ok {
			wait = max(min(wait, time.Until(dl)), 0)
		}
		a, err := s.api.WaitApproval(ctx, id, wait)
		switch {
		case ctx.Err() != nil:
			return s.last(ctx, id)
		case err != nil && client.TooManyWaits(err):
			a, err = s.api.SidecarApproval(ctx, id)
			if err == nil && a.Status == approval.StatusPending {
				sleep(ctx, s.poll)
				continue
			}
		}
		if err != nil || a.Status != approval.StatusPending {
			return a, err
		}
	}
}

// last is the approval after ctx ended, with ctx's error unless it was
// decided meanwhile.
func (s *Approvals) last(ctx context.Context, id string) (approval.Approval, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	a, err := s.api.SidecarApproval(rctx, id)
	if err != nil || a.Status != approval.StatusPending {
		return a, err
	}
	return a, ctx.Err()
}
