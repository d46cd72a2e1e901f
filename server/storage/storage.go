package storage

import (
	"context"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/server/wire"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
)

// Storage is the control plane's persistent state. It is secretstore.Admin
// (so the API server can serve the same calls the file store answers) plus
// what only a server needs. Implementations are safe for concurrent use and
// hold no state of their own: several processes may share one database.
type Storage interface {
	secretstore.Admin

	// Resolve returns a usable grant with its opened secret, as
	// secretstore.Resolver does: errors wrap ErrGrantUnavailable for an
	// unknown, revoked or expired grant and ErrStoreUnavailable for a row
	// that cannot be read, opened or compiled.
	Resolve(ctx context.Context, grantID string, now time.Time) (*secretstore.Resolved, error)

	// LastChange is the newest change sequence number, 0 if none.
	LastChange(ctx context.Context) (int64, error)
	// Changes returns up to limit changes with Seq > after, oldest first.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)

	// InsertAudit stores records. A record whose ID is already stored is
	// skipped, so a shipper may retry a batch; inserted counts the new ones.
	// The batch is checked before anything is written.
	InsertAudit(ctx context.Context, recs ...AuditRecord) (inserted int, err error)
	// QueryAudit returns matching records, newest first, one page at a time.
	QueryAudit(ctx context.Context, q AuditQuery) (AuditPage, error)
	// ForwardStates lists the audit forwarding targets the database
	// knows (auditforward.go), by name.
	ForwardStates(ctx context.Context) ([]ForwardState, error)
	// AuditPendingAfter counts the committed records after p, at most max.
	AuditPendingAfter(ctx context.Context, p AuditPosition, max int) (n int, more bool, err error)

	// AddFor is Add for a grant of app (the app whose sidecar tokens may
	// resolve it; "" for none). Add is AddFor with "".
	AddFor(ctx context.Context, app string, s secretstore.NewSecret) (secretstore.Grant, error)
	// ListGrants lists the grants of app ("" for all), oldest first.
	ListGrants(ctx context.Context, app string) ([]GrantInfo, error)
	// GetGrant returns one grant with its app, or ErrNotFound.
	GetGrant(ctx context.Context, grantID string) (GrantInfo, error)
	// ResolveFor resolves a grant for a sidecar of app: another app's grant
	// is ErrGrantUnavailable, exactly like an unknown one.
	ResolveFor(ctx context.Context, app, grantID string, now time.Time) (*Resolution, error)
	// Policies returns the effective policies of all the app's grants,
	// revoked and expired ones included.
	Policies(ctx context.Context, app string) ([]GrantPolicy, error)
	// GrantApps returns the app of each existing grant of ids (at most
	// 1000); a grant that fails its integrity check maps to "".
	GrantApps(ctx context.Context, ids []string) (map[string]string, error)
	// LastChangeFor is LastChange limited to the grants of app.
	LastChangeFor(ctx context.Context, app string) (int64, error)
	// ChangesFor is Changes limited to the grants of app.
	ChangesFor(ctx context.Context, app string, after int64, limit int) ([]Change, error)
	// WaitChange returns as soon as LastChange is greater than after (on
	// any replica), or with ctx's error when ctx ends.
	WaitChange(ctx context.Context, after int64) (int64, error)

	// CreateProfile makes a profile of app (profile_write.go) and returns
	// its token, shown once. Errors as secretstore.ProfileAdmin's.
	CreateProfile(ctx context.Context, app string, np secretstore.NewProfile) (ProfileInfo, profile.Token, error)
	// UpdateProfile changes a live profile's grants or deny-unmatched flag.
	UpdateProfile(ctx context.Context, name string, c secretstore.ProfileChange) (ProfileInfo, error)
	// RevokeProfile revokes a profile for good (twice is fine).
	RevokeProfile(ctx context.Context, name string) error
	// RotateProfileToken replaces a live profile's token.
	RotateProfileToken(ctx context.Context, name string) (profile.Token, error)
	// ListProfiles lists the profiles of app ("" for all), oldest first.
	ListProfiles(ctx context.Context, app string) ([]ProfileInfo, error)
	// GetProfile returns one profile or an error wrapping profile.ErrNotFound.
	GetProfile(ctx context.Context, name string) (ProfileInfo, error)
	// ResolveProfileToken returns the binding of app's profile whose token
	// has this hex SHA-256: unknown, revoked and other apps' profiles are
	// ErrGrantUnavailable, a broken row ErrStoreUnavailable.
	ResolveProfileToken(ctx context.Context, app, tokenSHA256 string) (*ProfileBinding, error)
	// ResolveProfileName is ResolveProfileToken by the profile's name.
	ResolveProfileName(ctx context.Context, app, name string) (*ProfileBinding, error)
	// TakeUses grants up to want uses of a grant of app for actor, counted
	// against its rates and quotas and every ancestor's (limits.go).
	TakeUses(ctx context.Context, app, grantID, actor string, want int, now time.Time) (UseLease, error)

	// RecordServerEvent stores one of the server's own audit records
	// (serveraudit.go).
	RecordServerEvent(ctx context.Context, e ServerEvent) error
	// CreateToken stores a new API token and returns it once, with a
	// server audit record of who made it (ActingAs).
	CreateToken(ctx context.Context, n NewToken) (Token, string, error)
	// AuthenticateToken returns a live token; refusals wrap
	// ErrUnauthenticated, whatever the reason.
	AuthenticateToken(ctx context.Context, token string) (Token, error)
	// ListTokens lists tokens without their secrets, oldest first.
	ListTokens(ctx context.Context) ([]Token, error)
	// ApproveToken makes a pending token usable; the approver (ActingAs)
	// must not be who asked for it (ErrSameApprover).
	ApproveToken(ctx context.Context, id string) (Token, error)
	// TokenLive reports whether the token with this id is still live:
	// nil, or an error wrapping ErrUnauthenticated.
	TokenLive(ctx context.Context, id string) error
	// RevokeToken revokes a token and wakes every change wait, so those
	// of the token end; unknown ids wrap ErrTokenNotFound.
	RevokeToken(ctx context.Context, id string) (Token, error)

	// CreateUser stores a portal user with a password hash made by the
	// caller; a taken name wraps ErrUserExists.
	CreateUser(ctx context.Context, name, passwordHash string) (User, error)
	// UserHash returns a user, disabled or not, and their password hash;
	// an unknown name wraps ErrUserNotFound, a tampered row
	// secretstore.ErrStoreUnavailable.
	UserHash(ctx context.Context, name string) (User, string, error)
	// ListUsers lists users without their hashes, oldest first.
	ListUsers(ctx context.Context) ([]User, error)
	// DisableUser disables a user and ends their portal sessions; an
	// unknown name wraps ErrUserNotFound.
	DisableUser(ctx context.Context, name string) (User, error)

	// CreatePortalSession stores a portal session (by digest).
	CreatePortalSession(ctx context.Context, s PortalSession) error
	// GetPortalSession returns a session live at now; unknown, expired and
	// tampered sessions wrap ErrSessionNotFound.
	GetPortalSession(ctx context.Context, digest string, now time.Time) (PortalSession, error)
	// TouchPortalSession records a use and the session's new expiry.
	TouchPortalSession(ctx context.Context, digest string, seen, expires time.Time) error
	// DeletePortalSession deletes a session; unknown is not an error.
	DeletePortalSession(ctx context.Context, digest string) error
	// DeleteExpiredPortalSessions deletes the sessions expired at now.
	DeleteExpiredPortalSessions(ctx context.Context, now time.Time) (int64, error)

	// Approvals is the approvals of app's grants ("" for every app's) as
	// an approval.Store shared by every replica (approvals.go).
	Approvals(app string) approval.Store

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Sealer seals secret fields before they reach the database and opens them
// again. The blob is opaque here; it must carry whatever the Sealer needs
// (nonce, ciphertext) and must bind to secretID and keyID so a blob copied
// to another row fails to open. *secretstore.Keyring is the Sealer the
// server uses. The Sealer also seals the integrity key (integrity.go).
type Sealer interface {
	Seal(secretID string, fields inject.Fields) (keyID string, blob []byte, err error)
	Open(secretID, keyID string, blob []byte) (inject.Fields, error)
}

// The API's value types live in server/wire, so the sidecar's packages can
// use them without linking the database drivers; storage speaks them too.
type (
	Change      = wire.Change
	AuditRecord = wire.AuditRecord
	AuditQuery  = wire.AuditQuery
	AuditPage   = wire.AuditPage
)

// Change kinds and audit page sizes (server/wire).
const (
	ChangeAdd         = wire.ChangeAdd
	ChangeClone       = wire.ChangeClone
	ChangeRotate      = wire.ChangeRotate
	ChangeRevoke      = wire.ChangeRevoke
	ChangePolicy      = wire.ChangePolicy
	ChangeToken       = wire.ChangeToken
	ChangeProfile     = wire.ChangeProfile
	DefaultAuditLimit = wire.DefaultAuditLimit
	MaxAuditLimit     = wire.MaxAuditLimit
)
