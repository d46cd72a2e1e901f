package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// StorageBackend is the Backend of `alter server`: the control plane's
// storage, the built-in provider catalog, and the server's logins.
type StorageBackend struct {
	Store storage.Storage
	// Catalog is the provider catalog; nil means providers.Catalog().
	Catalog *providers.Set
	// CheckUser checks a username and password: DBUsers.Check for the
	// users in Store, Users.Check for a fixed set. Nil: password logins
	// are refused.
	CheckUser func(ctx context.Context, user, password string) (string, error)
}

var _ Backend = (*StorageBackend)(nil)

// ListGrants lists every grant, of every app.
func (b *StorageBackend) ListGrants(ctx context.Context) ([]wire.GrantInfo, error) {
	gs, err := b.Store.ListGrants(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]wire.GrantInfo, len(gs))
	for i, g := range gs {
		out[i] = wire.GrantInfo{GrantInfo: g.GrantInfo, App: g.App}
	}
	return out, nil
}

// GetGrant returns one grant.
func (b *StorageBackend) GetGrant(ctx context.Context, id string) (wire.GrantInfo, error) {
	g, err := b.Store.GetGrant(ctx, id)
	return wire.GrantInfo{GrantInfo: g.GrantInfo, App: g.App}, err
}

// AddSecret stores a secret for app.
func (b *StorageBackend) AddSecret(ctx context.Context, ns secretstore.NewSecret, app string) (secretstore.Grant, error) {
	return b.Store.AddFor(ctx, app, ns)
}

// Clone clones a grant.
func (b *StorageBackend) Clone(ctx context.Context, parentID string, c secretstore.CloneRequest) (secretstore.Grant, error) {
	return b.Store.Clone(ctx, parentID, c)
}

// RecordEvent stores a server audit record.
func (b *StorageBackend) RecordEvent(ctx context.Context, e storage.ServerEvent) error {
	return b.Store.RecordServerEvent(ctx, e)
}

// Revoke revokes a grant and its clones.
func (b *StorageBackend) Revoke(ctx context.Context, id string) error { return b.Store.Revoke(ctx, id) }

// Rotate replaces a secret's values.
func (b *StorageBackend) Rotate(ctx context.Context, id string, f inject.Fields) error {
	return b.Store.Rotate(ctx, id, f)
}

// QueryAudit queries the audit records.
func (b *StorageBackend) QueryAudit(ctx context.Context, q storage.AuditQuery) (storage.AuditPage, error) {
	return b.Store.QueryAudit(ctx, q)
}

// ListApprovals lists approvals of every app.
func (b *StorageBackend) ListApprovals(ctx context.Context, f approval.Filter, now time.Time) ([]approval.Approval, error) {
	return b.Store.Approvals("").List(ctx, f, now)
}

// GetApproval returns one approval, of any app.
func (b *StorageBackend) GetApproval(ctx context.Context, id string) (approval.Approval, error) {
	return b.Store.Approvals("").Get(ctx, id)
}

// DecideApproval decides an approval. The server audit record names the
// portal user twice: as the decider and as who acted ("portal:NAME"), so
// a decision in the portal is told apart from one through the API
// ("token:NAME").
func (b *StorageBackend) DecideApproval(ctx context.Context, id string, d approval.Decision) (approval.Approval, error) {
	return b.Store.Approvals("").Decide(storage.ActingAs(ctx, "portal:"+d.By), id, d)
}

// Providers returns the catalog.
func (b *StorageBackend) Providers() *providers.Set {
	if b.Catalog != nil {
		return b.Catalog
	}
	return providers.Catalog()
}

// CheckAdminToken checks an admin token: the same tokens, stored the
// same way (as digests), as the /v1 API takes. A sidecar token is refused.
func (b *StorageBackend) CheckAdminToken(ctx context.Context, token string) (string, error) {
	t, err := b.Store.AuthenticateToken(ctx, token)
	switch {
	case errors.Is(err, storage.ErrUnauthenticated):
		return "", fmt.Errorf("%w: %v", ErrBadCredentials, err)
	case err != nil:
		return "", err
	case t.Kind != storage.TokenAdmin:
		return "", fmt.Errorf("%w: token %s is a %s token", ErrBadCredentials, t.ID, t.Kind)
	}
	return t.Name, nil
}

// CheckPassword checks a username and password.
func (b *StorageBackend) CheckPassword(ctx context.Context, user, password string) (string, error) {
	if b.CheckUser == nil {
		return "", ErrBadCredentials
	}
	return b.CheckUser(ctx, user, password)
}

// DBUsers checks password logins against the users of server/storage
// (`alter server user add`): it is the CheckUser of `alter server`. Like
// Users.Check, it hashes whether or not the user exists, and whether or not
// they are disabled, so a login takes as long for every name.
type DBUsers struct {
	Store storage.Storage
}

// Check returns the user's name if password is theirs and the user is not
// disabled, or an error wrapping ErrBadCredentials. A user row that fails
// its integrity check, or a stored hash that does not parse, is another
// error: the login fails, and the portal logs it and answers 503.
func (u DBUsers) Check(ctx context.Context, user, password string) (string, error) {
	rec, hash, err := u.Store.UserHash(ctx, user)
	if err != nil {
		hash = dummyHash()
	}
	match, herr := CheckPassword(hash, password)
	switch {
	case errors.Is(err, storage.ErrUserNotFound):
		return "", ErrBadCredentials
	case err != nil:
		return "", err
	case herr != nil:
		return "", fmt.Errorf("user %q: %w", user, herr)
	case !match:
		return "", ErrBadCredentials
	case rec.DisabledAt != nil:
		return "", fmt.Errorf("%w: user %s is disabled", ErrBadCredentials, rec.Name)
	}
	return rec.Name, nil
}
