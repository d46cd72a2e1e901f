package proxy

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/errcode"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/mint"
	"github.com/alter-sidecar/alter/secretstore"
)

// Minted credentials (package mint): for a grant whose secret is an OAuth2
// client, a refresh token, a service-account key, a GitHub App key or a JWT
// signing key, what is injected is a short-lived token the proxy obtains
// from the token endpoint the stored spec names (through the guarded
// upstream transport) or signs itself. The application never sees the
// stored secret or the token (it is masked in the answer like any injected
// credential); when no token can be had the answer is 502
// credential_unavailable, nothing is forwarded, and the audit record's rule
// says why.

// CodeCredentialUnavailable: no token could be minted for the grant.
const CodeCredentialUnavailable = errcode.CredentialUnavailable

// serverMinter is a store whose server keeps minted credentials' secrets
// and mints their tokens (secretstore/remote).
type serverMinter interface {
	MintToken(ctx context.Context, grantID string) (token string, lifetime time.Duration, err error)
}

// newMinter builds the proxy's minter on the grant transport, storing
// rotated refresh tokens in the store when it can.
func newMinter(o Options, tr http.RoundTripper) (*mint.Minter, error) {
	rot, _ := o.Store.(mint.Rotator)
	return mint.New(mint.Options{Transport: tr, Rotator: rot, Now: o.Now, Log: o.Log})
}

// credential returns the fields to inject for a resolved grant: its stored
// fields, or for a minted type the minted token; and sets the forms of it
// to mask in the answer.
func (ex *exchange) credential(res *secretstore.Resolved) (inject.Fields, *failure) {
	if _, minted := res.Injector.Mint(); !minted {
		ex.secrets = res.EchoForms()
		return res.Fields, nil
	}
	req := mint.Request{SecretID: res.Secret.ID, Version: res.Secret.Version, Spec: res.Secret.Spec, Fields: res.Fields}
	if sm, ok := ex.p.opts.Store.(serverMinter); ok && len(res.Fields) == 0 {
		// The server keeps the secret and mints; the token is cached here
		// per grant, one request to the server at a time. (A server that
		// predates minting hands out the fields: they are minted here.)
		grantID := res.Grant.ID
		req.SecretID, req.Fields = "grant/"+grantID, nil
		req.Fetch = func(ctx context.Context) (string, time.Duration, error) { return sm.MintToken(ctx, grantID) }
	} else if req.SecretID == "" {
		req.SecretID = "grant/" + res.Grant.ID // a store that names no secret: one token per grant
	}
	tok, err := ex.p.minter.Token(ex.in.Context(), req)
	if err != nil {
		reason := mint.ReasonUnreachable
		var me *mint.Error
		if errors.As(err, &me) {
			reason = me.Reason
		}
		// err's text is a reason, a status and an OAuth2 error code only.
		ex.p.log.Warn("no token could be minted for the grant", zap.String("request_id", ex.id),
			zap.String("grant_id", ex.record.GrantID), zap.String("reason", reason), zap.String("error", err.Error()))
		ex.record.Rule = reason
		return nil, &failure{status: http.StatusBadGateway, code: CodeCredentialUnavailable,
			message: "the grant's credential could not be obtained from its token endpoint", reason: reason}
	}
	f := inject.Fields{inject.MintedField: tok.Value()}
	ex.secrets = res.Injector.Secrets(f)
	return f, nil
}
