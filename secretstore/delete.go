package secretstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/grant"
)

// ClonesError is Delete's refusal of a grant that has clones when the
// caller did not ask to delete them too. It wraps ErrInvalid.
type ClonesError struct {
	Grant  string
	Clones []string
}

func (e *ClonesError) Error() string {
	return fmt.Sprintf("grant %s has %d clone(s) (%s); delete them with it or first", e.Grant, len(e.Clones), strings.Join(e.Clones, ", "))
}

func (e *ClonesError) Unwrap() error { return ErrInvalid }

// Deleted says what Delete removed.
type Deleted struct {
	Grants  []string // the grant, then its clones (and theirs)
	Secrets []string // secrets no remaining grant referred to
}

// Delete removes a grant that can no longer be used — revoked, expired,
// or below a revoked, expired or missing parent — and, with withClones,
// its clones, which must be unusable too. A secret no remaining grant
// refers to is removed with it. Errors wrap ErrNotFound for an unknown
// grant; ErrInvalid for an active grant or clone (revoke it first), and
// a *ClonesError for clones left without withClones; and
// ErrStoreUnavailable for a grant or clone whose record, or a parent's,
// fails its integrity check (its revoked flag cannot be believed), or
// whose secret's record does (deleting it could not be undone).
// Nothing is written then.
//
// Like Add, Rotate and Revoke it runs under the store's write lock and
// replaces the file atomically. A client that still sends a deleted
// grant id gets the answer for an unknown grant, which is the one for a
// revoked grant.
func (s *FileStore) Delete(ctx context.Context, grantID string, withClones bool) (Deleted, error) {
	var out Deleted
	err := s.update(ctx, func(f *storeFile) (bool, error) {
		now := time.Now()
		snap := buildSnapshot(f, s.keys, s.path, fileID{}, now)
		if snap.err != nil {
			return false, snap.err
		}
		e := snap.grants[grantID]
		if e == nil {
			return false, fmt.Errorf("grant %s: %w", grantID, ErrNotFound)
		}
		if err := deletable(e, now); err != nil {
			return false, err
		}
		clones := descendants(snap, grantID)
		if len(clones) > 0 && !withClones {
			return false, &ClonesError{Grant: grantID, Clones: idsOf(clones)}
		}
		// The clones of an unusable grant are unusable too (revocation and
		// expiry pass down the chain); checked all the same, as a clone's
		// record may fail its integrity check.
		for _, c := range clones {
			if err := deletable(c, now); err != nil {
				return false, err
			}
		}
		all := append([]*grantEntry{e}, clones...)
		gone := map[string]bool{}
		for _, c := range all {
			gone[c.grant.ID] = true
			out.Grants = append(out.Grants, c.grant.ID)
		}
		f.Grants = slices.DeleteFunc(f.Grants, func(raw json.RawMessage) bool { return gone[recordID(raw)] })
		for _, c := range all {
			id := c.grant.SecretID
			if slices.Contains(out.Secrets, id) || referenced(f.Grants, id) {
				continue
			}
			f.Secrets = slices.DeleteFunc(f.Secrets, func(raw json.RawMessage) bool { return recordID(raw) == id })
			out.Secrets = append(out.Secrets, id)
		}
		return true, nil
	})
	if err != nil {
		return Deleted{}, err
	}
	return out, nil
}

// deletable says why a grant may not be deleted, or nil.
func deletable(e *grantEntry, now time.Time) error {
	if e.problem != nil {
		return fmt.Errorf("%w: grant %s: %v; alter does not act on a record it cannot trust", ErrStoreUnavailable, e.grant.ID, e.problem)
	}
	if e.secret != nil && e.secret.problem != nil {
		// Such a grant is unusable but neither revoked nor expired, and its
		// secret would go with it: a record that fails its check (a
		// flipped byte, or a key missing from the ring) may open again with
		// the right key, and a deleted one never does.
		return fmt.Errorf("%w: grant %s: secret %s: %v; alter does not act on a record it cannot trust",
			ErrStoreUnavailable, e.grant.ID, e.secret.info.ID, e.secret.problem)
	}
	if st := e.statusAt(now); st == StatusActive {
		what := "grant"
		if e.grant.Parent != "" {
			what = "clone"
		}
		return fmt.Errorf("%w: %s %s is active: revoke it first", ErrInvalid, what, e.grant.ID)
	}
	return nil
}

// descendants returns the clones of id, their clones and so on, in file
// order. A chain longer than grant.MaxCloneDepth is treated as not reaching id,
// as resolveChain does.
func descendants(snap *snapshot, id string) []*grantEntry {
	var out []*grantEntry
	for _, e := range snap.list {
		if e.grant.ID == id {
			continue
		}
		cur := e
		for depth := 0; depth < grant.MaxCloneDepth && cur != nil && cur.grant.Parent != ""; depth++ {
			if cur.grant.Parent == id {
				out = append(out, e)
				break
			}
			cur = snap.grants[cur.grant.Parent]
		}
	}
	return out
}

// referenced reports whether any grant record names the secret. Records
// are read leniently, so one that fails its checks still keeps its
// secret: deleting a secret is never undone.
func referenced(grants []json.RawMessage, secretID string) bool {
	for _, raw := range grants {
		var r struct {
			SecretID string `json:"secret_id"`
		}
		_ = json.Unmarshal(raw, &r)
		if r.SecretID == secretID {
			return true
		}
	}
	return false
}

func idsOf(es []*grantEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.grant.ID
	}
	return out
}
