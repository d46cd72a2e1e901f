package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
)

// The file store's admin log: every change a CLI command makes to the
// file store is recorded in audit.admin_path (see audit.AppendAdmin) in
// two lines with one event id: "attempted" before the change, and
// "succeeded" or "failed" after it. When the first line cannot be
// written the change is not made: a change that happened always has its
// record. When the second cannot, the command fails saying so; the
// "attempted" line without an outcome then says that the change may
// have happened.

// adminRecorder writes the admin events of one command.
type adminRecorder struct {
	path  string
	actor string // the OS user and host: any file-store operator can claim another
}

// record logs ev as attempted, runs change, and logs its outcome. after,
// when not nil, fills in what only the change's result can tell (a new
// grant's id, the policy after).
func (r adminRecorder) record(ev audit.AdminEvent, change func() error, after func(*audit.AdminEvent)) error {
	ev.EventID, ev.Actor, ev.Outcome = uuid.NewString(), r.actor, audit.OutcomeAttempted
	if err := audit.AppendAdmin(r.path, ev); err != nil {
		return fmt.Errorf("%s not made: %w", ev.Event, err)
	}
	err := change()
	ev.Time, ev.Outcome = time.Now(), audit.OutcomeSucceeded
	if err != nil {
		ev.Outcome, ev.Error = audit.OutcomeFailed, errorCode(err)
	} else if after != nil {
		after(&ev)
	}
	if lerr := audit.AppendAdmin(r.path, ev); lerr != nil {
		if err != nil {
			return err
		}
		return fmt.Errorf("%s was made, but its outcome could not be recorded (the admin log shows it as attempted): %w", ev.Event, lerr)
	}
	return err
}

// errorCode is what the admin log keeps of a failure: its class, never
// the message (which can quote input).
func errorCode(err error) string {
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		return "not_found"
	case errors.Is(err, secretstore.ErrInvalid):
		return "invalid"
	case errors.Is(err, secretstore.ErrStoreUnavailable):
		return "store_unavailable"
	}
	return "error"
}

// loggedStore is the file store with its admin writes recorded.
type loggedStore struct {
	*secretstore.FileStore
	rec adminRecorder
}

// policyOf is a grant's policy and status as the admin log shows them
// before a change; ok is false for an unknown grant.
func (s loggedStore) policyOf(ctx context.Context, id string) (p *policy.Spec, status string) {
	g, err := s.FileStore.Get(ctx, id)
	if err != nil {
		return nil, ""
	}
	return &g.Policy, g.Status
}

// stateAfter fills in a grant's policy and status after a change.
func (s loggedStore) stateAfter(ctx context.Context, id string) func(*audit.AdminEvent) {
	return func(ev *audit.AdminEvent) {
		if p, st := s.policyOf(ctx, id); p != nil {
			ev.PolicyAfter = p
			ev.Detail = withDetail(ev.Detail, "status_after", st)
		}
	}
}

func withDetail(d map[string]string, k, v string) map[string]string {
	if d == nil {
		d = map[string]string{}
	}
	d[k] = v
	return d
}

func (s loggedStore) grantEvent(ctx context.Context, event, id string) audit.AdminEvent {
	ev := audit.AdminEvent{Event: event, GrantID: id}
	if p, st := s.policyOf(ctx, id); p != nil {
		ev.PolicyBefore, ev.Detail = p, map[string]string{"status_before": st}
	}
	return ev
}

func (s loggedStore) Add(ctx context.Context, ns secretstore.NewSecret) (secretstore.Grant, error) {
	var g secretstore.Grant
	ev := audit.AdminEvent{Event: audit.EventSecretAdd, Target: ns.Name, Detail: map[string]string{"provider": ns.Provider}}
	err := s.rec.record(ev, func() (err error) { g, err = s.FileStore.Add(ctx, ns); return err }, func(ev *audit.AdminEvent) {
		ev.GrantID, ev.PolicyAfter = g.ID, g.Policy
	})
	return g, err
}

func (s loggedStore) Rotate(ctx context.Context, id string, fields inject.Fields) error {
	ev := s.grantEvent(ctx, audit.EventGrantRotate, id)
	ev.Detail = withDetail(ev.Detail, "fields", fmt.Sprint(fields.Names())) // names only
	return s.rec.record(ev, func() error { return s.FileStore.Rotate(ctx, id, fields) }, nil)
}

func (s loggedStore) Revoke(ctx context.Context, id string) error {
	return s.rec.record(s.grantEvent(ctx, audit.EventGrantRevoke, id),
		func() error { return s.FileStore.Revoke(ctx, id) }, s.stateAfter(ctx, id))
}

func (s loggedStore) Clone(ctx context.Context, parentID string, c secretstore.CloneRequest) (secretstore.Grant, error) {
	var g secretstore.Grant
	ev := s.grantEvent(ctx, audit.EventGrantClone, parentID)
	ev.Detail = withDetail(ev.Detail, "parent_grant_id", parentID)
	err := s.rec.record(ev, func() (err error) { g, err = s.FileStore.Clone(ctx, parentID, c); return err }, func(ev *audit.AdminEvent) {
		ev.GrantID, ev.PolicyAfter = g.ID, g.Policy
	})
	return g, err
}

func (s loggedStore) SetPolicy(ctx context.Context, id string, spec policy.Spec) error {
	return s.rec.record(s.grantEvent(ctx, audit.EventGrantPolicy, id),
		func() error { return s.FileStore.SetPolicy(ctx, id, spec) }, s.stateAfter(ctx, id))
}

func (s loggedStore) Delete(ctx context.Context, id string, withClones bool) (secretstore.Deleted, error) {
	var d secretstore.Deleted
	ev := s.grantEvent(ctx, audit.EventGrantDelete, id)
	err := s.rec.record(ev, func() (err error) { d, err = s.FileStore.Delete(ctx, id, withClones); return err }, func(ev *audit.AdminEvent) {
		ev.Detail = withDetail(ev.Detail, "deleted_grants", fmt.Sprint(d.Grants))
		ev.Detail["deleted_secrets"] = fmt.Sprint(d.Secrets)
	})
	return d, err
}

func (s loggedStore) CreateProfile(ctx context.Context, np secretstore.NewProfile) (profile.Profile, profile.Token, error) {
	var p profile.Profile
	var tok profile.Token
	ev := audit.AdminEvent{Event: audit.EventProfileCreate, Target: np.Name,
		Detail: map[string]string{"grants": fmt.Sprint(np.Grants), "deny_unmatched": fmt.Sprint(np.DenyUnmatched)}}
	err := s.rec.record(ev, func() (err error) { p, tok, err = s.FileStore.CreateProfile(ctx, np); return err }, nil)
	return p, tok, err
}

func (s loggedStore) UpdateProfile(ctx context.Context, name string, c secretstore.ProfileChange) (profile.Profile, error) {
	var p profile.Profile
	ev := audit.AdminEvent{Event: audit.EventProfileUpdate, Target: name, Detail: map[string]string{}}
	if before, err := s.FileStore.GetProfile(ctx, name); err == nil {
		ev.Detail["grants_before"] = fmt.Sprint(before.Grants)
	}
	if c.Grants != nil {
		ev.Detail["grants_after"] = fmt.Sprint(c.Grants)
	}
	if c.DenyUnmatched != nil {
		ev.Detail["deny_unmatched"] = fmt.Sprint(*c.DenyUnmatched)
	}
	err := s.rec.record(ev, func() (err error) { p, err = s.FileStore.UpdateProfile(ctx, name, c); return err }, nil)
	return p, err
}

func (s loggedStore) RevokeProfile(ctx context.Context, name string) error {
	return s.rec.record(audit.AdminEvent{Event: audit.EventProfileRevoke, Target: name},
		func() error { return s.FileStore.RevokeProfile(ctx, name) }, nil)
}

func (s loggedStore) RotateProfileToken(ctx context.Context, name string) (profile.Token, error) {
	var tok profile.Token
	err := s.rec.record(audit.AdminEvent{Event: audit.EventProfileTokenRotate, Target: name},
		func() (err error) { tok, err = s.FileStore.RotateProfileToken(ctx, name); return err }, nil)
	return tok, err
}

// loggedApprovals records the file store's approval decisions.
type loggedApprovals struct {
	approval.Store
	rec adminRecorder
}

func (s loggedApprovals) Decide(ctx context.Context, id string, d approval.Decision) (approval.Approval, error) {
	var out approval.Approval
	verdict := "deny"
	if d.Approve {
		verdict = "approve"
	}
	ev := audit.AdminEvent{Event: audit.EventApprovalDecide, Target: id,
		Detail: map[string]string{"approval_id": id, "approval": verdict, "note": d.Note}}
	if d.For > 0 {
		ev.Detail["for"] = d.For.String()
	}
	if ap, err := s.Store.Get(ctx, id); err == nil {
		ev.GrantID = ap.GrantID
		ev.Detail["requested_by"], ev.Detail["method"], ev.Detail["host"], ev.Detail["path"] = ap.Actor, ap.Method, ap.Host, ap.Path
	}
	err := s.rec.record(ev, func() (err error) { out, err = s.Store.Decide(ctx, id, d); return err }, nil)
	return out, err
}

// adminRecorder returns the recorder for cfg's admin log.
func newAdminRecorder(path string) adminRecorder {
	return adminRecorder{path: path, actor: localActor()}
}
