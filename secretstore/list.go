package secretstore

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// List and Get serve the command line. They read the snapshot after
// checking the file for changes, so a long-lived process lists what is on
// disk now, not what it loaded at start.

// List returns all grants, revoked and unusable ones included, oldest
// first. A grant whose records fail their checks is listed with Problem set.
func (s *FileStore) List(ctx context.Context) ([]GrantInfo, error) {
	s.refresh()
	snap := s.snap.Load()
	if snap.err != nil {
		return nil, snap.err
	}
	now := time.Now()
	out := make([]GrantInfo, 0, len(snap.list))
	for _, e := range snap.list {
		out = append(out, e.info(now))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Get returns one grant, or an error wrapping ErrNotFound.
func (s *FileStore) Get(ctx context.Context, grantID string) (GrantInfo, error) {
	s.refresh()
	snap := s.snap.Load()
	if snap.err != nil {
		return GrantInfo{}, snap.err
	}
	e := snap.grants[grantID]
	if e == nil {
		return GrantInfo{}, fmt.Errorf("grant %s: %w", grantID, ErrNotFound)
	}
	return e.info(time.Now()), nil
}

// info is the listing form of an entry at now. Slices are copied: the
// caller may keep or change the result without touching the shared snapshot.
func (e *grantEntry) info(now time.Time) GrantInfo {
	gi := GrantInfo{Grant: e.grant, Problem: e.why(), Status: e.statusAt(now)}
	gi.Labels = append([]string(nil), e.grant.Labels...)
	gi.Policy = e.grant.Policy.Clone()
	if x := e.grant.ExpiresAt; x != nil {
		c := *x
		gi.ExpiresAt = &c
	}
	if !e.expires.IsZero() {
		c := e.expires
		gi.EffectiveExpiresAt = &c
	}
	if e.secret != nil {
		gi.Secret = e.secret.info
		gi.Secret.Fields = append([]string(nil), e.secret.info.Fields...)
	}
	return gi
}

// statusAt is the grant's status at now. Expiry is checked after
// revocation and integrity, in the order Resolve checks them.
func (e *grantEntry) statusAt(now time.Time) string {
	if e.status == "" {
		return StatusUnusable // resolveChain did not run: never expected
	}
	if e.status == StatusActive && !e.expires.IsZero() && !now.Before(e.expires) {
		return StatusExpired
	}
	return e.status
}
