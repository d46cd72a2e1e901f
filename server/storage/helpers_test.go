package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
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

// engineCase is one database engine the suite runs against.
type engineCase struct {
	name string
	// addr returns a fresh, empty database's address for this test.
	addr func(t *testing.T) string
}

const pgEnv = "ALTER_TEST_DATABASE_URL"

func engines() []engineCase {
	return []engineCase{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "alter.db") }},
		{"postgres", freshPostgres},
	}
}

// freshPostgres creates a schema with a random name and returns an address
// whose search_path is that schema; the schema is dropped when the test
// ends. Parallel runs on one database never see each other's tables.
func freshPostgres(t *testing.T) string {
	base := os.Getenv(pgEnv)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run them", pgEnv)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "alter_test_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// forEachEngine runs fn as a subtest per engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, addr string)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { fn(t, e.addr(t)) })
	}
}

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
