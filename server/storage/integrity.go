package storage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/secretstore"
)

// Row integrity. Grant, secret, token, profile, user and portal session rows are not secret, but an edit
// made directly in the database is an attack: a policy widened, "revoked"
// cleared, a grant moved to another app, a token un-revoked or inserted.
// Every such row therefore carries a mac column: HMAC-SHA256 over its
// security-relevant columns, each length-prefixed, under the integrity key.
// A row whose mac does not verify is never used: grants list as unusable
// with a Problem and resolve to ErrStoreUnavailable; tokens do not
// authenticate.
//
// The integrity key is 32 random bytes sealed by the server's Sealer (the
// keyring) and stored in the database, made by the first server that opens
// it. secretstore keeps its own MAC key derivation unexported; sealing a
// random key gives the same property, since only a holder of the master key
// can open it: whoever can write the database but lacks the master key can
// neither compute a valid mac nor swap in a key of their own (a sealed blob
// opens only under the keyring and only for integrityKeyID).

// integrityKeyID binds the sealed integrity key to its purpose, as a secret
// id binds a sealed secret (secret ids are UUIDs, so they never collide).
const integrityKeyID = "alter-integrity-key"

const macLabel = "alter-storage-row-v1"

// Row kinds, part of every mac, so one kind of row's mac never vouches for
// another.
const (
	macGrant   = "grant"
	macSecret  = "secret"
	macToken   = "token"
	macUser    = "user"
	macPortal  = "portal_session"
	macProfile = "profile"
)

// errTampered is the problem of a row whose mac does not verify.
var errTampered = errors.New("integrity check failed: the row was changed outside alter")

// loadIntegrityKey reads the integrity key, creating it on first use.
func (d *DB) loadIntegrityKey(ctx context.Context) error {
	var keyID string
	var blob []byte
	err := d.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT key_id, sealed FROM integrity_key WHERE id = 1`).Scan(&keyID, &blob)
		if !isNoRows(err) {
			return unavailable(err)
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		keyID, blob, err = d.sealer.Seal(integrityKeyID, inject.Fields{"key": base64.StdEncoding.EncodeToString(raw)})
		if err != nil {
			return fmt.Errorf("seal the integrity key: %w", err)
		}
		_, err = tx.ExecContext(ctx, d.q(`INSERT INTO integrity_key (id, key_id, sealed) VALUES (1, ?, ?)`), keyID, blob)
		return unavailable(err)
	})
	if err != nil {
		return fmt.Errorf("storage: integrity key: %w", err)
	}
	fields, err := d.sealer.Open(integrityKeyID, keyID, blob)
	if err != nil {
		return fmt.Errorf("storage: the integrity key does not open with this keyring (wrong master key?): %w", unavailable(err))
	}
	key, err := base64.StdEncoding.DecodeString(fields["key"])
	if err != nil || len(key) != 32 {
		return fmt.Errorf("storage: %w: the integrity key is malformed", secretstore.ErrStoreUnavailable)
	}
	d.macKey = key
	return nil
}

// sum is the mac of one row: kind and columns, each length-prefixed so no
// two column lists share an encoding.
func (d *DB) sum(kind string, cols ...string) string {
	h := hmac.New(sha256.New, d.macKey)
	h.Write([]byte(macLabel))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	for _, c := range cols {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(c)))
		h.Write(n[:])
		h.Write([]byte(c))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// verify compares a stored mac with the expected one in constant time.
func verify(stored, want string) error {
	if stored == "" {
		return errors.New("integrity check failed: the row has no integrity code")
	}
	if !hmac.Equal([]byte(stored), []byte(want)) {
		return errTampered
	}
	return nil
}

// grantCols are the columns a grant's mac covers, as stored.
type grantCols struct {
	id, secretID, parent, policy string // policy: the stored JSON text
	revoked                      bool
	expires                      sql.NullInt64
	app                          string
}

func (d *DB) grantSum(c grantCols) string {
	return d.sum(macGrant, c.id, c.secretID, c.parent, c.policy, strconv.FormatBool(c.revoked), nullInt(c.expires), c.app)
}

// secretSum covers what decides which credential a grant injects and how.
func (d *DB) secretSum(id, spec, keyID string, sealed []byte, version int64) string {
	return d.sum(macSecret, id, spec, keyID, string(sealed), strconv.FormatInt(version, 10))
}

func (d *DB) tokenSum(t Token, digest string) string {
	revoked := ""
	if t.RevokedAt != nil {
		revoked = strconv.FormatInt(micro(*t.RevokedAt), 10)
	}
	cols := []string{t.ID, t.Kind, t.Name, t.App, digest, strconv.FormatInt(micro(t.CreatedAt), 10), revoked}
	if t.PendingBy != "" {
		// Only when set, so rows from before approvals verify as they did.
		cols = append(cols, "pending_by", t.PendingBy)
	}
	return d.sum(macToken, cols...)
}

func nullInt(n sql.NullInt64) string {
	if !n.Valid {
		return ""
	}
	return strconv.FormatInt(n.Int64, 10)
}

// profileCols are the columns a profile's mac covers, as stored: all but
// updated_at, which decides nothing.
type profileCols struct {
	id, name, app, grants, digest string // grants: the stored JSON text
	denyUnmatched, revoked        bool
	created                       int64
}

func (d *DB) profileSum(c profileCols) string {
	return d.sum(macProfile, c.id, c.name, c.app, c.grants, strconv.FormatBool(c.denyUnmatched),
		strconv.FormatBool(c.revoked), c.digest, strconv.FormatInt(c.created, 10))
}
