package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/inject"
)

// Add, Rotate and Revoke. Each validates what it can before taking the
// lock, then re-reads the file under the lock, applies its change to the
// raw records (leaving the others as they were) and writes the file
// atomically. A failed check writes nothing.

// update runs change on the current file under the write lock and writes
// the result if change says so. Afterwards this store's snapshot is
// reloaded, so its own Resolve sees the change at once.
func (s *FileStore) update(ctx context.Context, change func(f *storeFile) (write bool, err error)) error {
	return s.writeLocked(ctx, func() (string, []byte, error) {
		f, err := s.readLocked()
		if err != nil {
			return "", nil, err
		}
		if write, err := change(f); err != nil || !write {
			return "", nil, err
		}
		out, err := f.encode()
		if err != nil {
			return "", nil, fmt.Errorf("write store %s: %w", s.path, err)
		}
		return s.path, out, nil
	})
}

// writeLocked runs change under the store's write lock. If change returns
// data, they replace the file at path atomically and this store's snapshot
// is reloaded. The grants file and the profiles file share the lock.
func (s *FileStore) writeLocked(ctx context.Context, change func() (path string, data []byte, err error)) error {
	unlock, err := lockStore(ctx, s.path)
	if err != nil {
		return err
	}
	defer unlock()
	path, data, err := change()
	if err != nil || data == nil {
		return err
	}
	if err := writeAtomic(path, data); err != nil {
		return err
	}
	s.reload()
	return nil
}

// readLocked reads the store file; the caller holds the write lock.
func (s *FileStore) readLocked() (*storeFile, error) {
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return emptyStoreFile(), nil // missing is empty, as in OpenFile
	case err != nil:
		return nil, fmt.Errorf("%w: store: %v", ErrStoreUnavailable, err)
	}
	f, err := decodeStoreFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w: store %s: %v", ErrStoreUnavailable, s.path, err)
	}
	return f, nil
}

// Add validates and seals the secret and creates its first grant. See Admin.
func (s *FileStore) Add(ctx context.Context, ns NewSecret) (Grant, error) {
	now := time.Now().UTC()
	if err := validateNew(ns, now); err != nil {
		return Grant{}, err
	}
	secretID, err := uuid.NewRandom()
	if err != nil {
		return Grant{}, err
	}
	grantID, err := uuid.NewRandom()
	if err != nil {
		return Grant{}, err
	}
	keyID, nonce, sealed, err := s.keys.seal(secretID.String(), ns.Fields)
	if err != nil {
		return Grant{}, err
	}
	rawSecret, err := s.keys.signSecret(secretRecord{
		SecretInfo: SecretInfo{
			ID:        secretID.String(),
			Spec:      ns.Spec,
			Provider:  ns.Provider,
			Fields:    ns.Fields.Names(),
			Version:   1,
			KeyID:     keyID,
			UpdatedAt: now,
		},
		Nonce:      nonce,
		Ciphertext: sealed,
	})
	if err != nil {
		return Grant{}, err
	}
	pol, err := ns.Policy.Canonical()
	if err != nil {
		return Grant{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	g := Grant{
		ID:        grantID.String(),
		SecretID:  secretID.String(),
		Name:      ns.Name,
		Labels:    append([]string(nil), ns.Labels...),
		Policy:    pol,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if ns.ExpiresAt != nil {
		x := ns.ExpiresAt.UTC()
		g.ExpiresAt = &x
	}
	rawGrant, err := s.keys.signGrant(g)
	if err != nil {
		return Grant{}, err
	}
	err = s.update(ctx, func(f *storeFile) (bool, error) {
		f.Secrets = append(f.Secrets, rawSecret)
		f.Grants = append(f.Grants, rawGrant)
		return true, nil
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// Rotate re-seals the secret behind grantID with new values under the
// active key and bumps its version. See Admin. A revoked or expired grant
// may be rotated (it stays unusable); a record that fails its integrity
// check may not.
func (s *FileStore) Rotate(ctx context.Context, grantID string, fields inject.Fields) error {
	return s.update(ctx, func(f *storeFile) (bool, error) {
		_, g, err := s.findGrant(f, grantID)
		if err != nil {
			return false, err
		}
		i, rec, err := s.findSecret(f, g.SecretID)
		if err != nil {
			return false, fmt.Errorf("grant %s: %w", grantID, err)
		}
		_, err = s.reseal(f, i, rec, fields)
		return err == nil, err
	})
}

// reseal checks fields against the secret's stored spec, seals them under
// the active key as the secret's next version and signs the record back
// into f at i. It returns the new version.
func (s *FileStore) reseal(f *storeFile, i int, rec secretRecord, fields inject.Fields) (int, error) {
	inj, err := inject.Compile(rec.Spec)
	if err != nil {
		return 0, fmt.Errorf("%w: secret %s: stored spec: %v", ErrStoreUnavailable, rec.ID, err)
	}
	if err := inj.CheckFields(fields); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	keyID, nonce, sealed, err := s.keys.seal(rec.ID, fields)
	if err != nil {
		return 0, err
	}
	rec.Version++
	rec.KeyID, rec.Nonce, rec.Ciphertext = keyID, nonce, sealed
	rec.Fields = fields.Names()
	rec.UpdatedAt = time.Now().UTC()
	rec.MAC = nil
	if f.Secrets[i], err = s.keys.signSecret(rec); err != nil {
		return 0, err
	}
	return rec.Version, nil
}

// Revoke marks the grant revoked; its clones follow (see resolveChain).
// Revoking twice is not an error and writes nothing.
func (s *FileStore) Revoke(ctx context.Context, grantID string) error {
	return s.update(ctx, func(f *storeFile) (bool, error) {
		i, g, err := s.findGrant(f, grantID)
		if err != nil {
			return false, err
		}
		if g.Revoked {
			return false, nil
		}
		g.Revoked = true
		g.UpdatedAt = time.Now().UTC()
		if f.Grants[i], err = s.keys.signGrant(g); err != nil {
			return false, err
		}
		return true, nil
	})
}

// findGrant returns the index and checked contents of a grant record. A
// record that fails its check is not changed: re-signing it would make an
// edit made outside alter look authentic.
func (s *FileStore) findGrant(f *storeFile, id string) (int, Grant, error) {
	i, err := findRecord(f.Grants, id)
	if err != nil {
		return 0, Grant{}, fmt.Errorf("grant %s: %w", id, err)
	}
	rec, err := s.keys.openGrant(f.Grants[i])
	if err != nil {
		return 0, Grant{}, fmt.Errorf("%w: grant %s: %v", ErrStoreUnavailable, id, err)
	}
	return i, rec.Grant, nil
}

// findSecret is findGrant for secret records.
func (s *FileStore) findSecret(f *storeFile, id string) (int, secretRecord, error) {
	i, err := findRecord(f.Secrets, id)
	if errors.Is(err, ErrNotFound) {
		// A grant whose secret is gone is a broken store, not a typo.
		return 0, secretRecord{}, fmt.Errorf("%w: secret %s is not in the store", ErrStoreUnavailable, id)
	}
	if err != nil {
		return 0, secretRecord{}, fmt.Errorf("secret %s: %w", id, err)
	}
	rec, err := s.keys.openSecretRecord(f.Secrets[i])
	if err != nil {
		return 0, secretRecord{}, fmt.Errorf("%w: secret %s: %v", ErrStoreUnavailable, id, err)
	}
	return i, rec, nil
}

// findRecord finds the one record with the given id.
func findRecord(records []json.RawMessage, id string) (int, error) {
	if id == "" {
		return 0, ErrNotFound
	}
	found := -1
	for i, raw := range records {
		if recordID(raw) != id {
			continue
		}
		if found >= 0 {
			return 0, fmt.Errorf("%w: two records have this id", ErrStoreUnavailable)
		}
		found = i
	}
	if found < 0 {
		return 0, ErrNotFound
	}
	return found, nil
}
