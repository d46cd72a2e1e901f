package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/secretstore"
)

// ReplaceFields re-seals the secret secretID with new values if it is still
// at version, and returns the new version: how the server keeps a refresh
// token the token endpoint rotated (package mint, server-side minting). It
// is one transaction, so the old value stays until the new one is
// committed; a secret rotated meanwhile (another version) is left alone
// and the error wraps secretstore.ErrVersionChanged. The values are checked
// against the stored spec as Rotate checks them, and the change is in the
// change stream (ChangeRotate) for every grant on the secret.
func (d *DB) ReplaceFields(ctx context.Context, secretID string, version int, fields inject.Fields) (int, error) {
	newVersion := 0
	err := d.write(ctx, func(tx *sql.Tx) error {
		var (
			spec, keyID, mac string
			stored           int64
			blob             []byte
		)
		err := tx.QueryRowContext(ctx, d.q(`SELECT spec, version, key_id, sealed, mac FROM secrets WHERE id = ?`), secretID).
			Scan(&spec, &stored, &keyID, &blob, &mac)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: secret %s", secretstore.ErrNotFound, secretID)
		case err != nil:
			return unavailable(err)
		}
		if err := verify(mac, d.secretSum(secretID, spec, keyID, blob, stored)); err != nil {
			return fmt.Errorf("%w: secret %s: %v", secretstore.ErrStoreUnavailable, secretID, err)
		}
		if int(stored) != version {
			return secretstore.ErrVersionChanged
		}
		var s inject.Spec
		if err := json.Unmarshal([]byte(spec), &s); err != nil {
			return fmt.Errorf("%w: secret %s: spec does not decode: %v", secretstore.ErrStoreUnavailable, secretID, err)
		}
		inj, err := inject.Compile(s)
		if err != nil {
			return fmt.Errorf("%w: secret %s: stored spec: %v", secretstore.ErrStoreUnavailable, secretID, err)
		}
		if err := inj.CheckFields(fields); err != nil {
			return invalid("%w", err)
		}
		newKeyID, sealed, err := d.sealer.Seal(secretID, fields)
		if err != nil {
			return fmt.Errorf("seal secret %s: %w", secretID, err)
		}
		next := stored + 1
		res, err := tx.ExecContext(ctx, d.q(`UPDATE secrets SET version = ?, key_id = ?, sealed = ?,
			fields = ?, updated_at = ?, mac = ? WHERE id = ? AND version = ?`), next, newKeyID, sealed, mustJSON(fields.Names()),
			micro(now()), d.secretSum(secretID, spec, newKeyID, sealed, next), secretID, stored)
		if err != nil {
			return unavailable(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return secretstore.ErrVersionChanged
		}
		ids, err := d.idList(ctx, tx, `SELECT id FROM grants WHERE secret_id = ? ORDER BY created_at, id`, secretID)
		if err != nil {
			return err
		}
		newVersion = int(next)
		return d.recordChanges(ctx, tx, ChangeRotate, ids)
	})
	return newVersion, err
}
