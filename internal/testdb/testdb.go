// Package testdb gives tests a fresh, empty database on each engine the
// control plane's storage runs on: SQLite always, PostgreSQL when
// ALTER_TEST_DATABASE_URL names a database to use. Only tests import it.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// EnvURL names the environment variable holding the PostgreSQL database
// the tests may create schemas in.
const EnvURL = "ALTER_TEST_DATABASE_URL"

// Engine is one database engine the suites run against.
type Engine struct {
	Name string
	// Fresh returns the address of a fresh, empty database, removed when
	// tb ends. It skips tb, saying why, when the engine cannot run here.
	Fresh func(tb testing.TB) string
	// Missing says why the engine cannot run here, or "" when it can.
	Missing func() string
}

// Engines lists the engines, SQLite first: it always runs.
func Engines() []Engine {
	return []Engine{
		{Name: "sqlite", Fresh: SQLite, Missing: func() string { return "" }},
		{Name: "postgres", Fresh: Postgres, Missing: postgresMissing},
	}
}

// ForEach runs fn as a subtest per engine, each on a fresh database.
func ForEach(t *testing.T, fn func(t *testing.T, addr string)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) { fn(t, e.Fresh(t)) })
	}
}

// SQLite returns the address of a new SQLite database in tb's temporary
// directory.
func SQLite(tb testing.TB) string {
	return "sqlite://" + filepath.Join(tb.TempDir(), "alter.db")
}

func postgresMissing() string {
	if os.Getenv(EnvURL) != "" {
		return ""
	}
	return "PostgreSQL tests skipped: set " + EnvURL +
		" (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable, as .ci/run does) to run them"
}

// Postgres creates a schema with a random name in the database
// ALTER_TEST_DATABASE_URL names and returns an address whose search_path
// is that schema; the schema is dropped when tb ends. Parallel runs on
// one database never see each other's tables. Without the variable it
// skips tb, saying how to run it.
func Postgres(tb testing.TB) string {
	tb.Helper()
	if why := postgresMissing(); why != "" {
		tb.Skip(why)
	}
	base := os.Getenv(EnvURL)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "alter_test_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// Raw opens a handle on the database at addr (as Fresh returned it) that
// bypasses alter, for editing rows behind its back; it is closed when tb
// ends.
func Raw(tb testing.TB, addr string) *sql.DB {
	tb.Helper()
	driver, dsn := "pgx", addr
	if path, ok := strings.CutPrefix(addr, "sqlite://"); ok {
		driver, dsn = "sqlite", path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
