package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

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

const insertGrant = `INSERT INTO grants (id, secret_id, name, labels, parent, policy, revoked, expires_at, created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (d *DB) insertGrant(ctx context.Context, tx *sql.Tx, g secretstore.Grant) error {
	labels := g.Labels
	if labels == nil {
		labels = []string{}
	}
	_, err := tx.ExecContext(ctx, d.q(insertGrant), g.ID, g.SecretID, g.Name, mustJSON(labels),
		nullString(g.Parent), mustJSON(g.Policy), g.Revoked, nullMicro(g.ExpiresAt),
		micro(g.CreatedAt), micro(g.UpdatedAt))
	return unavailable(err)
}

// Add validates and seals the secret and creates its first grant.
func (d *DB) Add(ctx context.Context, ns secretstore.NewSecret) (secretstore.Grant, error) {
	t := now()
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
		_, err := tx.ExecContext(ctx, d.q(`INSERT INTO secrets (id, spec, provider, fields, version, key_id, sealed, updated_at)
			VALUES (?, ?, ?, ?, 1, ?, ?, ?)`),
			secretID, mustJSON(ns.Spec), ns.Provider, mustJSON(ns.Fields.Names()), keyID, blob, micro(t))
		if err != nil {
			return unavailable(err)
		}
		if err := d.insertGrant(ctx, tx, g); err != nil {
			return err
		}
		return d.recordChanges(ctx, tx, ChangeAdd, []string{grantID})
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
		spec, err := narrow(c.Policy, parent.g.Policy)
		if err != nil {
			return err
		}
		g = secretstore.Grant{ID: uuid.NewString(), SecretID: parent.g.SecretID, Name: c.Name,
			Labels: append([]string(nil), c.Labels...), Parent: parentID, Policy: spec,
			ExpiresAt: expiry, CreatedAt: t, UpdatedAt: t}
		if g.Name == "" {
			g.Name = parent.g.Name
		}
		if err := d.insertGrant(ctx, tx, g); err != nil {
			return err
		}
		return d.recordChanges(ctx, tx, ChangeClone, []string{g.ID})
	})
	if err != nil {
		return secretstore.Grant{}, err
	}
	return g, nil
}

// Rotate re-seals the secret behind grantID and bumps its version; every
// grant sharing the secret (its clones) sees the new values.
func (d *DB) Rotate(ctx context.Context, grantID string, fields inject.Fields) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		var secretID, spec string
		err := tx.QueryRowContext(ctx, d.q(`SELECT s.id, s.spec FROM grants g JOIN secrets s ON s.id = g.secret_id
			WHERE g.id = ?`), grantID).Scan(&secretID, &spec)
		if isNoRows(err) {
			return notFound(grantID)
		}
		if err != nil {
			return unavailable(err)
		}
		var is inject.Spec
		if err := json.Unmarshal([]byte(spec), &is); err != nil {
			return fmt.Errorf("%w: secret %s: stored spec: %v", secretstore.ErrStoreUnavailable, secretID, err)
		}
		inj, err := inject.Compile(is)
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
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE secrets SET version = version + 1, key_id = ?, sealed = ?,
			fields = ?, updated_at = ? WHERE id = ?`), keyID, blob, mustJSON(fields.Names()), micro(now()), secretID); err != nil {
			return unavailable(err)
		}
		ids, err := d.idList(ctx, tx, `SELECT id FROM grants WHERE secret_id = ? ORDER BY created_at, id`, secretID)
		if err != nil {
			return err
		}
		return d.recordChanges(ctx, tx, ChangeRotate, ids)
	})
}

// Revoke marks the grant revoked; its clones follow. Revoking twice is not
// an error and records no change.
func (d *DB) Revoke(ctx context.Context, grantID string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, d.q(`UPDATE grants SET revoked = ?, updated_at = ? WHERE id = ? AND revoked = ?`),
			true, micro(now()), grantID, false)
		if err != nil {
			return unavailable(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return unavailable(err)
		} else if n == 0 {
			return d.mustExist(ctx, tx, grantID)
		}
		return d.changeTree(ctx, tx, ChangeRevoke, grantID)
	})
}

// SetPolicy replaces a grant's policy; a clone's must stay within its
// parent's, with empty rules inherited.
func (d *DB) SetPolicy(ctx context.Context, grantID string, spec policy.Spec) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		r, lookup, err := d.loadChain(ctx, tx, grantID)
		if err != nil {
			return err
		}
		if r == nil {
			return notFound(grantID)
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
			if canon, err = narrow(spec, parent.g.Policy); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE grants SET policy = ?, updated_at = ? WHERE id = ?`),
			mustJSON(canon), micro(now()), grantID); err != nil {
			return unavailable(err)
		}
		return d.changeTree(ctx, tx, ChangePolicy, grantID)
	})
}

// mustExist returns nil if the grant exists, else an ErrNotFound error.
func (d *DB) mustExist(ctx context.Context, tx *sql.Tx, grantID string) error {
	var one int
	err := tx.QueryRowContext(ctx, d.q(`SELECT 1 FROM grants WHERE id = ?`), grantID).Scan(&one)
	if isNoRows(err) {
		return notFound(grantID)
	}
	return unavailable(err)
}
