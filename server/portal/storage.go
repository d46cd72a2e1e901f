package portal

import (
	"context"
	"fmt"

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
	// CheckToken returns the name of a live admin token, or an error
	// wrapping ErrBadCredentials. Nil: token logins are refused.
	CheckToken func(ctx context.Context, token string) (string, error)
	// CheckUser checks a username and password (Users.Check does, for a
	// fixed set). Nil: password logins are refused.
	CheckUser func(ctx context.Context, user, password string) (string, error)
}

var _ Backend = (*StorageBackend)(nil)

// appAdder is a store that records a grant's app (the control plane's
// storage does, from schema 0002 on).
type appAdder interface {
	AddFor(ctx context.Context, app string, ns secretstore.NewSecret) (secretstore.Grant, error)
}

// ListGrants lists every grant.
func (b *StorageBackend) ListGrants(ctx context.Context) ([]wire.GrantInfo, error) {
	gs, err := b.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.GrantInfo, len(gs))
	for i, g := range gs {
		out[i] = wire.GrantInfo{GrantInfo: g}
	}
	return out, nil
}

// GetGrant returns one grant.
func (b *StorageBackend) GetGrant(ctx context.Context, id string) (wire.GrantInfo, error) {
	g, err := b.Store.Get(ctx, id)
	return wire.GrantInfo{GrantInfo: g}, err
}

// AddSecret stores a secret. An app needs a store that records apps; one
// that does not refuses it rather than store a grant no sidecar can use.
func (b *StorageBackend) AddSecret(ctx context.Context, ns secretstore.NewSecret, app string) (secretstore.Grant, error) {
	if a, ok := b.Store.(appAdder); ok {
		return a.AddFor(ctx, app, ns)
	}
	if app != "" {
		return secretstore.Grant{}, fmt.Errorf("%w: this store does not record apps; leave App empty", secretstore.ErrInvalid)
	}
	return b.Store.Add(ctx, ns)
}

// Clone clones a grant.
func (b *StorageBackend) Clone(ctx context.Context, parentID string, c secretstore.CloneRequest) (secretstore.Grant, error) {
	return b.Store.Clone(ctx, parentID, c)
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

// Providers returns the catalog.
func (b *StorageBackend) Providers() *providers.Set {
	if b.Catalog != nil {
		return b.Catalog
	}
	return providers.Catalog()
}

// CheckAdminToken checks an admin token.
func (b *StorageBackend) CheckAdminToken(ctx context.Context, token string) (string, error) {
	if b.CheckToken == nil {
		return "", ErrBadCredentials
	}
	return b.CheckToken(ctx, token)
}

// CheckPassword checks a username and password.
func (b *StorageBackend) CheckPassword(ctx context.Context, user, password string) (string, error) {
	if b.CheckUser == nil {
		return "", ErrBadCredentials
	}
	return b.CheckUser(ctx, user, password)
}
