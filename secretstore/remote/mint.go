package remote

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/alter-sidecar/alter/mint"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/wire"
)

// Minted credentials on the control plane: the server keeps the long-lived
// secret (its resolve answer carries no fields for a minted type) and mints;
// the sidecar asks it for the token. The proxy caches the token (package
// mint) until shortly before it expires, one request per grant at a time.

// MintAPI is the server call MintToken needs; *client.Client has it.
type MintAPI interface {
	MintToken(ctx context.Context, grantID string) (wire.MintedToken, error)
}

var _ MintAPI = (*client.Client)(nil)

// reasons the server may give in a credential_unavailable answer.
var reasons = []string{mint.ReasonUnreachable, mint.ReasonTimeout, mint.ReasonRejected, mint.ReasonRevoked, mint.ReasonBadAnswer, mint.ReasonInvalid}

// MintToken asks the server for a minted token for grantID. Errors are
// *mint.Error with the server's reason when it could not mint, and with
// ReasonUnreachable when the server could not be asked.
func (r *Resolver) MintToken(ctx context.Context, grantID string) (string, time.Duration, error) {
	api, ok := r.api.(MintAPI)
	if !ok {
		return "", 0, &mint.Error{Reason: mint.ReasonInvalid}
	}
	t, err := api.MintToken(ctx, grantID)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Code == wire.CodeCredentialUnavailable && slices.Contains(reasons, ce.Message) {
			return "", 0, &mint.Error{Reason: ce.Message, Status: ce.Status}
		}
		if errors.Is(err, secretstore.ErrGrantUnavailable) {
			return "", 0, &mint.Error{Reason: mint.ReasonRejected, Status: 403}
		}
		return "", 0, &mint.Error{Reason: mint.ReasonUnreachable}
	}
	if t.Token == "" {
		return "", 0, &mint.Error{Reason: mint.ReasonBadAnswer}
	}
	// The server's clock set the expiry; the lifetime carries over.
	lifetime := time.Until(t.ExpiresAt)
	if lifetime <= 0 {
		return "", 0, &mint.Error{Reason: mint.ReasonBadAnswer}
	}
	return t.Token, lifetime, nil
}
