// Package testapprovals lets stores that only hold approvals of real
// grants run approval/approvaltest, whose requests name grants "g1" and
// "g2": Rename maps those names onto grants the test made, both ways.
// Only tests import it.
package testapprovals

import (
	"context"
	"time"

	"github.com/alter-sidecar/alter/approval"
)

// Rename returns s seen through ids (test name -> real grant id): requests
// and filters go in with the real id, approvals come back with the name.
func Rename(s approval.Store, ids map[string]string) approval.Store {
	back := make(map[string]string, len(ids))
	for k, v := range ids {
		back[v] = k
	}
	return &renamed{s: s, to: ids, back: back}
}

type renamed struct {
	s        approval.Store
	to, back map[string]string
}

func (r *renamed) in(req approval.Request) approval.Request {
	if id, ok := r.to[req.GrantID]; ok {
		req.GrantID = id
	}
	return req
}

func (r *renamed) out(a approval.Approval) approval.Approval {
	if n, ok := r.back[a.GrantID]; ok {
		a.GrantID = n
	}
	return a
}

func (r *renamed) Find(ctx context.Context, req approval.Request, now time.Time) (approval.Approval, bool, error) {
	a, ok, err := r.s.Find(ctx, r.in(req), now)
	return r.out(a), ok, err
}

func (r *renamed) Get(ctx context.Context, id string) (approval.Approval, error) {
	a, err := r.s.Get(ctx, id)
	return r.out(a), err
}

func (r *renamed) Create(ctx context.Context, req approval.Request, now time.Time, ttl time.Duration) (approval.Approval, error) {
	a, err := r.s.Create(ctx, r.in(req), now, ttl)
	return r.out(a), err
}

func (r *renamed) Use(ctx context.Context, id, requestID string, now time.Time) error {
	return r.s.Use(ctx, id, requestID, now)
}

func (r *renamed) Decide(ctx context.Context, id string, d approval.Decision) (approval.Approval, error) {
	a, err := r.s.Decide(ctx, id, d)
	return r.out(a), err
}

func (r *renamed) List(ctx context.Context, f approval.Filter, now time.Time) ([]approval.Approval, error) {
	if id, ok := r.to[f.GrantID]; ok {
		f.GrantID = id
	}
	list, err := r.s.List(ctx, f, now)
	for i := range list {
		list[i] = r.out(list[i])
	}
	return list, err
}

func (r *renamed) Wait(ctx context.Context, id string) (approval.Approval, error) {
	a, err := r.s.Wait(ctx, id)
	return r.out(a), err
}
