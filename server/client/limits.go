package client

import (
	"context"
	"net/http"

	"github.com/alter-sidecar/alter/server/wire"
)

// TakeUses asks for a lease of up to want uses of a grant (sidecar
// tokens). Another app's or an unusable grant wraps
// secretstore.ErrGrantUnavailable.
func (c *Client) TakeUses(ctx context.Context, grantID, actor string, want int) (wire.UsesLease, error) {
	var l wire.UsesLease
	err := c.do(ctx, call{method: http.MethodPost, path: "/v1/sidecar/uses", body: wire.UsesRequest{GrantID: grantID, Actor: actor, Want: want}, out: &l})
	return l, err
}
