package main

import (
	"context"
	"errors"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/wire"
)

// serverApprovals is what `alter approvals --server` needs of the control
// plane: list, show and decide through the admin API. The server names
// the decider (the admin token's name) and the time; the decision's By
// and At here are ignored.
type serverApprovals struct{ c *client.Client }

var errNotFromCLI = errors.New("only a sidecar holds requests for approval")

func (s serverApprovals) Find(context.Context, approval.Request, time.Time) (approval.Approval, bool, error) {
	return approval.Approval{}, false, errNotFromCLI
}

func (s serverApprovals) Create(context.Context, approval.Request, time.Time, time.Duration) (approval.Approval, error) {
	return approval.Approval{}, errNotFromCLI
}

func (s serverApprovals) Use(context.Context, string, string, time.Time) error { return errNotFromCLI }

func (s serverApprovals) Wait(context.Context, string) (approval.Approval, error) {
	return approval.Approval{}, errNotFromCLI
}

func (s serverApprovals) Get(ctx context.Context, id string) (approval.Approval, error) {
	return s.c.GetApproval(ctx, id)
}

func (s serverApprovals) List(ctx context.Context, f approval.Filter, _ time.Time) ([]approval.Approval, error) {
	return s.c.ListApprovals(ctx, f)
}

func (s serverApprovals) Decide(ctx context.Context, id string, d approval.Decision) (approval.Approval, error) {
	body := wire.ApprovalDecide{Decision: wire.DecisionDeny, Note: d.Note}
	if d.Approve {
		body.Decision = wire.DecisionApprove
	}
	if d.For > 0 {
		body.For = d.For.String()
	}
	return s.c.DecideApproval(ctx, id, body)
}
