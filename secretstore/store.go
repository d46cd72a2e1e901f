// Package secretstore holds grants and the secrets behind them. Secrets are
// write-only: they are sealed with AES-256-GCM under a master key when stored
// and only ever opened inside the proxy, into a bounded LRU cache, to be
// injected. Nothing here returns a secret to a person.
//
// The embedded implementation is FileStore. Its files, one concept each:
//
//	keyring.go   master keys: parsing, loading, generating, rotation
//	seal.go      AES-256-GCM sealing of a secret's fields
//	mac.go       the HMAC that makes every record tamper-evident
//	record.go    the store file format and its decoder
//	snapshot.go  the checked, compiled, immutable view Resolve reads
//	file.go      FileStore: opening, Resolve, Policies, Stats
//	watch.go     noticing and loading changes made by other processes
//	lock.go      the cross-process lock and atomic file replacement
//	write.go     Add, Rotate, Revoke
//	delete.go    Delete: removing unusable grants and the secrets left unused
//	clone.go     Clone and SetPolicy: narrowing a grant's policy
//	validate.go  input checks for Add
//	list.go      List and Get, and a grant's status
//
// Clones. A clone is a grant with a Parent: it uses the parent's secret (the
// same SecretID, so rotating the parent rotates the clone), its policy may
// only narrow the parent's (policy.Within, checked on Clone and SetPolicy),
// and it never outlives the parent (its expiry is at most the parent's
// effective one). At request time a clone is usable only while every
// ancestor is present, unrevoked and unexpired, and its effective policy
// is its own AND every ancestor's (policy.All): a parent narrowed or
// revoked later narrows or revokes its clones at once.
package secretstore

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/alter-sidecar/alter/grant"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// Errors every Store implementation wraps, so callers can use errors.Is.
// They are the grant package's: one value each, whichever store returns it.
var (
	// ErrGrantUnavailable: the grant is unknown, revoked or expired. The three
	// are deliberately one error: a client must not tell them apart.
	ErrGrantUnavailable = grant.ErrUnavailable
	// ErrStoreUnavailable: the store cannot be read or a record fails its
	// integrity check; the proxy answers 503 and forwards nothing.
	ErrStoreUnavailable = grant.ErrStoreUnavailable
	// ErrNotFound: an administrative call named a grant that does not exist.
	ErrNotFound = grant.ErrNotFound
	// ErrInvalid: the request to change the store was malformed (bad spec,
	// bad policy, bad secret value); nothing was written.
	ErrInvalid = grant.ErrInvalid
)

// Grant is a grant's metadata: everything about it except secret values.
type Grant = grant.Grant

// SecretInfo describes a secret without its values.
type SecretInfo struct {
	ID        string      `json:"id"`
	Spec      inject.Spec `json:"injection"`
	Provider  string      `json:"provider,omitempty"`
	Fields    []string    `json:"fields"`  // field names only
	Version   int         `json:"version"` // increases on every rotation
	KeyID     string      `json:"key_id"`  // master key that sealed it
	UpdatedAt time.Time   `json:"updated_at"`
}

// GrantInfo is what listings show: a grant and its secret's description.
type GrantInfo struct {
	Grant
	Secret SecretInfo `json:"secret"`
	// Problem says why the grant cannot be used although it is neither
	// revoked nor expired (its record, a parent's or its secret's failed an
	// integrity check, ...). Empty for a healthy grant.
	Problem string `json:"problem,omitempty"`
	// Status is one of the Status* constants, as of the listing, for the
	// grant and its chain of parents.
	Status string `json:"status"`
	// EffectiveExpiresAt is the earliest expiry on the grant's chain of
	// parents (its own included): when it stops resolving. Nil if none.
	EffectiveExpiresAt *time.Time `json:"effective_expires_at,omitempty"`
}

// Grant statuses, as listings show them (grant.Status*).
const (
	StatusActive        = grant.StatusActive
	StatusRevoked       = grant.StatusRevoked
	StatusExpired       = grant.StatusExpired
	StatusParentRevoked = grant.StatusParentRevoked
	StatusParentMissing = grant.StatusParentMissing
	StatusUnusable      = grant.StatusUnusable
)

// Resolved is a usable grant: its metadata, compiled policy and injector,
// and the opened credential. It is immutable and shared between requests.
type Resolved struct {
	Grant  Grant
	Secret SecretInfo
	Policy *policy.Policy // effective: the grant's own AND its ancestors'
	// Chain is the grant's id and its ancestors', own first: the grants
	// whose limits (Policy.Limits, in the same order) a use counts against.
	Chain    []string
	Injector *inject.Injector
	Fields   inject.Fields // secret values; never log

	// echo holds EchoForms once worked out. A pointer, so fmt prints an
	// address here, never the forms (which are secret).
	echo atomic.Pointer[[]string]
}

// EchoForms returns the forms of the credential the proxy masks should an
// upstream echo one back (inject.Injector.Secrets). They are worked out
// once per Resolved, not once per request: a Resolved is immutable and
// shared, so its forms never change. Never log them.
func (r *Resolved) EchoForms() []string {
	if p := r.echo.Load(); p != nil {
		return *p
	}
	forms := r.Injector.Secrets(r.Fields)
	r.echo.Store(&forms) // a racing request stores an equal slice
	return forms
}

// Resolver is what the proxy needs from a store.
type Resolver interface {
	// Resolve returns a usable grant. It returns an error wrapping
	// ErrGrantUnavailable for unknown, revoked and expired grants (decided
	// before any decryption), and ErrStoreUnavailable when the store or the
	// record cannot be read or fails its integrity check.
	Resolve(ctx context.Context, grantID string, now time.Time) (*Resolved, error)
	// Policies returns the compiled policies of all grants, revoked and
	// expired ones included, for the proxy's choice of which CONNECT tunnels
	// to terminate: a request with a dead grant must still get our 403.
	Policies() []*policy.Policy
}

// NewSecret is a request to store a secret and create its first grant.
type NewSecret struct {
	Spec     inject.Spec
	Provider string
	Fields   inject.Fields
	Name     string
	Labels   []string
	Policy   policy.Spec
	// ExpiresAt, if set, is when the grant stops working; it must be in
	// the future.
	ExpiresAt *time.Time
}

// Admin is what the command line needs from a store.
type Admin interface {
	// Add validates and seals the secret, creates a grant for it and returns
	// the grant. Errors wrap ErrInvalid for bad input; nothing is written.
	Add(ctx context.Context, s NewSecret) (Grant, error)
	// Rotate replaces the values of the secret behind grantID (same type,
	// same fields); the grant id and every grant sharing the secret stay.
	Rotate(ctx context.Context, grantID string, fields inject.Fields) error
	// Revoke marks the grant revoked. Revoking twice is not an error.
	Revoke(ctx context.Context, grantID string) error
	// List returns all grants, revoked ones included, oldest first.
	List(ctx context.Context) ([]GrantInfo, error)
	// Get returns one grant or an error wrapping ErrNotFound.
	Get(ctx context.Context, grantID string) (GrantInfo, error)
	// Clone creates a grant that uses parentID's secret under a policy
	// within the parent's and an expiry within the parent's. Errors wrap
	// ErrNotFound for an unknown parent and ErrInvalid for a parent that is
	// revoked or expired, a rule that widens, or an expiry beyond the
	// parent's; nothing is written.
	Clone(ctx context.Context, parentID string, c CloneRequest) (Grant, error)
	// SetPolicy replaces a grant's policy. For a clone, rules left empty
	// are the parent's and the result must be within the parent's policy.
	// Errors wrap ErrNotFound or ErrInvalid; nothing is written.
	SetPolicy(ctx context.Context, grantID string, spec policy.Spec) error
}

// CloneRequest asks for a clone of a grant.
type CloneRequest struct {
	// Name defaults to the parent's name, so audit records still name the
	// secret.
	Name   string
	Labels []string
	// TTL (from now) or ExpiresAt: at most one. Neither means the clone
	// lives as long as its parent.
	TTL       time.Duration
	ExpiresAt *time.Time
	// Policy narrows the parent's. A rule left empty is inherited from the
	// parent (it never means "unrestricted").
	Policy policy.Spec
}
