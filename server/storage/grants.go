package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/grant"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Writes. Each validates what it can first, then, inside one write
// transaction, re-reads what its checks depend on (another replica may
// have revoked or narrowed a parent a moment ago), writes, and records a
// change per affected grant. A failed check writes nothing.

// now is the write time, truncated to what the database keeps, so a Grant
// returned by a write equals the one a later Get returns.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain strings and times: cannot fail
	}
	return string(b)
}

func nullMicro(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micro(*t)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const insertGrant = `INSERT INTO grants (id, secret_id, name, labels, parent, policy, revoked, expires_at, created_at, updated_at, app, mac)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (d *DB) insertGrant(ctx context.Context, tx *sql.Tx, g secretstore.Grant, app string) error {
	labels := g.Labels
	if labels == nil {
		labels = []string{}
	}
	pol := mustJSON(g.Policy)
	var expires sql.NullInt64
	if g.ExpiresAt != nil {
		expires = sql.NullInt64{Int64: micro(*g.ExpiresAt), Valid: true}
	}
	mac := d.grantSum(grantCols{id: g.ID, secretID: g.SecretID, parent: g.Parent, policy: pol,
		revoked: g.Revoked, expires: expires, app: app})
	_, err := tx.ExecContext(ctx, d.q(insertGrant), g.ID, g.SecretID, g.Name, mustJSON(labels),
		nullString(g.Parent), pol, g.Revoked, nullMicro(g.ExpiresAt),
		micro(g.CreatedAt), micro(g.UpdatedAt), app, mac)
	return unavailable(err)
}

// resign writes a grant's changed policy or revocation with a new mac.
// The row must have verified: re-signing a tampered row would bless it.
func (d *DB) resign(ctx context.Context, tx *sql.Tx, r *row, policyJSON string, revoked bool) error {
	if r.tampered {
		return fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, r.g.ID, r.problem)
	}
	mac := d.grantSum(grantCols{id: r.g.ID, secretID: r.g.SecretID, parent: r.g.Parent, policy: policyJSON,
		revoked: revoked, expires: r.expires, app: r.app})
	_, err := tx.ExecContext(ctx, d.q(`UPDATE grants SET policy = ?, revoked = ?, mac = ?, updated_at = ? WHERE id = ?`),
		policyJSON, revoked, mac, micro(now()), r.g.ID)
	return unavailable(err)
}

// Add validates and seals the secret and creates its first grant, which
// belongs to no app. See AddFor.
func (d *DB) Add(ctx context.Context, ns secretstore.NewSecret) (secretstore.Grant, error) {
	return d.AddFor(ctx, "", ns)
}

// AddFor is Add for a grant of app: the sidecar tokens of app may resolve
// it and its clones ("" for none).
func (d *DB) AddFor(ctx context.Context, app string, ns secretstore.NewSecret) (secretstore.Grant, error) {
	t := now()
	if err := checkApp(app); err != nil {
		return secretstore.Grant{}, err
	}
	pol, err := validateNew(ns, t)
	if err != nil {
		return secretstore.Grant{}, err
	}
	secretID, grantID := uuid.NewString(), uuid.NewString()
	keyID, blob, err := d.sealer.Seal(secretID, ns.Fields)
	if err != nil {
		return secretstore.Grant{}, fmt.Errorf("seal secret %s: %w", secretID, err)
	}
	g := secretstore.Grant{ID: grantID, SecretID: secretID, Name: ns.Name,
		Labels: append([]string(nil), ns.Labels...), Policy: pol, CreatedAt: t, UpdatedAt: t}
	if ns.ExpiresAt != nil {
		x := ns.ExpiresAt.UTC().Truncate(time.Microsecond)
		g.ExpiresAt = &x
	}
	err = d.write(ctx, func(tx *sql.Tx) error {
		spec := mustJSON(ns.Spec)
		_, err := tx.ExecContext(ctx, d.q(`INSERT INTO secrets (id, spec, provider, fields, version, key_id, sealed, updated_at, mac)
			VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)`),
			secretID, spec, ns.Provider, mustJSON(ns.Fields.Names()), keyID, blob, micro(t),
			d.secretSum(secretID, spec, keyID, blob, 1))
		if err != nil {
			return unavailable(err)
		}
		if err := d.insertGrant(ctx, tx, g, app); err != nil {
			return err
		}
		if err := d.recordChanges(ctx, tx, ChangeAdd, []string{grantID}); err != nil {
			return err
		}
		return d.insertAuditTx(ctx, tx, ServerEvent{Event: audit.EventSecretAdd, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), App: app, GrantID: grantID,
			Target: ns.Name, PolicyAfter: pol, Time: t, Detail: map[string]string{"provider": ns.Provider}}.Record())
	})
	if err != nil {
		return secretstore.Grant{}, err
	}
	return g, nil
}

// Clone creates a narrower, shorter-lived grant on the parent's secret.
func (d *DB) Clone(ctx context.Context, parentID string, c secretstore.CloneRequest) (secretstore.Grant, error) {
	t := now()
	if err := checkText("name", c.Name); err != nil {
		return secretstore.Grant{}, err
	}
	if err := checkLabels(c.Labels); err != nil {
		return secretstore.Grant{}, err
	}
	expiry, err := cloneExpiry(c, t)
	if err != nil {
		return secretstore.Grant{}, err
	}
	var g secretstore.Grant
	err = d.write(ctx, func(tx *sql.Tx) error {
		parent, lookup, err := d.loadChain(ctx, tx, parentID)
		if err != nil {
			return err
		}
		if parent == nil {
			return notFound(parentID)
		}
		v := evaluate(parent, lookup)
		switch {
		case v.problem != nil:
			return fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, parentID, v.problem)
		case v.unavailable:
			return invalid("grant %s cannot be cloned: it is %s", parentID, v.status)
		case !v.expires.IsZero() && !t.Before(v.expires):
			return invalid("grant %s cannot be cloned: it expired at %s", parentID, v.expires.Format(time.RFC3339))
		case expiry != nil && !v.expires.IsZero() && expiry.After(v.expires):
			return invalid("expiry %s is after the parent grant's expiry %s: a clone cannot outlive its parent",
				expiry.Format(time.RFC3339), v.expires.Format(time.RFC3339))
		}
		spec, err := grant.Narrow(c.Policy, parent.g.Policy)
		if err != nil {
			return err
		}
		g = secretstore.Grant{ID: uuid.NewString(), SecretID: parent.g.SecretID, Name: c.Name,
			Labels: append([]string(nil), c.Labels...), Parent: parentID, Policy: spec,
			ExpiresAt: expiry, CreatedAt: t, UpdatedAt: t}
		if g.Name == "" {
			g.Name = parent.g.Name
		}
		if err := d.insertGrant(ctx, tx, g, parent.app); err != nil { // a clone serves its parent's app
			return err
		}
		if err := d.recordChanges(ctx, tx, ChangeClone, []string{g.ID}); err != nil {
			return err
		}
		return d.insertAuditTx(ctx, tx, ServerEvent{Event: audit.EventGrantClone, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), App: parent.app, GrantID: g.ID,
			Target: g.Name, PolicyBefore: parent.g.Policy, PolicyAfter: g.Policy, Time: t,
			Detail: map[string]string{"parent_grant_id": parentID}}.Record())
	})
	if err != nil {
		return secretstore.Grant{}, err
	}
	return g, nil
}

// Rotate re-seals the secret behind grantID and bumps its version; every
// grant sharing the secret (its clones) sees the new values. The grant and
// its secret must pass their integrity checks first: rotating through a
// grant re-pointed at another secret, or re-signing an edited spec, would
// launder the edit.
//
// The grant named must be usable: a revoked or expired grant (or one whose
// parent is revoked) is no handle on the secret any more, so rotating
// through it is refused (ErrInvalid) rather than changing the secret every
// live grant on it injects.
func (d *DB) Rotate(ctx context.Context, grantID string, fields inject.Fields) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		r, lookup, err := d.loadChain(ctx, tx, grantID)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound(grantID)
		}
		if r.problem != nil {
			return fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, grantID, r.problem)
		}
		v := evaluate(r, lookup)
		if v.problem != nil {
			return fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, grantID, v.problem)
		}
		if v.unavailable || (!v.expires.IsZero() && !time.Now().Before(v.expires)) {
			return invalid("grant %s is %s: rotate the secret through a grant that is still active", grantID, r.info(v, time.Now()).Status)
		}
		if r.sec == nil {
			return fmt.Errorf("%w: grant %s: its secret %s is not in the store", secretstore.ErrStoreUnavailable, grantID, r.g.SecretID)
		}
		secretID := r.sec.ID
		inj, err := inject.Compile(r.sec.Spec)
		if err != nil {
			return fmt.Errorf("%w: secret %s: stored spec: %v", secretstore.ErrStoreUnavailable, secretID, err)
		}
		if err := inj.CheckFields(fields); err != nil {
			return invalid("%w", err)
		}
		keyID, blob, err := d.sealer.Seal(secretID, fields)
		if err != nil {
			return fmt.Errorf("seal secret %s: %w", secretID, err)
		}
		version := int64(r.sec.Version) + 1
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE secrets SET version = ?, key_id = ?, sealed = ?,
			fields = ?, updated_at = ?, mac = ? WHERE id = ?`), version, keyID, blob, mustJSON(fields.Names()), micro(now()),
			d.secretSum(secretID, r.rawSpec, keyID, blob, version), secretID); err != nil {
			return unavailable(err)
		}
		ids, err := d.idList(ctx, tx, `SELECT id FROM grants WHERE secret_id = ? ORDER BY created_at, id`, secretID)
		if err != nil {
			return err
		}
		if err := d.recordChanges(ctx, tx, ChangeRotate, ids); err != nil {
			return err
		}
		return d.insertAuditTx(ctx, tx, ServerEvent{Event: audit.EventGrantRotate, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), App: r.app, GrantID: grantID,
			Target: r.g.Name, Detail: map[string]string{"secret_id": secretID, "version": strconv.FormatInt(version, 10)}}.Record())
	})
}

// Revoke marks the grant revoked; its clones follow. Revoking twice is not
// an error and records no change.
func (d *DB) Revoke(ctx context.Context, grantID string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		r, lookup, err := d.loadChain(ctx, tx, grantID)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound(grantID)
		}
		if r.g.Revoked && !r.tampered {
			return nil
		}
		before := r.info(evaluate(r, lookup), now()).Status
		if err := d.resign(ctx, tx, r, r.rawPolicy, true); err != nil {
			return err
		}
		if err := d.changeTree(ctx, tx, ChangeRevoke, grantID); err != nil {
			return err
		}
		return d.insertAuditTx(ctx, tx, ServerEvent{Event: audit.EventGrantRevoke, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), App: r.app, GrantID: grantID,
			Target: r.g.Name, PolicyBefore: r.g.Policy, PolicyAfter: r.g.Policy,
			Detail: map[string]string{"status_before": before, "status_after": secretstore.StatusRevoked}}.Record())
	})
}

// SetPolicy replaces a grant's policy; a clone's must stay within its
// parent's, with empty rules inherited. A policy that would make the grant
// overlap another grant of a profile holding it is refused, naming both
// (checkProfilesAfterPolicy).
func (d *DB) SetPolicy(ctx context.Context, grantID string, spec policy.Spec) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		r, lookup, err := d.loadChain(ctx, tx, grantID)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound(grantID)
		}
		if r.problem != nil {
			return fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, grantID, r.problem)
		}
		var canon policy.Spec
		if r.g.Parent == "" {
			if canon, err = spec.Canonical(); err != nil {
				return invalid("%w", err)
			}
		} else {
			parent := lookup(r.g.Parent)
			switch {
			case parent == nil:
				return invalid("grant %s: its parent %s is not in the store", grantID, r.g.Parent)
			case parent.problem != nil:
				return fmt.Errorf("%w: grant %s: parent: %v", secretstore.ErrStoreUnavailable, grantID, parent.problem)
			}
			if canon, err = grant.Narrow(spec, parent.g.Policy); err != nil {
				return err
			}
		}
		if err := d.checkProfilesAfterPolicy(ctx, tx, r.app, grantID, canon); err != nil {
			return err
		}
		if err := d.resign(ctx, tx, r, mustJSON(canon), r.g.Revoked); err != nil {
			return err
		}
		if err := d.changeTree(ctx, tx, ChangePolicy, grantID); err != nil {
			return err
		}
		return d.insertAuditTx(ctx, tx, ServerEvent{Event: audit.EventGrantPolicy, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), App: r.app, GrantID: grantID,
			Target: r.g.Name, PolicyBefore: r.g.Policy, PolicyAfter: canon}.Record())
	})
}
