package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// The profile endpoints: admin calls by profile name, and the sidecar's
// lookup, which sends the token's SHA-256, never the token.

// CreateProfile makes a profile; the answer's Token is shown this once.
func (c *Client) CreateProfile(ctx context.Context, np wire.NewProfile) (wire.ProfileToken, error) {
	var out wire.ProfileToken
	err := c.do(ctx, call{method: http.MethodPost, path: "/v1/profiles", body: np, out: &out})
	return out, err
}

// ListProfiles lists profiles, oldest first; app, if not empty, filters.
func (c *Client) ListProfiles(ctx context.Context, app string) ([]wire.ProfileInfo, error) {
	var q url.Values
	if app != "" {
		q = url.Values{"app": {app}}
	}
	var out wire.Profiles
	err := c.do(ctx, call{method: http.MethodGet, path: "/v1/profiles", query: q, out: &out})
	return out.Profiles, err
}

// GetProfile returns one profile.
func (c *Client) GetProfile(ctx context.Context, name string) (wire.ProfileInfo, error) {
	var out wire.ProfileInfo
	err := c.profileCall(ctx, http.MethodGet, name, "", nil, &out)
	return out, err
}

// UpdateProfile changes a profile's grants or deny-unmatched flag.
func (c *Client) UpdateProfile(ctx context.Context, name string, ch wire.ProfileChange) (wire.ProfileInfo, error) {
	var out wire.ProfileInfo
	err := c.profileCall(ctx, http.MethodPatch, name, "", ch, &out)
	return out, err
}

// RevokeProfile revokes a profile (twice is fine).
func (c *Client) RevokeProfile(ctx context.Context, name string) (wire.ProfileInfo, error) {
	var out wire.ProfileInfo
	err := c.profileCall(ctx, http.MethodPost, name, "/revoke", nil, &out)
	return out, err
}

// RotateProfileToken gives a profile a new token, shown this once.
func (c *Client) RotateProfileToken(ctx context.Context, name string) (wire.ProfileToken, error) {
	var out wire.ProfileToken
	err := c.profileCall(ctx, http.MethodPost, name, "/rotate-token", nil, &out)
	return out, err
}

// profileCall calls /v1/profiles/{name}{suffix}. An unknown profile is an
// error wrapping profile.ErrNotFound (and secretstore.ErrNotFound).
func (c *Client) profileCall(ctx context.Context, method, name, suffix string, body, out any) error {
	if err := profile.CheckName(name); err != nil {
		return fmt.Errorf("%w: %v", secretstore.ErrInvalid, err)
	}
	err := c.do(ctx, call{method: method, path: "/v1/profiles/" + url.PathEscape(name) + suffix, body: body, out: out})
	var e *Error
	if method != http.MethodPatch && errors.As(err, &e) && e.Code == wire.CodeNotFound {
		// Only the profile is named by these calls: not_found is it.
		return fmt.Errorf("%w: %w", profile.ErrNotFound, err)
	}
	return err
}

// ResolveProfileToken asks for the binding of the token's app's profile
// whose token has digest d. Unknown, revoked and other apps' profiles are
// an error wrapping secretstore.ErrGrantUnavailable.
func (c *Client) ResolveProfileToken(ctx context.Context, d profile.Digest) (wire.ProfileBinding, error) {
	return c.resolveProfile(ctx, wire.ProfileLookup{TokenSHA256: hex.EncodeToString(d[:])})
}

// ResolveProfileName is ResolveProfileToken by the profile's name.
func (c *Client) ResolveProfileName(ctx context.Context, name string) (wire.ProfileBinding, error) {
	if profile.CheckName(name) != nil {
		return wire.ProfileBinding{}, secretstore.ErrGrantUnavailable // no profile has such a name
	}
	return c.resolveProfile(ctx, wire.ProfileLookup{Name: name})
}

func (c *Client) resolveProfile(ctx context.Context, q wire.ProfileLookup) (wire.ProfileBinding, error) {
	var out wire.ProfileBinding
	err := c.do(ctx, call{method: http.MethodPost, path: "/v1/sidecar/profiles/resolve", body: q, out: &out})
	return out, err
}
