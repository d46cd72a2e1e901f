package mint

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/alter-sidecar/alter/inject"
)

// serviceAccount is Google's JWT bearer flow (RFC 7523): an assertion
// signed with the service account's key (RS256, kid = private_key_id, iss =
// client_email, aud = the token endpoint) for an access token with the
// spec's scopes, or for an ID token for the spec's audience
// (target_audience).
//
// It uses x/oauth2's jwt package rather than its google package: that one
// also reads ambient credentials (environment, files, the metadata server)
// and pulls in cloud.google.com/go/compute/metadata, none of which the
// proxy may use. The key file's token_uri is ignored: the endpoint is the
// stored spec's, so where the key's assertions go is fixed when it is added.
func (m *Minter) serviceAccount(ctx context.Context, r Request) (string, time.Duration, error) {
	sa, err := inject.ParseServiceAccount(r.Fields["service_account_json"])
	if err != nil {
		return "", 0, &Error{Reason: ReasonInvalid, err: err}
	}
	s := r.Spec.Mint
	cfg := &jwt.Config{
		Email:        sa.ClientEmail,
		PrivateKey:   []byte(sa.PrivateKey),
		PrivateKeyID: sa.PrivateKeyID,
		Subject:      s.Subject,
		Scopes:       s.Scopes,
		TokenURL:     s.TokenURL,
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = inject.GoogleTokenURL
	}
	if s.Audience != "" {
		cfg.UseIDToken = true
		cfg.PrivateClaims = map[string]any{"target_audience": s.Audience}
	}
	tok, err := cfg.TokenSource(ctx).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if ctx.Err() != nil {
			return "", 0, &Error{Reason: ReasonTimeout, err: err}
		}
		if !errors.As(err, &re) && strings.HasPrefix(err.Error(), "oauth2: cannot fetch token:") {
			// The jwt package flattens the HTTP client's error with %v,
			// so the dial or TLS failure underneath cannot be unwrapped.
			return "", 0, &Error{Reason: ReasonUnreachable, err: err}
		}
		return "", 0, err
	}
	return tok.AccessToken, lifetimeOf(tok), nil
}
