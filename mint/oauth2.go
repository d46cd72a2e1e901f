package mint

import (
	"context"
	"errors"
	"net/url"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/alter-sidecar/alter/inject"
)

// withClient makes x/oauth2 use the proxy's client for this token request.
func (m *Minter) withClient(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, m.client)
}

// authStyle is where the client credentials go. It is always explicit:
// x/oauth2's auto-detection would retry a refused header with the secret in
// the body, sending it twice.
func authStyle(s *inject.MintSpec) oauth2.AuthStyle {
	if s.ClientAuth == "body" {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// clientCredentials is RFC 6749 section 4.4.
func (m *Minter) clientCredentials(ctx context.Context, r Request) (string, time.Duration, error) {
	s := r.Spec.Mint
	params := url.Values{}
	for k, v := range s.Params {
		params.Set(k, v)
	}
	if s.Audience != "" {
		params.Set("audience", s.Audience)
	}
	if s.Resource != "" {
		params.Set("resource", s.Resource)
	}
	if s.GrantType != "" {
		params.Set("grant_type", s.GrantType)
	}
	cfg := clientcredentials.Config{
		ClientID: r.Fields["client_id"], ClientSecret: r.Fields["client_secret"],
		TokenURL: s.TokenURL, Scopes: s.Scopes, EndpointParams: params, AuthStyle: authStyle(s),
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		return "", 0, err
	}
	return tok.AccessToken, lifetimeOf(tok), nil
}

// refreshToken is RFC 6749 section 6. A rotated refresh token is stored
// before the access token is handed out; until the store has it, the old
// one stays stored (the store's write is atomic), so a crash in between
// loses only the new one, which is then also in memory for this process.
func (m *Minter) refreshToken(ctx context.Context, r Request, e *entry) (string, time.Duration, error) {
	s := r.Spec.Mint
	rt := r.Fields["refresh_token"]
	if e.refresh != "" {
		rt = e.refresh
	}
	cfg := oauth2.Config{
		ClientID: r.Fields["client_id"], ClientSecret: r.Fields["client_secret"],
		Endpoint: oauth2.Endpoint{TokenURL: s.TokenURL, AuthStyle: authStyle(s)},
	}
	tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client") {
			me := classify(err)
			me.Reason = ReasonRevoked
			return "", 0, me
		}
		return "", 0, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != rt {
		m.storeRotated(ctx, r, e, tok.RefreshToken)
	}
	return tok.AccessToken, lifetimeOf(tok), nil
}

// storeRotated seals a new refresh token into the store. If it cannot, the
// new token is kept in memory for this process and the failure logged (the
// stored one no longer works at the endpoint).
func (m *Minter) storeRotated(ctx context.Context, r Request, e *entry, newRT string) {
	fields := inject.Fields{}
	for k, v := range r.Fields {
		fields[k] = v
	}
	fields["refresh_token"] = newRT
	if m.o.Rotator == nil {
		e.refresh = newRT
		m.o.Log.Warn("the token endpoint rotated the refresh token and this store cannot keep it: it is kept in memory until the proxy stops",
			zap.String("secret_id", r.SecretID))
		return
	}
	v, err := m.o.Rotator.ReplaceFields(ctx, r.SecretID, r.Version, fields)
	if err != nil {
		e.refresh = newRT
		m.o.Log.Error("the rotated refresh token could not be stored: it is kept in memory until the proxy stops",
			zap.String("secret_id", r.SecretID), zap.Error(err))
		return
	}
	e.versions[1] = v
	e.refresh = ""
	m.o.Log.Info("stored the rotated refresh token", zap.String("secret_id", r.SecretID), zap.Int("version", v))
}

// lifetimeOf reads a token's lifetime. x/oauth2 sets Expiry from the
// wall clock; the lifetime carries over to the Minter's own clock.
func lifetimeOf(tok *oauth2.Token) time.Duration {
	if tok.Expiry.IsZero() {
		return 0
	}
	return time.Until(tok.Expiry)
}
