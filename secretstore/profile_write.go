package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/grant"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
)

// updateProfiles runs change on the grants file (read-only) and the
// profiles file under the store's write lock, and writes the profiles file
// if change says so. The grants file is read under the same lock, so the
// overlap check sees the grants as they are.
func (s *FileStore) updateProfiles(ctx context.Context, change func(grants *snapshot, f *profilesFile) (write bool, err error)) error {
	return s.writeLocked(ctx, func() (string, []byte, error) {
		grants, err := s.readGrantsLocked()
		if err != nil {
			return "", nil, err
		}
		f, err := s.readProfilesLocked()
		if err != nil {
			return "", nil, err
		}
		if write, err := change(grants, f); err != nil || !write {
			return "", nil, err
		}
		out, err := f.encode()
		if err != nil {
			return "", nil, fmt.Errorf("write profiles %s: %w", s.profilesPath, err)
		}
		return s.profilesPath, out, nil
	})
}

// readGrantsLocked builds a snapshot of the grants file as it is now.
func (s *FileStore) readGrantsLocked() (*snapshot, error) {
	sf, err := s.readLocked()
	if err != nil {
		return nil, err
	}
	return buildSnapshot(sf, s.keys, s.path, fileID{}, time.Now()), nil
}

// readProfilesLocked reads the profiles file; missing is empty.
func (s *FileStore) readProfilesLocked() (*profilesFile, error) {
	f := &profilesFile{Version: fileVersion}
	data, err := os.ReadFile(s.profilesPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("%w: profiles: %v", ErrStoreUnavailable, err)
	}
	if f, err = decodeProfilesFile(data); err != nil {
		return nil, fmt.Errorf("%w: profiles %s: %v", ErrStoreUnavailable, s.profilesPath, err)
	}
	return f, nil
}

// CreateProfile implements ProfileAdmin.
func (s *FileStore) CreateProfile(ctx context.Context, np NewProfile) (profile.Profile, profile.Token, error) {
	if err := profile.CheckName(np.Name); err != nil {
		return profile.Profile{}, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return profile.Profile{}, "", err
	}
	tok, digest, err := profile.NewToken()
	if err != nil {
		return profile.Profile{}, "", err
	}
	now := time.Now().UTC()
	p := profile.Profile{ID: id.String(), Name: np.Name, Grants: append([]string(nil), np.Grants...),
		DenyUnmatched: np.DenyUnmatched, CreatedAt: now, UpdatedAt: now}
	err = s.updateProfiles(ctx, func(grants *snapshot, f *profilesFile) (bool, error) {
		if i, _ := findProfile(f, np.Name); i >= 0 {
			return false, fmt.Errorf("%w: a profile named %q exists (revoked profiles keep their names)", ErrInvalid, np.Name)
		}
		if err := checkMembers(grants, p.Grants); err != nil {
			return false, err
		}
		raw, err := s.keys.signProfile(profileRecord{Profile: p, TokenSHA256: digest[:]})
		if err != nil {
			return false, err
		}
		f.Profiles = append(f.Profiles, raw)
		return true, nil
	})
	if err != nil {
		return profile.Profile{}, "", err
	}
	return p, tok, nil
}

// UpdateProfile implements ProfileAdmin. A revoked profile cannot change.
func (s *FileStore) UpdateProfile(ctx context.Context, name string, c ProfileChange) (profile.Profile, error) {
	var out profile.Profile
	err := s.updateProfiles(ctx, func(grants *snapshot, f *profilesFile) (bool, error) {
		i, rec, err := s.liveProfile(f, name, "changed")
		if err != nil {
			return false, err
		}
		if c.Grants != nil {
			if err := checkMembers(grants, c.Grants); err != nil {
				return false, err
			}
			rec.Grants = append([]string(nil), c.Grants...)
		}
		if c.DenyUnmatched != nil {
			rec.DenyUnmatched = *c.DenyUnmatched
		}
		rec.UpdatedAt = time.Now().UTC()
		if f.Profiles[i], err = s.keys.signProfile(rec); err != nil {
			return false, err
		}
		out = rec.Profile
		return true, nil
	})
	return out, err
}

// RevokeProfile implements ProfileAdmin. Revoking twice writes nothing.
func (s *FileStore) RevokeProfile(ctx context.Context, name string) error {
	return s.updateProfiles(ctx, func(_ *snapshot, f *profilesFile) (bool, error) {
		i, rec, err := s.trustedProfile(f, name)
		if err != nil || rec.Revoked {
			return false, err
		}
		rec.Revoked = true
		rec.UpdatedAt = time.Now().UTC()
		f.Profiles[i], err = s.keys.signProfile(rec)
		return err == nil, err
	})
}

// RotateProfileToken implements ProfileAdmin.
func (s *FileStore) RotateProfileToken(ctx context.Context, name string) (profile.Token, error) {
	tok, digest, err := profile.NewToken()
	if err != nil {
		return "", err
	}
	err = s.updateProfiles(ctx, func(_ *snapshot, f *profilesFile) (bool, error) {
		i, rec, err := s.liveProfile(f, name, "given a new token")
		if err != nil {
			return false, err
		}
		rec.TokenSHA256 = digest[:]
		rec.UpdatedAt = time.Now().UTC()
		f.Profiles[i], err = s.keys.signProfile(rec)
		return err == nil, err
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// ListProfiles implements ProfileAdmin: every profile, revoked and
// unusable ones included, oldest first.
func (s *FileStore) ListProfiles(context.Context) ([]ProfileInfo, error) {
	s.refresh()
	ps, snap := s.profiles.Load(), s.snap.Load()
	if ps.err != nil {
		return nil, ps.err
	}
	out := make([]ProfileInfo, 0, len(ps.list))
	for _, e := range ps.list {
		out = append(out, e.info(snap))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// GetProfile implements ProfileAdmin.
func (s *FileStore) GetProfile(_ context.Context, name string) (ProfileInfo, error) {
	s.refresh()
	ps := s.profiles.Load()
	if ps.err != nil {
		return ProfileInfo{}, ps.err
	}
	e := ps.byName[name]
	if e == nil {
		return ProfileInfo{}, fmt.Errorf("profile %s: %w", name, profile.ErrNotFound)
	}
	return e.info(s.snap.Load()), nil
}

// info is the listing form of a profile entry.
func (e *profileEntry) info(snap *snapshot) ProfileInfo {
	pi := ProfileInfo{Profile: e.p, Status: StatusActive, Members: []ProfileMember{}}
	pi.Grants = append([]string(nil), e.p.Grants...)
	switch {
	case e.problem != nil:
		pi.Status, pi.Problem = StatusUnusable, e.problem.Error()
	case e.p.Revoked:
		pi.Status = StatusRevoked
	}
	now := time.Now()
	for _, id := range e.p.Grants {
		m := ProfileMember{GrantID: id, Status: StatusMissing, Destinations: []string{}}
		if g := snap.grants[id]; g != nil {
			m.Name, m.Status = g.grant.Name, g.statusAt(now)
			if g.own == nil {
				m.Destinations = append(m.Destinations, g.grant.Policy.Destinations...)
			}
		}
		pi.Members = append(pi.Members, m)
	}
	return pi
}

// findProfile returns the index of the record named name, or -1. It reads
// names leniently, so a record that fails its check still holds its name.
func findProfile(f *profilesFile, name string) (int, error) {
	found := -1
	for i, raw := range f.Profiles {
		var r struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(raw, &r)
		if r.Name != name {
			continue
		}
		if found >= 0 {
			return 0, fmt.Errorf("%w: two profile records are named %q", ErrStoreUnavailable, name)
		}
		found = i
	}
	return found, nil
}

// trustedProfile finds a profile record and checks it. A record that fails
// its check is never re-signed (that would vouch for an outside edit).
func (s *FileStore) trustedProfile(f *profilesFile, name string) (int, profileRecord, error) {
	i, err := findProfile(f, name)
	if err != nil {
		return 0, profileRecord{}, err
	}
	if i < 0 {
		return 0, profileRecord{}, fmt.Errorf("profile %s: %w", name, profile.ErrNotFound)
	}
	rec, err := s.keys.openProfile(f.Profiles[i])
	if err != nil {
		return 0, profileRecord{}, fmt.Errorf("%w: profile %s: %v", ErrStoreUnavailable, name, err)
	}
	return i, rec, nil
}

// liveProfile is trustedProfile for a profile that must not be revoked.
func (s *FileStore) liveProfile(f *profilesFile, name, what string) (int, profileRecord, error) {
	i, rec, err := s.trustedProfile(f, name)
	if err == nil && rec.Revoked {
		err = fmt.Errorf("%w: profile %s is revoked and cannot be %s", ErrInvalid, name, what)
	}
	return i, rec, err
}

// checkMembers checks the grants a profile is to hold: at least one, at
// most profile.MaxGrants, each present, trusted and active, none
// overlapping another (profile.CheckOverlap).
func checkMembers(snap *snapshot, ids []string) error {
	if len(ids) == 0 {
		return fmt.Errorf("%w: a profile needs at least one grant", ErrInvalid)
	}
	if len(ids) > profile.MaxGrants {
		return fmt.Errorf("%w: %d grants, at most %d in one profile", ErrInvalid, len(ids), profile.MaxGrants)
	}
	now := time.Now()
	members := make([]profile.Member, 0, len(ids))
	for _, id := range ids {
		g := snap.grants[id]
		switch {
		case g == nil || id == "":
			return fmt.Errorf("grant %s: %w", id, ErrNotFound)
		case g.own != nil || g.policy == nil:
			return fmt.Errorf("%w: grant %s: %v", ErrStoreUnavailable, id, g.own)
		}
		if st := g.statusAt(now); st != StatusActive {
			return fmt.Errorf("%w: grant %s is %s", ErrInvalid, id, grant.Describe(st))
		}
		members = append(members, profile.Member{GrantID: id, Destinations: g.policy.Destinations()})
	}
	if err := profile.CheckOverlap(members); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// checkProfilesAfterPolicy is SetPolicy's guard: a grant's new
// destinations must not make it overlap another grant of any profile that
// holds it. Called under the store lock with the grants file in hand.
func (s *FileStore) checkProfilesAfterPolicy(grants *snapshot, grantID string, spec policy.Spec) error {
	f, err := s.readProfilesLocked()
	if err != nil {
		return err
	}
	compiled, err := policy.Compile(spec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	for _, raw := range f.Profiles {
		rec, err := s.keys.openProfile(raw)
		if err != nil || rec.Revoked {
			continue // an untrusted profile is unusable anyway; a revoked one for good
		}
		holds := false
		for _, id := range rec.Grants {
			holds = holds || id == grantID
		}
		if !holds {
			continue
		}
		members := []profile.Member{{GrantID: grantID, Destinations: compiled.Destinations()}}
		for _, id := range rec.Grants {
			if g := grants.grants[id]; id != grantID && g != nil && g.own == nil && g.policy != nil {
				members = append(members, profile.Member{GrantID: id, Destinations: g.policy.Destinations()})
			}
		}
		if err := profile.CheckOverlap(members); err != nil {
			return fmt.Errorf("%w: grant %s is in profile %s: %w", ErrInvalid, grantID, rec.Name, err)
		}
	}
	return nil
}
