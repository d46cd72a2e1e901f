package secretstore

import (
	"context"
	"fmt"

	"github.com/alter-sidecar/alter/inject"
)

// ErrVersionChanged: ReplaceFields found the secret at another version
// than the caller read (an admin rotated it meanwhile); nothing was written.
var ErrVersionChanged = fmt.Errorf("%w: the secret changed since it was read", ErrInvalid)

// ReplaceFields re-seals the secret secretID with new values if it is still
// at version, and returns the new version. It is how the proxy keeps a
// refresh token the token endpoint rotated (package mint): under the
// store's lock, sealed and MAC'd like any write, replacing the file
// atomically, so the old value stays stored until the new one is on disk.
// The values are checked as Rotate checks them.
func (s *FileStore) ReplaceFields(ctx context.Context, secretID string, version int, fields inject.Fields) (int, error) {
	var newVersion int
	err := s.update(ctx, func(f *storeFile) (bool, error) {
		i, rec, err := s.findSecret(f, secretID)
		if err != nil {
			return false, err
		}
		if rec.Version != version {
			return false, ErrVersionChanged
		}
		newVersion, err = s.reseal(f, i, rec, fields)
		return err == nil, err
	})
	return newVersion, err
}
