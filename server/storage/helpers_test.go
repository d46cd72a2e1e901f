package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// fakeSealer stands in for secretstore's AES-256-GCM sealing, which that
// package does not export. It is not encryption: it XORs the field JSON
// with a fixed byte, which is enough to prove the storage layer never
// writes what it was given in clear, and it binds the blob to its secret
// id and key id so a moved blob fails to open, as the real sealer's
// associated data does.
type fakeSealer struct{ keyID string }

const fakeXOR = 0x5a

func (f fakeSealer) Seal(secretID string, fields inject.Fields) (string, []byte, error) {
	plain, err := json.Marshal(map[string]string(fields))
	if err != nil {
		return "", nil, err
	}
	blob := append([]byte(secretID+"\x00"+f.keyID+"\x00"), plain...)
	for i := len(blob) - len(plain); i < len(blob); i++ {
		blob[i] ^= fakeXOR
	}
	return f.keyID, blob, nil
}

func (f fakeSealer) Open(secretID, keyID string, blob []byte) (inject.Fields, error) {
	prefix := []byte(secretID + "\x00" + keyID + "\x00")
	if keyID != f.keyID || !bytes.HasPrefix(blob, prefix) {
		return nil, errors.New("blob does not belong to this secret or key")
	}
	plain := bytes.Clone(blob[len(prefix):])
	for i := range plain {
		plain[i] ^= fakeXOR
	}
	var m map[string]string
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, err
	}
	return inject.Fields(m), nil
}

var testSealer = fakeSealer{keyID: "test-key-1"}

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
