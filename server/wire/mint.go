package wire

import (
	"time"

	"github.com/alter-sidecar/alter/errcode"
)

// CodeCredentialUnavailable: POST /v1/sidecar/grants/{id}/token could not
// mint a token (502). The answer's message is the reason, one of the
// errcode.ReasonTokenEndpoint* / ReasonRefreshTokenRejected /
// ReasonCredentialInvalid words, and nothing the token endpoint wrote.
const CodeCredentialUnavailable = errcode.CredentialUnavailable

// MintedToken is the answer of POST /v1/sidecar/grants/{id}/token: a
// short-lived token the server minted for a grant whose credential is
// minted (an OAuth2 client or refresh token, a service-account key, a
// GitHub App key, a JWT key). The long-lived secret never leaves the
// server. Token is secret: String hides it.
type MintedToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// String never shows the token.
func (m MintedToken) String() string {
	return "MintedToken{[redacted], expires " + m.ExpiresAt.UTC().Format(time.RFC3339) + "}"
}

// GoString keeps %#v from showing the token.
func (m MintedToken) GoString() string { return m.String() }
