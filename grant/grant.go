// Package grant is the grant domain model both stores share: the grant
// record, its statuses, the errors every store wraps, the rule for a chain
// of clones (usable only while every ancestor is present, trusted,
// unrevoked and unexpired; effective policy its own AND every ancestor's)
// and the rule for cloning (a clone only narrows). The file store
// (secretstore) and the control plane (server/storage) keep records their
// own way and ask this package what the records mean.
package grant

import (
	"errors"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

// Errors every store wraps, so callers can use errors.Is.
var (
	// ErrUnavailable: the grant is unknown, revoked or expired. The three
	// are deliberately one error: a client must not tell them apart.
	ErrUnavailable = errors.New("grant unavailable")
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

// Grant statuses, as listings show them.
const (
	StatusActive        = "active"
	StatusRevoked       = "revoked"        // the grant itself was revoked
	StatusExpired       = "expired"        // it or an ancestor reached its expiry
	StatusParentRevoked = "parent_revoked" // an ancestor was revoked
	StatusParentMissing = "parent_missing" // an ancestor is not in the store
	StatusUnusable      = "unusable"       // a record failed its checks; see Problem
)

// MaxCloneDepth bounds the walk up a chain of clones: a longer chain is
// treated as a loop (a hand-made one; alter never writes one) or an attack.
const MaxCloneDepth = 32
