package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// MintToken asks the server for a minted token for a grant whose
// credential is minted (the server keeps the long-lived secret). An
// unknown, revoked, expired or other app's grant is an error wrapping
// secretstore.ErrGrantUnavailable; a token the server could not mint is an
// *Error with Code wire.CodeCredentialUnavailable and the reason as its
// Message. The answer is secret: its String hides the token.
func (c *Client) MintToken(ctx context.Context, grantID string) (wire.MintedToken, error) {
	seg, err := segment(grantID)
	if err != nil {
		return wire.MintedToken{}, fmt.Errorf("%w: %w", secretstore.ErrGrantUnavailable, err)
	}
	var t wire.MintedToken
	err = c.do(ctx, call{method: http.MethodPost, path: "/v1/sidecar/grants/" + seg + "/token", out: &t})
	return t, err
}
