// Package wire holds the JSON bodies of the control plane's /v1 API
// (server/API.md), shared by the server (server/api) and its clients
// (server/client, the remote store), so the two cannot drift apart.
//
// Nothing here is logged: NewSecret, Rotate and Resolution carry secret
// values. Their String methods say so instead of printing them.
package wire

import (
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Error is the body of every answer with status >= 400.
type Error struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

// Error codes: the API's public contract (server/API.md).
const (
	CodeInvalid          = "invalid_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeGrantUnavailable = "grant_unavailable"
	CodeNotFound         = "not_found"
	CodeMethod           = "method_not_allowed"
	CodeTooLarge         = "request_too_large"
	CodeTooManyRequests  = "too_many_requests"
	CodeStoreUnavailable = "store_unavailable"
	CodeInternal         = "internal_error"
	// CodeTrailAhead (409): the audit trail holds transaction ids ahead
	// of the database's (restored from a dump); forwarding has stopped.
	CodeTrailAhead = "audit_trail_ahead"
)

// HeaderError repeats the error code in a header.
const HeaderError = "X-Alter-Error"

// MaxBody is the largest request body the server reads.
const MaxBody = 1 << 20

// Token kinds and their prefixes.
const (
	KindAdmin     = "admin"
	KindSidecar   = "sidecar"
	PrefixAdmin   = "alt_a_"
	PrefixSidecar = "alt_s_"
)

// GrantInfo is secretstore.GrantInfo plus the app whose sidecars may
// resolve the grant.
type GrantInfo struct {
	secretstore.GrantInfo
	App string `json:"app,omitempty"`
}

// Grants is the answer to GET /v1/grants.
type Grants struct {
	Grants []GrantInfo `json:"grants"`
}

// NewSecret is the body of POST /v1/secrets: either Injection, or Provider
// with Params (built on the server from the provider catalog).
type NewSecret struct {
	App       string            `json:"app,omitempty"`
	Injection *inject.Spec      `json:"injection,omitempty"`
	Provider  string            `json:"provider,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
	Fields    inject.Fields     `json:"fields"`
	Name      string            `json:"name,omitempty"`
	Labels    []string          `json:"labels,omitempty"`
	Policy    *policy.Spec      `json:"policy,omitempty"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
}

// String never shows the fields' values.
func (n NewSecret) String() string { return "wire.NewSecret{fields redacted}" }

// Clone is the body of POST /v1/grants/{id}/clone. TTL is a Go duration
// string; at most one of TTL and ExpiresAt.
type Clone struct {
	Name      string      `json:"name,omitempty"`
	Labels    []string    `json:"labels,omitempty"`
	TTL       string      `json:"ttl,omitempty"`
	ExpiresAt *time.Time  `json:"expires_at,omitempty"`
	Policy    policy.Spec `json:"policy"`
}

// Rotate is the body of POST /v1/grants/{id}/rotate.
type Rotate struct {
	Fields inject.Fields `json:"fields"`
}

// String never shows the fields' values.
func (r Rotate) String() string { return "wire.Rotate{fields redacted}" }

// NewToken is the body of POST /v1/tokens.
type NewToken struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	App  string `json:"app,omitempty"` // sidecar tokens only, required for them
}

// Token describes a token; Secret is set only in the answer that creates it.
type Token struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Name      string     `json:"name"`
	App       string     `json:"app,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// PendingBy, when set, is who asked for the token: it authenticates
	// nothing until another admin approves it (tokens.sidecar_approval).
	PendingBy string `json:"pending_by,omitempty"`
	Secret    string `json:"token,omitempty"`
}

// Tokens is the answer to GET /v1/tokens.
type Tokens struct {
	Tokens []Token `json:"tokens"`
}

// Resolution is what a sidecar gets for one of its app's grants: the only
// answer that carries secret values.
type Resolution struct {
	Grant         GrantInfo     `json:"grant"`
	Policy        policy.Spec   `json:"policy"` // effective: own AND ancestors'
	Injection     inject.Spec   `json:"injection"`
	Fields        inject.Fields `json:"fields"`
	SecretVersion int           `json:"secret_version"`
	NotAfter      *time.Time    `json:"not_after,omitempty"` // effective expiry
}

// String never shows the fields' values.
func (r Resolution) String() string { return "wire.Resolution{" + r.Grant.ID + ", fields redacted}" }

// GrantPolicy is one grant's effective policy, for choosing which tunnels
// to terminate.
type GrantPolicy struct {
	GrantID string      `json:"grant_id"`
	Policy  policy.Spec `json:"policy"`
}

// Policies is the answer to GET /v1/sidecar/policies.
type Policies struct {
	Policies []GrantPolicy `json:"policies"`
	Seq      int64         `json:"seq"`
}

// Changes is the answer to GET /v1/sidecar/changes.
type Changes struct {
	Changes []Change `json:"changes"`
	Seq     int64    `json:"seq"`
}

// AuditBatch is the body of POST /v1/sidecar/audit.
type AuditBatch struct {
	Records []AuditRecord `json:"records"`
}

// MaxAuditBatch is the most records one AuditBatch may hold.
const MaxAuditBatch = 1000

// AuditInserted is the answer to POST /v1/sidecar/audit.
type AuditInserted struct {
	Inserted int `json:"inserted"`
}
