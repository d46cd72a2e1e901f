package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// The sidecar endpoints (sidecar tokens).

// Resolve fetches one grant with its secret values. An unknown, revoked,
// expired or other app's grant is an error wrapping
// secretstore.ErrGrantUnavailable. The answer holds secrets: never log it
// (its String method hides the fields).
func (c *Client) Resolve(ctx context.Context, grantID string) (wire.Resolution, error) {
	seg, err := segment(grantID)
	if err != nil {
		return wire.Resolution{}, fmt.Errorf("%w: %w", secretstore.ErrGrantUnavailable, err)
	}
	var r wire.Resolution
	err = c.do(ctx, call{method: http.MethodGet, path: "/v1/sidecar/grants/" + seg, out: &r})
	return r, err
}

// Policies returns the effective policy of every grant of the token's app
// and the change sequence number they are current as of.
func (c *Client) Policies(ctx context.Context) (wire.Policies, error) {
	var p wire.Policies
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/sidecar/policies", out: &p})
	return p, err
}

// MaxWait is the longest long poll the server holds.
const MaxWait = 60 * time.Second

// Changes long-polls for changes after seq: it returns as soon as there
// is one, or after wait with none. A nil after asks for the current
// sequence number at once. wait 0 asks for the changes there are now,
// without waiting: such a poll holds none of the server's wait slots, so
// it is what a sidecar refused one (429) follows the stream with. A
// negative wait, or one over MaxWait, is MaxWait.
func (c *Client) Changes(ctx context.Context, after *int64, wait time.Duration) (wire.Changes, error) {
	if wait < 0 || wait > MaxWait {
		wait = MaxWait
	}
	q := url.Values{"wait": {wait.String()}}
	if after != nil {
		q.Set("after", strconv.FormatInt(*after, 10))
	}
	var ch wire.Changes
	// The server may hold the request for wait; allow for that plus a
	// normal call's time.
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/sidecar/changes", query: q, out: &ch, timeout: wait + c.Timeout})
	return ch, err
}

// ShipAudit sends audit records (at most wire.MaxAuditBatch). The server
// skips records whose ID it has, so a batch may be sent again after any
// failure; inserted counts the new ones.
func (c *Client) ShipAudit(ctx context.Context, recs []wire.AuditRecord) (inserted int, err error) {
	if len(recs) > wire.MaxAuditBatch {
		return 0, fmt.Errorf("%w: %d audit records in one batch, at most %d", secretstore.ErrInvalid, len(recs), wire.MaxAuditBatch)
	}
	var out wire.AuditInserted
	err = c.do(ctx, call{method: http.MethodPost, path: "/v1/sidecar/audit", body: wire.AuditBatch{Records: recs}, out: &out})
	return out.Inserted, err
}
