package storage

import (
	"context"
	"testing"

	"github.com/alter-sidecar/alter/internal/testkeys"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// testSealer is the real sealing the server uses: secretstore's keyring
// (AES-256-GCM bound to the secret id and key id), with a fixed test key.
var testSealer = testkeys.Fixed(7)

func openT(t *testing.T, addr string) *DB {
	t.Helper()
	d, err := Open(context.Background(), addr, testSealer)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newSecret(token string, hosts ...string) secretstore.NewSecret {
	return secretstore.NewSecret{
		Spec:   inject.Spec{Type: inject.TypeBearer},
		Fields: inject.Fields{"token": token},
		Name:   "github",
		Labels: []string{"team-a"},
		Policy: policy.Spec{Destinations: hosts},
	}
}

func mustAdd(t *testing.T, d *DB, ns secretstore.NewSecret) secretstore.Grant {
	t.Helper()
	g, err := d.Add(context.Background(), ns)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return g
}
