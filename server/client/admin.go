package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/server/wire"
)

// The admin endpoints (admin tokens). Each returns the server's answer
// decoded into the wire type; errors are *Error or wrap
// secretstore.ErrStoreUnavailable (see the package documentation).

// AddSecret stores a secret and creates its first grant (POST /v1/secrets).
func (c *Client) AddSecret(ctx context.Context, s wire.NewSecret) (wire.GrantInfo, error) {
	var g wire.GrantInfo
	body := newSecretBody{NewSecret: s, Fields: plainFields(s.Fields)}
	err := c.do(ctx, call{method: http.MethodPost, path: "/v1/secrets", body: body, out: &g})
	return g, err
}

// The bodies that carry secret values. inject.Fields marshals to
// "[redacted]" on purpose, so nothing can print values by accident; these
// two requests are where values must travel, as a JSON object. The outer
// "fields" shadows the embedded one.
type (
	plainFields   map[string]string
	newSecretBody struct {
		wire.NewSecret
		Fields plainFields `json:"fields"`
	}
	rotateBody struct {
		Fields plainFields `json:"fields"`
	}
)

// ListGrants lists grants, oldest first; app, if not empty, filters.
func (c *Client) ListGrants(ctx context.Context, app string) ([]wire.GrantInfo, error) {
	var q url.Values
	if app != "" {
		q = url.Values{"app": {app}}
	}
	var out wire.Grants
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/grants", query: q, out: &out})
	return out.Grants, err
}

// GetGrant returns one grant; an unknown id is an error wrapping
// secretstore.ErrNotFound.
func (c *Client) GetGrant(ctx context.Context, id string) (wire.GrantInfo, error) {
	return c.grantCall(ctx, http.MethodGet, id, "", nil)
}

// CloneGrant creates a narrower grant on the same secret.
func (c *Client) CloneGrant(ctx context.Context, id string, req wire.Clone) (wire.GrantInfo, error) {
	return c.grantCall(ctx, http.MethodPost, id, "/clone", req)
}

// RevokeGrant revokes a grant (and so its clones); revoking twice is fine.
func (c *Client) RevokeGrant(ctx context.Context, id string) (wire.GrantInfo, error) {
	return c.grantCall(ctx, http.MethodPost, id, "/revoke", nil)
}

// RotateGrant replaces the values of the secret behind a grant.
func (c *Client) RotateGrant(ctx context.Context, id string, fields inject.Fields) (wire.GrantInfo, error) {
	return c.grantCall(ctx, http.MethodPost, id, "/rotate", rotateBody{Fields: plainFields(fields)})
}

// SetPolicy replaces a grant's policy.
func (c *Client) SetPolicy(ctx context.Context, id string, spec policy.Spec) (wire.GrantInfo, error) {
	return c.grantCall(ctx, http.MethodPut, id, "/policy", spec)
}

func (c *Client) grantCall(ctx context.Context, method, id, suffix string, body any) (wire.GrantInfo, error) {
	seg, err := segment(id)
	if err != nil {
		return wire.GrantInfo{}, err
	}
	var g wire.GrantInfo
	err = c.do(ctx, call{method: method, path: "/v1/grants/" + seg + suffix, body: body, out: &g})
	return g, err
}

// Providers returns the server's provider catalog, as the server
// describes it (kept as JSON: the CLI prints it, it decides nothing).
func (c *Client) Providers(ctx context.Context) ([]json.RawMessage, error) {
	var out struct {
		Providers []json.RawMessage `json:"providers"`
	}
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/providers", out: &out})
	return out.Providers, err
}

// Provider returns one provider's description.
func (c *Client) Provider(ctx context.Context, name string) (json.RawMessage, error) {
	seg, err := segment(name)
	if err != nil {
		return nil, err
	}
	var out json.RawMessage
	err = c.do(ctx, call{method: http.MethodGet, path: "/v1/providers/" + seg, out: &out})
	return out, err
}

// QueryAudit returns one page of audit records, newest first (q.Oldest:
// oldest first).
func (c *Client) QueryAudit(ctx context.Context, q wire.AuditQuery) (wire.AuditPage, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("grant", q.GrantID)
	set("actor", q.Actor)
	set("decision", q.Decision)
	set("run_id", q.RunID)
	set("tool", q.Tool)
	set("event", q.Event)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	if q.Oldest {
		v.Set("order", "oldest")
	}
	var page wire.AuditPage
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/audit", query: v, out: &page})
	return page, err
}

// AuditForwarding reports the control plane's audit.forward targets: who
// sends to each and how many records wait for it.
func (c *Client) AuditForwarding(ctx context.Context) ([]wire.ForwardStatus, error) {
	var out wire.ForwardStatuses
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/audit/forwarding", out: &out})
	return out.Targets, err
}

// CreateToken creates a token; the answer's Secret is the token, shown
// this once.
func (c *Client) CreateToken(ctx context.Context, t wire.NewToken) (wire.Token, error) {
	var out wire.Token
	err := c.do(ctx, call{method: http.MethodPost, path: "/v1/tokens", body: t, out: &out})
	return out, err
}

// ListTokens lists tokens (never their values or digests).
func (c *Client) ListTokens(ctx context.Context) ([]wire.Token, error) {
	var out wire.Tokens
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/tokens", out: &out})
	return out.Tokens, err
}

// RevokeToken revokes a token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	seg, err := segment(id)
	if err != nil {
		return err
	}
	return c.do(ctx, call{method: http.MethodPost, path: "/v1/tokens/" + seg + "/revoke"})
}
