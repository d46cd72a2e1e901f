package secretstore_test

import (
	"path/filepath"
	"testing"

	"github.com/alter-sidecar/alter/grant/granttest"
	"github.com/alter-sidecar/alter/internal/testkeys"
	"github.com/alter-sidecar/alter/secretstore"
)

// The file store holds to the grant rules every store shares.
func TestFileStoreGrantRules(t *testing.T) {
	granttest.Run(t, func(t *testing.T) granttest.Store {
		s, err := secretstore.OpenFile(filepath.Join(t.TempDir(), "grants.json"), testkeys.Keyring(t, 1))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
