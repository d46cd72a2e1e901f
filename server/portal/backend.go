package portal

import (
	"context"
	"errors"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// Backend is what the portal needs from the control plane. StorageBackend
// implements it over server/storage; tests use an in-memory fake.
//
// Errors wrap secretstore.ErrNotFound (an unknown grant; approval.ErrNotFound
// for an unknown approval),
// secretstore.ErrInvalid (bad input: the message is shown to the user, so
// it must not contain a secret value; the portal scrubs submitted values
// from it anyway) and secretstore.ErrStoreUnavailable. Anything else is an
// internal error: logged, never shown.
type Backend interface {
	// ListGrants returns every grant, revoked ones included, oldest first.
	ListGrants(ctx context.Context) ([]wire.GrantInfo, error)
	// GetGrant returns one grant.
	GetGrant(ctx context.Context, id string) (wire.GrantInfo, error)
	// AddSecret stores a secret and its first grant for app (may be empty).
	AddSecret(ctx context.Context, ns secretstore.NewSecret, app string) (secretstore.Grant, error)
	// Clone creates a narrower, shorter-lived grant on parentID's secret.
	Clone(ctx context.Context, parentID string, c secretstore.CloneRequest) (secretstore.Grant, error)
	// Revoke revokes a grant and, with it, its clones.
	Revoke(ctx context.Context, id string) error
	// Rotate replaces the values of the secret behind a grant.
	Rotate(ctx context.Context, id string, fields inject.Fields) error
	// QueryAudit returns one page of audit records, newest first.
	QueryAudit(ctx context.Context, q storage.AuditQuery) (storage.AuditPage, error)
	// ListApprovals returns the approvals f selects, newest first, each
	// with its status as of now (a lapsed pending one is expired).
	ListApprovals(ctx context.Context, f approval.Filter, now time.Time) ([]approval.Approval, error)
	// GetApproval returns one approval with its stored status.
	GetApproval(ctx context.Context, id string) (approval.Approval, error)
	// DecideApproval approves or denies; d.By is the portal user, and the
	// rules are approval.Decide's. Errors wrap approval.ErrNotFound,
	// approval.ErrDecided and approval.ErrSelfApproval besides the above.
	DecideApproval(ctx context.Context, id string, d approval.Decision) (approval.Approval, error)
	// Providers is the provider template catalog.
	Providers() *providers.Set

	// CheckAdminToken returns the name of a valid, unrevoked admin token,
	// or an error wrapping ErrBadCredentials.
	CheckAdminToken(ctx context.Context, token string) (name string, err error)
	// CheckPassword returns the user's name if password is theirs, or an
	// error wrapping ErrBadCredentials. It should take as long for an
	// unknown user as for a wrong password (see Users.Check).
	CheckPassword(ctx context.Context, user, password string) (name string, err error)
	// RecordEvent stores one of the server's own audit records (a login
	// or logout).
	RecordEvent(ctx context.Context, e storage.ServerEvent) error
}

// ErrBadCredentials: a login failed. Which part was wrong is not said.
var ErrBadCredentials = errors.New("bad credentials")

// now is the portal's clock.
func (p *Portal) now() time.Time { return p.cfg.Now() }
