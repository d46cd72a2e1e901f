package portal

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// fakeBackend is an in-memory Backend. It keeps the fields it was given
// only to let tests check them; it never returns them.
type fakeBackend struct {
	mu     sync.Mutex
	grants []wire.GrantInfo
	fields map[string]inject.Fields // by secret id
	audit  []storage.AuditRecord
	// invalidMsg, when set, makes AddSecret and Rotate fail with ErrInvalid
	// and this message plus the submitted values: a backend that breaks
	// its promise not to quote them.
	quoteValues bool
	users       Users
	// approvals are the real rules in memory; decisions records every
	// DecideApproval call, refused ones included.
	approvals *approval.Memory
	decisions []approval.Decision
}

const testToken = "alt_a_testtoken"

func newFake() *fakeBackend {
	return &fakeBackend{fields: map[string]inject.Fields{}, approvals: approval.NewMemory()}
}

func (f *fakeBackend) ListApprovals(ctx context.Context, flt approval.Filter, now time.Time) ([]approval.Approval, error) {
	return f.approvals.List(ctx, flt, now)
}

func (f *fakeBackend) GetApproval(ctx context.Context, id string) (approval.Approval, error) {
	return f.approvals.Get(ctx, id)
}

func (f *fakeBackend) DecideApproval(ctx context.Context, id string, d approval.Decision) (approval.Approval, error) {
	f.mu.Lock()
	f.decisions = append(f.decisions, d)
	f.mu.Unlock()
	return f.approvals.Decide(ctx, id, d)
}

// decided returns the DecideApproval calls so far.
func (f *fakeBackend) decided() []approval.Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]approval.Decision(nil), f.decisions...)
}

func (f *fakeBackend) ListGrants(context.Context) ([]wire.GrantInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.GrantInfo(nil), f.grants...), nil
}

func (f *fakeBackend) find(id string) (int, error) {
	for i, g := range f.grants {
		if g.ID == id {
			return i, nil
		}
	}
	return 0, fmt.Errorf("grant %s: %w", id, secretstore.ErrNotFound)
}

func (f *fakeBackend) GetGrant(_ context.Context, id string) (wire.GrantInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(id)
	if err != nil {
		return wire.GrantInfo{}, err
	}
	return f.grants[i], nil
}

func (f *fakeBackend) AddSecret(_ context.Context, ns secretstore.NewSecret, app string) (secretstore.Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.quoteValues {
		return secretstore.Grant{}, fmt.Errorf("%w: value %v is not accepted", secretstore.ErrInvalid, map[string]string(ns.Fields))
	}
	now := time.Now().UTC()
	g := secretstore.Grant{ID: uuid.NewString(), SecretID: uuid.NewString(), Name: ns.Name, Labels: ns.Labels,
		Policy: ns.Policy, ExpiresAt: ns.ExpiresAt, CreatedAt: now, UpdatedAt: now}
	f.fields[g.SecretID] = ns.Fields
	f.grants = append(f.grants, wire.GrantInfo{App: app, GrantInfo: secretstore.GrantInfo{Grant: g, Status: secretstore.StatusActive,
		Secret: secretstore.SecretInfo{ID: g.SecretID, Spec: ns.Spec, Provider: ns.Provider, Fields: ns.Fields.Names(), Version: 1, UpdatedAt: now}}})
	return g, nil
}

func (f *fakeBackend) Clone(_ context.Context, parentID string, c secretstore.CloneRequest) (secretstore.Grant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(parentID)
	if err != nil {
		return secretstore.Grant{}, err
	}
	p := f.grants[i]
	if p.Status != secretstore.StatusActive {
		return secretstore.Grant{}, fmt.Errorf("%w: parent is %s", secretstore.ErrInvalid, p.Status)
	}
	now := time.Now().UTC()
	g := p.Grant
	g.ID, g.Parent, g.CreatedAt, g.UpdatedAt, g.Name = uuid.NewString(), p.ID, now, now, c.Name
	if c.TTL > 0 {
		x := now.Add(c.TTL)
		g.ExpiresAt = &x
	}
	info := p
	info.Grant, info.EffectiveExpiresAt = g, g.ExpiresAt
	f.grants = append(f.grants, info)
	return g, nil
}

func (f *fakeBackend) Revoke(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(id)
	if err != nil {
		return err
	}
	f.grants[i].Revoked, f.grants[i].Status = true, secretstore.StatusRevoked
	for j := range f.grants {
		if f.grants[j].Parent == id {
			f.grants[j].Status = secretstore.StatusParentRevoked
		}
	}
	return nil
}

func (f *fakeBackend) Rotate(_ context.Context, id string, fields inject.Fields) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(id)
	if err != nil {
		return err
	}
	if f.quoteValues {
		return fmt.Errorf("%w: value %v is not accepted", secretstore.ErrInvalid, map[string]string(fields))
	}
	f.fields[f.grants[i].SecretID] = fields
	f.grants[i].Secret.Version++
	return nil
}

func (f *fakeBackend) QueryAudit(_ context.Context, q storage.AuditQuery) (storage.AuditPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []storage.AuditRecord
	for _, r := range f.audit {
		if (q.GrantID == "" || r.GrantID == q.GrantID) && (q.Actor == "" || r.Actor == q.Actor) && (q.Decision == "" || r.Decision == q.Decision) &&
			(q.RunID == "" || r.RunID == q.RunID) && (q.Tool == "" || r.Tool == q.Tool) && (q.Event == "" || r.Event == q.Event) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return storage.AuditPage{Records: out}, nil
}

func (f *fakeBackend) Providers() *providers.Set { return providers.Catalog() }

func (f *fakeBackend) RecordEvent(ctx context.Context, e storage.ServerEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, e.Record())
	return nil
}

func (f *fakeBackend) CheckAdminToken(_ context.Context, token string) (string, error) {
	if sameToken(token, testToken) {
		return "test", nil
	}
	return "", ErrBadCredentials
}

func (f *fakeBackend) CheckPassword(ctx context.Context, user, password string) (string, error) {
	return f.users.Check(ctx, user, password)
}

// secretOf returns the fields stored for a grant (test inspection only).
func (f *fakeBackend) secretOf(id string) inject.Fields {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, err := f.find(id)
	if err != nil {
		return nil
	}
	return f.fields[f.grants[i].SecretID]
}
