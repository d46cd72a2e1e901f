package client

import (
	"context"
	"fmt"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// AdminStore is secretstore.Admin over the API, so the command line runs
// the same code against the file store and a server.
type AdminStore struct {
	C *Client
	// App is given to the grants Add creates: the application whose
	// sidecars may resolve them.
	App string
}

var _ secretstore.Admin = (*AdminStore)(nil)

// Add stores the secret with its injection spec; Provider only labels it
// (the spec was built from the catalog already, as the file store does).
func (s *AdminStore) Add(ctx context.Context, n secretstore.NewSecret) (secretstore.Grant, error) {
	spec, pol := n.Spec, n.Policy
	g, err := s.C.AddSecret(ctx, wire.NewSecret{
		App: s.App, Injection: &spec, Provider: n.Provider, Fields: n.Fields,
		Name: n.Name, Labels: n.Labels, Policy: &pol, ExpiresAt: n.ExpiresAt,
	})
	return g.Grant, err
}

// Rotate replaces the secret's values.
func (s *AdminStore) Rotate(ctx context.Context, grantID string, fields inject.Fields) error {
	_, err := s.C.RotateGrant(ctx, grantID, fields)
	return err
}

// Revoke revokes the grant.
func (s *AdminStore) Revoke(ctx context.Context, grantID string) error {
	_, err := s.C.RevokeGrant(ctx, grantID)
	return err
}

// List lists every grant (of every app), oldest first.
func (s *AdminStore) List(ctx context.Context) ([]secretstore.GrantInfo, error) {
	gs, err := s.ListWithApp(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]secretstore.GrantInfo, len(gs))
	for i, g := range gs {
		out[i] = g.GrantInfo
	}
	return out, nil
}

// ListWithApp is List with each grant's app.
func (s *AdminStore) ListWithApp(ctx context.Context) ([]wire.GrantInfo, error) {
	return s.C.ListGrants(ctx, "")
}

// Get returns one grant.
func (s *AdminStore) Get(ctx context.Context, grantID string) (secretstore.GrantInfo, error) {
	g, err := s.GetWithApp(ctx, grantID)
	return g.GrantInfo, err
}

// GetWithApp is Get with the grant's app.
func (s *AdminStore) GetWithApp(ctx context.Context, grantID string) (wire.GrantInfo, error) {
	return s.C.GetGrant(ctx, grantID)
}

// Clone creates a clone. A TTL is sent as a duration for the server to
// apply, so the clone's expiry is reckoned on the server's clock.
func (s *AdminStore) Clone(ctx context.Context, parentID string, c secretstore.CloneRequest) (secretstore.Grant, error) {
	if c.TTL < 0 {
		return secretstore.Grant{}, fmt.Errorf("%w: negative TTL", secretstore.ErrInvalid)
	}
	req := wire.Clone{Name: c.Name, Labels: c.Labels, ExpiresAt: c.ExpiresAt, Policy: c.Policy}
	if c.TTL > 0 {
		req.TTL = c.TTL.String()
	}
	g, err := s.C.CloneGrant(ctx, parentID, req)
	return g.Grant, err
}

// SetPolicy replaces the grant's policy.
func (s *AdminStore) SetPolicy(ctx context.Context, grantID string, spec policy.Spec) error {
	_, err := s.C.SetPolicy(ctx, grantID, spec)
	return err
}
