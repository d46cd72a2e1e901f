package storage

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/grant"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
)

// Profile writes. Each runs in one write transaction that re-reads what its
// checks depend on (the grants, the profile), writes the row with a new
// mac, records a change of kind profile and a server audit record. A
// failed check writes nothing.

// Server audit events of profile writes.
const (
	EventProfileCreate = audit.EventProfileCreate
	EventProfileUpdate = audit.EventProfileUpdate
	EventProfileRevoke = audit.EventProfileRevoke
	EventProfileRotate = audit.EventProfileTokenRotate
)

// CreateProfile makes a profile of app and returns it with its token,
// which is shown once: only its digest is stored. Errors wrap ErrInvalid
// (a bad name, a taken name, grants that overlap, are not active or are
// of another app) or ErrNotFound (an unknown grant).
func (d *DB) CreateProfile(ctx context.Context, app string, np secretstore.NewProfile) (ProfileInfo, profile.Token, error) {
	if err := profile.CheckName(np.Name); err != nil {
		return ProfileInfo{}, "", invalid("%v", err)
	}
	if app == "" {
		return ProfileInfo{}, "", invalid("app: a profile needs the app whose sidecars use it")
	}
	if err := checkApp(app); err != nil {
		return ProfileInfo{}, "", err
	}
	tok, dg, err := profile.NewToken()
	if err != nil {
		return ProfileInfo{}, "", err
	}
	t := now()
	r := &profileRow{p: profile.Profile{ID: uuid.NewString(), Name: np.Name, Grants: append([]string{}, np.Grants...),
		DenyUnmatched: np.DenyUnmatched, CreatedAt: t, UpdatedAt: t}, app: app, digest: hex.EncodeToString(dg[:])}
	r.rawGrants = mustJSON(r.p.Grants)
	err = d.write(ctx, func(tx *sql.Tx) error {
		if old, err := d.loadProfile(ctx, tx, np.Name); err != nil {
			return err
		} else if old != nil {
			return invalid("a profile named %q exists (revoked profiles keep their names)", np.Name)
		}
		if err := d.checkMembers(ctx, tx, app, r.p.Grants); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, d.q(`INSERT INTO profiles (id, name, app, grants, deny_unmatched, revoked, digest, created_at, updated_at, mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), r.p.ID, r.p.Name, app, r.rawGrants, r.p.DenyUnmatched, false, r.digest,
			micro(t), micro(t), d.profileSum(r.cols()))
		if err != nil {
			return unavailable(err)
		}
		return d.profileWritten(ctx, tx, r, EventProfileCreate)
	})
	if err != nil {
		return ProfileInfo{}, "", err
	}
	pi, err := d.GetProfile(ctx, np.Name)
	return pi, tok, err
}

// UpdateProfile changes a profile's grants or its deny-unmatched flag; a
// revoked profile cannot change.
func (d *DB) UpdateProfile(ctx context.Context, name string, c secretstore.ProfileChange) (ProfileInfo, error) {
	err := d.changeProfile(ctx, name, "changed", EventProfileUpdate, func(tx *sql.Tx, r *profileRow) error {
		if c.Grants != nil {
			if err := d.checkMembers(ctx, tx, r.app, c.Grants); err != nil {
				return err
			}
			r.p.Grants = append([]string{}, c.Grants...)
			r.rawGrants = mustJSON(r.p.Grants)
		}
		if c.DenyUnmatched != nil {
			r.p.DenyUnmatched = *c.DenyUnmatched
		}
		return nil
	})
	if err != nil {
		return ProfileInfo{}, err
	}
	return d.GetProfile(ctx, name)
}

// RevokeProfile makes the profile's token unusable for good; revoking
// twice writes nothing.
func (d *DB) RevokeProfile(ctx context.Context, name string) error {
	return d.changeProfile(ctx, name, "", EventProfileRevoke, func(_ *sql.Tx, r *profileRow) error {
		if r.p.Revoked {
			return errUnchanged
		}
		r.p.Revoked = true
		return nil
	})
}

// RotateProfileToken gives the profile a new token; the old one stops
// working on every sidecar within a second.
func (d *DB) RotateProfileToken(ctx context.Context, name string) (profile.Token, error) {
	tok, dg, err := profile.NewToken()
	if err != nil {
		return "", err
	}
	err = d.changeProfile(ctx, name, "given a new token", EventProfileRotate, func(_ *sql.Tx, r *profileRow) error {
		r.digest = hex.EncodeToString(dg[:])
		return nil
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// errUnchanged: a change that has nothing to write (revoking twice).
var errUnchanged = errors.New("unchanged")

// changeProfile loads a profile in a write transaction, lets change edit
// it, and writes it back re-signed. live names what a revoked profile
// cannot be ("" lets change see revoked profiles).
func (d *DB) changeProfile(ctx context.Context, name, live, event string, change func(tx *sql.Tx, r *profileRow) error) error {
	err := d.write(ctx, func(tx *sql.Tx) error {
		r, err := d.loadProfile(ctx, tx, name)
		switch {
		case err != nil:
			return err
		case r == nil:
			return profileNotFound(name)
		case r.problem != nil:
			// Re-signing a row edited outside alter would bless the edit.
			return fmt.Errorf("%w: profile %s: %v", secretstore.ErrStoreUnavailable, name, r.problem)
		case live != "" && r.p.Revoked:
			return invalid("profile %s is revoked and cannot be %s", name, live)
		}
		if err := change(tx, r); err != nil {
			return err
		}
		r.p.UpdatedAt = now()
		_, err = tx.ExecContext(ctx, d.q(`UPDATE profiles SET grants = ?, deny_unmatched = ?, revoked = ?, digest = ?, updated_at = ?, mac = ?
			WHERE id = ?`), r.rawGrants, r.p.DenyUnmatched, r.p.Revoked, r.digest, micro(r.p.UpdatedAt), d.profileSum(r.cols()), r.p.ID)
		if err != nil {
			return unavailable(err)
		}
		return d.profileWritten(ctx, tx, r, event)
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// profileWritten records the change (so the app's sidecars drop the
// binding) and who made it.
func (d *DB) profileWritten(ctx context.Context, tx *sql.Tx, r *profileRow, event string) error {
	if err := d.recordProfileChange(ctx, tx, r.p.Name, r.app); err != nil {
		return err
	}
	return d.insertAuditTx(ctx, tx, ServerEvent{Event: event, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), App: r.app, Time: r.p.UpdatedAt,
		Target: r.p.Name, Detail: map[string]string{"profile": r.p.Name}}.Record())
}

// checkMembers checks the grants a profile of app is to hold: at least
// one, at most profile.MaxGrants, each present, of app, trusted and
// active, none overlapping another (profile.CheckOverlap).
func (d *DB) checkMembers(ctx context.Context, tx *sql.Tx, app string, ids []string) error {
	if len(ids) == 0 {
		return invalid("a profile needs at least one grant")
	}
	if len(ids) > profile.MaxGrants {
		return invalid("%d grants, at most %d in one profile", len(ids), profile.MaxGrants)
	}
	t := time.Now()
	members := make([]profile.Member, 0, len(ids))
	for _, id := range ids {
		r, lookup, err := d.loadChain(ctx, tx, id)
		switch {
		case err != nil:
			return err
		case r == nil:
			return notFound(id)
		case r.problem != nil:
			return fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, id, r.problem)
		case r.app != app:
			return invalid("grant %s is not of app %q: a profile's grants are all of its app", id, app)
		}
		v := evaluate(r, lookup)
		if v.problem != nil {
			return fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, id, v.problem)
		}
		if st := r.info(v, t).Status; st != secretstore.StatusActive {
			return invalid("grant %s is %s", id, grant.Describe(st))
		}
		members = append(members, profile.Member{GrantID: id, Destinations: r.pol.Destinations()})
	}
	if err := profile.CheckOverlap(members); err != nil {
		return invalid("%w", err)
	}
	return nil
}

// checkProfilesAfterPolicy is SetPolicy's guard, as in the file store: a
// grant's new own policy must not make it overlap another grant of any
// live profile that holds it. Called in SetPolicy's transaction.
func (d *DB) checkProfilesAfterPolicy(ctx context.Context, tx *sql.Tx, app, grantID string, spec policy.Spec) error {
	if app == "" {
		return nil // profiles are of an app, and hold only its grants
	}
	compiled, err := policy.Compile(spec)
	if err != nil {
		return invalid("%w", err)
	}
	rows, err := tx.QueryContext(ctx, d.q(profileSelect+` WHERE app = ? AND revoked = ?`), app, false)
	if err != nil {
		return unavailable(err)
	}
	var holding []*profileRow
	for rows.Next() {
		r, err := d.scanProfile(rows)
		if err != nil {
			rows.Close()
			return unavailable(err)
		}
		if r.problem != nil || r.p.Revoked {
			continue // an untrusted profile is unusable anyway
		}
		for _, id := range r.p.Grants {
			if id == grantID {
				holding = append(holding, r)
				break
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return unavailable(err)
	}
	for _, r := range holding {
		others, err := d.grantRows(ctx, tx, r.p.Grants)
		if err != nil {
			return err
		}
		members := []profile.Member{{GrantID: grantID, Destinations: compiled.Destinations()}}
		for _, id := range r.p.Grants {
			if g := others[id]; id != grantID && g != nil && g.pol != nil {
				members = append(members, profile.Member{GrantID: id, Destinations: g.pol.Destinations()})
			}
		}
		if err := profile.CheckOverlap(members); err != nil {
			return invalid("grant %s is in profile %s: %w", grantID, r.p.Name, err)
		}
	}
	return nil
}
