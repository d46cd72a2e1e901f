package client

import (
	"context"
	"fmt"

	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// AdminStore is also secretstore.ProfileAdmin over the API, so `alter
// --server URL profile ...` runs the same commands as on the file store.
// Profiles are created for App, which must be set: a profile belongs to
// one app, and holds only that app's grants.
var _ secretstore.ProfileAdmin = (*AdminStore)(nil)

// CreateProfile makes a profile of s.App and returns its token.
func (s *AdminStore) CreateProfile(ctx context.Context, np secretstore.NewProfile) (profile.Profile, profile.Token, error) {
	if s.App == "" {
		return profile.Profile{}, "", fmt.Errorf("%w: a profile on the control plane belongs to an app: give --app", secretstore.ErrInvalid)
	}
	out, err := s.C.CreateProfile(ctx, wire.NewProfile{App: s.App, Name: np.Name, Grants: np.Grants, DenyUnmatched: np.DenyUnmatched})
	if err != nil {
		return profile.Profile{}, "", err
	}
	var p profile.Profile
	if out.Profile != nil {
		p = out.Profile.Profile
	}
	return p, profile.Token(out.Token), nil
}

// UpdateProfile changes a profile's grants or deny-unmatched flag.
func (s *AdminStore) UpdateProfile(ctx context.Context, name string, c secretstore.ProfileChange) (profile.Profile, error) {
	pi, err := s.C.UpdateProfile(ctx, name, wire.ProfileChange{Grants: c.Grants, DenyUnmatched: c.DenyUnmatched})
	return pi.Profile, err
}

// RevokeProfile revokes a profile.
func (s *AdminStore) RevokeProfile(ctx context.Context, name string) error {
	_, err := s.C.RevokeProfile(ctx, name)
	return err
}

// RotateProfileToken returns the profile's new token.
func (s *AdminStore) RotateProfileToken(ctx context.Context, name string) (profile.Token, error) {
	out, err := s.C.RotateProfileToken(ctx, name)
	return profile.Token(out.Token), err
}

// ListProfiles lists every profile (of every app), oldest first.
func (s *AdminStore) ListProfiles(ctx context.Context) ([]secretstore.ProfileInfo, error) {
	list, err := s.C.ListProfiles(ctx, "")
	out := make([]secretstore.ProfileInfo, len(list))
	for i, p := range list {
		out[i] = p.ProfileInfo
	}
	return out, err
}

// GetProfile returns one profile.
func (s *AdminStore) GetProfile(ctx context.Context, name string) (secretstore.ProfileInfo, error) {
	pi, err := s.C.GetProfile(ctx, name)
	return pi.ProfileInfo, err
}
