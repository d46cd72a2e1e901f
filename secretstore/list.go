package secretstore

import (
	"context"
	"fmt"
	"sort"
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
	out := make([]GrantInfo, 0, len(snap.list))
	for _, e := range snap.list {
		out = append(out, e.info())
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
	return e.info(), nil
}

// info is the listing form of an entry. Slices are copied: the caller may
// keep or change the result without touching the shared snapshot.
func (e *grantEntry) info() GrantInfo {
	gi := GrantInfo{Grant: e.grant, Problem: e.why()}
	gi.Labels = append([]string(nil), e.grant.Labels...)
	gi.Policy.Destinations = append([]string(nil), e.grant.Policy.Destinations...)
	if x := e.grant.ExpiresAt; x != nil {
		c := *x
		gi.ExpiresAt = &c
	}
	if e.secret != nil {
		gi.Secret = e.secret.info
		gi.Secret.Fields = append([]string(nil), e.secret.info.Fields...)
	}
	return gi
}
