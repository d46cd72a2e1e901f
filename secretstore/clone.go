package secretstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/grant"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/policy"
)

// Clone and SetPolicy. Both check everything against the file as it is
// under the write lock (the parent may have been narrowed, revoked or have
// expired since the caller last looked), and write nothing unless every
// check passes.

// Clone creates a narrower, shorter-lived grant on the parent's secret. See
// Admin.
func (s *FileStore) Clone(ctx context.Context, parentID string, c CloneRequest) (Grant, error) {
	now := time.Now().UTC()
	if err := checkText("name", c.Name); err != nil {
		return Grant{}, err
	}
	if err := checkLabels(c.Labels); err != nil {
		return Grant{}, err
	}
	expiry, err := grant.CloneExpiry(c.TTL, c.ExpiresAt, now)
	if err != nil {
		return Grant{}, err
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return Grant{}, err
	}
	var g Grant
	err = s.update(ctx, func(f *storeFile) (bool, error) {
		parent, err := s.liveEntry(f, parentID, now)
		if err != nil {
			return false, err
		}
		spec, err := grant.Narrow(c.Policy, parent.grant.Policy)
		if err != nil {
			return false, err
		}
		if pe := parent.expires; expiry != nil && !pe.IsZero() && expiry.After(pe) {
			return false, fmt.Errorf("%w: expiry %s is after the parent grant's expiry %s: a clone cannot outlive its parent",
				ErrInvalid, expiry.Format(time.RFC3339), pe.UTC().Format(time.RFC3339))
		}
		g = Grant{
			ID:        id.String(),
			SecretID:  parent.grant.SecretID,
			Name:      c.Name,
			Labels:    append([]string(nil), c.Labels...),
			Parent:    parentID,
			Policy:    spec,
			ExpiresAt: expiry,
			CreatedAt: now,
			UpdatedAt: now,
		}
		if g.Name == "" {
			g.Name = parent.grant.Name
		}
		raw, err := s.keys.signGrant(g)
		if err != nil {
			return false, err
		}
		f.Grants = append(f.Grants, raw)
		return true, nil
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// SetPolicy replaces a grant's policy. See Admin. Narrowing a parent
// narrows its clones at once (their effective policy includes the
// parent's); widening a parent does not widen them (their own rules stay).
func (s *FileStore) SetPolicy(ctx context.Context, grantID string, spec policy.Spec) error {
	return s.update(ctx, func(f *storeFile) (bool, error) {
		i, g, err := s.findGrant(f, grantID)
		if err != nil {
			return false, err
		}
		var canon policy.Spec
		if g.Parent == "" {
			if canon, err = spec.Canonical(); err != nil {
				return false, fmt.Errorf("%w: %w", ErrInvalid, err)
			}
		} else {
			_, parent, err := s.findGrant(f, g.Parent)
			if errors.Is(err, ErrNotFound) {
				return false, fmt.Errorf("%w: grant %s: its parent %s is not in the store", ErrInvalid, grantID, g.Parent)
			}
			if err != nil {
				return false, err
			}
			if canon, err = grant.Narrow(spec, parent.Policy); err != nil {
				return false, err
			}
		}
		if err := s.checkProfilesAfterPolicy(buildSnapshot(f, s.keys, s.path, fileID{}, time.Now()), grantID, canon); err != nil {
			return false, err
		}
		g.Policy = canon
		g.UpdatedAt = time.Now().UTC()
		if f.Grants[i], err = s.keys.signGrant(g); err != nil {
			return false, err
		}
		return true, nil
	})
}

// liveEntry finds a grant that may be cloned: present, its records and its
// parents' intact, not revoked, not expired. It checks the file as read
// under the lock, through the same chain walk Resolve relies on.
func (s *FileStore) liveEntry(f *storeFile, id string, now time.Time) (*grantEntry, error) {
	snap := buildSnapshot(f, s.keys, s.path, fileID{}, now)
	e := snap.grants[id]
	switch {
	case e == nil || id == "":
		return nil, fmt.Errorf("grant %s: %w", id, ErrNotFound)
	case e.problem != nil:
		return nil, fmt.Errorf("%w: grant %s: %v", ErrStoreUnavailable, id, e.problem)
	case e.secretErr != nil:
		return nil, fmt.Errorf("%w: grant %s: %v", ErrStoreUnavailable, id, e.secretErr)
	case e.unavailable:
		return nil, fmt.Errorf("%w: grant %s cannot be cloned: it is %s", ErrInvalid, id, grant.Describe(e.status))
	case !e.expires.IsZero() && !now.Before(e.expires):
		return nil, fmt.Errorf("%w: grant %s cannot be cloned: it expired at %s", ErrInvalid, id, e.expires.UTC().Format(time.RFC3339))
	}
	return e, nil
}
