package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// testSealer is the real sealing the server uses: secretstore's keyring
// (AES-256-GCM bound to the secret id and key id), with a fixed test key.
var testSealer = func() *secretstore.Keyring {
	k, err := secretstore.ParseKeyring([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), "test key")
	if err != nil {
		panic(err)
	}
	return k
}()

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
