// Package testdb gives tests a fresh, empty database on each engine the
// control plane's storage runs on: SQLite always, PostgreSQL when
// ALTER_TEST_DATABASE_URL names a database to use. Only tests import it.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
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

// EnvStandbyURL names the environment variable holding a hot standby of
// EnvURL's cluster (streaming replication), for the tests of reads that
// a pooler sends to a standby. Only its host, port and user are used.
const EnvStandbyURL = "ALTER_TEST_STANDBY_URL"

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
	schema := "alter_test_" + randomHex()
	create(tb, "CREATE SCHEMA "+schema, "DROP SCHEMA "+schema+" CASCADE")
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

// PostgresDatabase creates a database of its own (not a schema) with a
// random name, owned by owner ("" for the role of ALTER_TEST_DATABASE_URL),
// and returns its address with the user set to owner; it is dropped when
// tb ends. For tests about what other sessions of a database do, which a
// schema in the shared database cannot isolate. It skips tb like Postgres.
func PostgresDatabase(tb testing.TB, owner string) string {
	tb.Helper()
	if why := postgresMissing(); why != "" {
		tb.Skip(why)
	}
	base := os.Getenv(EnvURL)
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	name := "alter_test_db_" + randomHex()
	stmt := "CREATE DATABASE " + name
	if owner != "" {
		stmt += " OWNER " + owner
	}
	create(tb, stmt, "DROP DATABASE "+name+" WITH (FORCE)")
	u.Path = "/" + name
	if owner != "" {
		u.User = url.User(owner)
	}
	return u.String()
}

// PostgresRole creates a login role with a random name and no privilege
// beyond what PUBLIC has (trust authentication, as CI's PostgreSQL has),
// dropped when tb ends after the databases it owns.
func PostgresRole(tb testing.TB) string {
	tb.Helper()
	if why := postgresMissing(); why != "" {
		tb.Skip(why)
	}
	role := "alter_test_role_" + randomHex()
	create(tb, "CREATE ROLE "+role+" LOGIN", "DROP ROLE "+role)
	return role
}

// OnStandby returns addr (as Postgres returned it) with the host, port and
// user of the standby ALTER_TEST_STANDBY_URL names: the same database and
// schema, read where they are replicated to. It skips tb, saying how to
// run it, without the variable.
func OnStandby(tb testing.TB, addr string) string {
	tb.Helper()
	standby := os.Getenv(EnvStandbyURL)
	if standby == "" {
		tb.Skip("standby tests skipped: set " + EnvStandbyURL + " to a hot standby of " + EnvURL + "'s cluster to run them")
	}
	s, err := url.Parse(standby)
	if err != nil {
		tb.Fatalf("%s: %v", EnvStandbyURL, err)
	}
	u, err := url.Parse(addr)
	if err != nil {
		tb.Fatal(err)
	}
	u.Host, u.User = s.Host, s.User
	return u.String()
}

// create runs stmt on ALTER_TEST_DATABASE_URL's database, and drop when
// tb ends (cleanups run last first: what is made later goes first).
func create(tb testing.TB, stmt, drop string) {
	tb.Helper()
	admin, err := sql.Open("pgx", os.Getenv(EnvURL))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec(stmt); err != nil {
		tb.Fatalf("%s: %v", stmt, err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec(drop); err != nil {
			tb.Errorf("%s: %v", drop, err)
		}
	})
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
