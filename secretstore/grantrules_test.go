package secretstore_test

import (
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"testing"

	"github.com/alter-sidecar/alter/grant/granttest"
	"github.com/alter-sidecar/alter/secretstore"
)

// The file store holds to the grant rules every store shares.
func TestFileStoreGrantRules(t *testing.T) {
	granttest.Run(t, func(t *testing.T) granttest.Store {
		key := make([]byte, secretstore.KeySize)
		_, _ = rand.Read(key)
		kr, err := secretstore.ParseKeyring([]byte(base64.StdEncoding.EncodeToString(key)+"\n"), "test key")
		if err != nil {
			t.Fatal(err)
		}
		s, err := secretstore.OpenFile(filepath.Join(t.TempDir(), "grants.json"), kr)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
