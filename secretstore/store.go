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
//	validate.go  input checks for Add
//	list.go      List and Get
package secretstore

import (
	"context"
	"errors"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// Errors every Store implementation wraps, so callers can use errors.Is.
var (
	// ErrGrantUnavailable: the grant is unknown, revoked or expired. The three
	// are deliberately one error: a client must not tell them apart.
	ErrGrantUnavailable = errors.New("grant unavailable")
	// ErrStoreUnavailable: the store cannot be read or a record fails its
	// integrity check; the proxy answers 503 and forwards nothing.
	ErrStoreUnavailable = errors.New("store unavailable")
	// ErrNotFound: an administrative call named a grant that does not exist.
	ErrNotFound = errors.New("grant not found")
	// ErrInvalid: the request to change the store was malformed (bad spec,
	// bad policy, bad secret value); nothing was written.
	ErrInvalid = errors.New("invalid request")
)

// Grant is a grant's metadata: everything about it except secret values.
type Grant struct {
	ID        string      `json:"id"` // UUID v4
	SecretID  string      `json:"secret_id"`
	Name      string      `json:"name,omitempty"`
	Labels    []string    `json:"labels,omitempty"`
	Parent    string      `json:"parent,omitempty"` // set for clones
	Policy    policy.Spec `json:"policy"`
	Revoked   bool        `json:"revoked"`
	ExpiresAt *time.Time  `json:"expires_at,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	UpdatedAt time.Time   `json:"updated_at"`
}

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
}

// Resolved is a usable grant: its metadata, compiled policy and injector,
// and the opened credential. It is immutable and shared between requests.
type Resolved struct {
	Grant    Grant
	Secret   SecretInfo
	Policy   *policy.Policy
	Injector *inject.Injector
	Fields   inject.Fields // secret values; never log
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
}
