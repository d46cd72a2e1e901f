package controlplane

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

const pgEnv = "ALTER_TEST_DATABASE_URL"

// freshDatabase returns the address of an empty schema of the test
// PostgreSQL database, dropped when the test ends, or skips the test,
// saying why, when there is no database to use.
func freshDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv(pgEnv)
	if base == "" {
		t.Skipf("control-plane e2e skipped: it needs PostgreSQL; set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable), as .ci/run does", pgEnv)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "alter_e2e_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
