package storage

import (
	"testing"

	"github.com/alter-sidecar/alter/grant/granttest"
	"github.com/alter-sidecar/alter/internal/testdb"
)

// The control plane's storage holds to the grant rules every store shares,
// on each database engine.
func TestStorageGrantRules(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		granttest.Run(t, func(*testing.T) granttest.Store { return d })
	})
}
