package storage

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
)

func TestNarrowHorizon(t *testing.T) {
	const epoch = int64(1) << 32
	for _, tc := range []struct {
		name          string
		xmax          int64
		xip, openHere string
		want          int64
	}{
		{"nothing open anywhere", 900, "", "", 900},
		{"open only in other databases", 900, "700,800", "", 900},
		{"open here", 900, "700,800", "800", 800},
		{"the lowest open here", 900, "700,750,800", "800,750", 750},
		{"open here since the snapshot only", 900, "700", "950", 900},
		// pg_stat_activity's ids have no epoch: 800 is epoch+800 here.
		{"an id in the second epoch", epoch + 900, fmt.Sprint(epoch + 800), "800", epoch + 800},
		{"an id from before the wrap", epoch + 900, fmt.Sprint(epoch-6) + "," + fmt.Sprint(epoch+800), "4294967290", epoch - 6},
		{"an open id that does not parse: the cluster's horizon", 900, "700,800", "800,x", 700},
		{"an xip id that does not parse: nothing is final", 900, "x", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := narrowHorizon(tc.xmax, tc.xip, tc.openHere); got != tc.want {
				t.Fatalf("narrowHorizon(%d, %q, %q) = %d, want %d", tc.xmax, tc.xip, tc.openHere, got, tc.want)
			}
		})
	}
}

// holdWrite opens a transaction on db that has taken a transaction id,
// and returns it with that id; it is rolled back when t ends.
func holdWrite(t *testing.T, db *sql.DB) (*sql.Tx, int64) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	var xid int64
	if err := tx.QueryRow("SELECT pg_current_xact_id()::text::bigint").Scan(&xid); err != nil {
		t.Fatal(err)
	}
	return tx, xid
}

// insertOne stores one record named id.
func insertOne(t *testing.T, d *DB, id string) {
	t.Helper()
	rec := forwardRecords(id, 1, time.Now())
	if _, err := d.InsertAudit(context.Background(), rec...); err != nil {
		t.Fatal(err)
	}
}

// readNow is what one AuditAfter from p returns.
func readNow(t *testing.T, d *DB, p AuditPosition) []PositionedRecord {
	t.Helper()
	recs, err := d.AuditAfter(context.Background(), p, 100)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestHorizonIgnoresOtherDatabases: a write transaction left open in
// another database of the cluster does not hold the trail back (a
// transaction there cannot write here); one open in this database does.
func TestHorizonIgnoresOtherDatabases(t *testing.T) {
	addr := testdb.PostgresDatabase(t, "") // alone in it: no other test's transactions
	d := openT(t, addr)
	_, elsewhere := holdWrite(t, testdb.Raw(t, os.Getenv(testdb.EnvURL)))

	insertOne(t, d, "while another database has a transaction open")
	recs := readNow(t, d, AuditPosition{})
	if len(recs) != 1 {
		t.Fatalf("%d records readable, want 1: a transaction of another database held the trail back", len(recs))
	}
	if recs[0].Position.XID <= elsewhere {
		t.Fatalf("the record's transaction %d is not above the open one %d: the test proves nothing", recs[0].Position.XID, elsewhere)
	}

	here, _ := holdWrite(t, testdb.Raw(t, addr))
	insertOne(t, d, "while this database has a transaction open")
	if got := readNow(t, d, recs[0].Position); len(got) != 0 {
		t.Fatalf("%d records returned above a transaction open in this database", len(got))
	}
	if err := here.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := readNow(t, d, recs[0].Position); len(got) != 1 {
		t.Fatalf("%d records after this database's transaction ended, want 1", len(got))
	}
}

// TestHorizonSeesOtherRolesTransactions: the server's role, without
// pg_read_all_stats, sees no query of another role's session in
// pg_stat_activity, but must still see its transaction id (horizon.go
// relies on it): that session's open transaction holds the trail back.
func TestHorizonSeesOtherRolesTransactions(t *testing.T) {
	role := testdb.PostgresRole(t)
	addr := testdb.PostgresDatabase(t, role)
	d := openT(t, addr) // the server runs as role
	asAdmin := withUserOf(t, addr, os.Getenv(testdb.EnvURL))
	other, otherXID := holdWrite(t, testdb.Raw(t, asAdmin))

	insertOne(t, d, "while another role has a transaction open")
	if got := readNow(t, d, AuditPosition{}); len(got) != 0 {
		t.Fatalf("%d records returned above another role's open transaction (xid %d)", len(got), otherXID)
	}
	if err := other.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := readNow(t, d, AuditPosition{}); len(got) != 1 {
		t.Fatalf("%d records after the other role's transaction ended, want 1", len(got))
	}
}

// withUserOf is addr with the user (and password) of other.
func withUserOf(t *testing.T, addr, other string) string {
	t.Helper()
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	o, err := url.Parse(other)
	if err != nil {
		t.Fatal(err)
	}
	u.User = o.User
	return u.String()
}

// TestHorizonCountsPreparedTransactions: a prepared transaction (two-phase
// commit) has no session, but may still commit records; it holds the
// trail back until it does. Needs max_prepared_transactions > 0.
func TestHorizonCountsPreparedTransactions(t *testing.T) {
	addr := testdb.PostgresDatabase(t, "")
	d := openT(t, addr)
	raw := testdb.Raw(t, addr)
	var maxPrepared int
	if err := raw.QueryRow("SELECT current_setting('max_prepared_transactions')::int").Scan(&maxPrepared); err != nil {
		t.Fatal(err)
	}
	if maxPrepared == 0 {
		t.Skip("max_prepared_transactions is 0 on this PostgreSQL: no transaction can be prepared")
	}
	tx, _ := holdWrite(t, raw)
	if _, err := tx.Exec("PREPARE TRANSACTION 'alter_test_prepared'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = raw.Exec("ROLLBACK PREPARED 'alter_test_prepared'") })
	insertOne(t, d, "while a prepared transaction waits")
	if got := readNow(t, d, AuditPosition{}); len(got) != 0 {
		t.Fatalf("%d records returned above a prepared transaction", len(got))
	}
	if _, err := raw.Exec("ROLLBACK PREPARED 'alter_test_prepared'"); err != nil {
		t.Fatal(err)
	}
	if got := readNow(t, d, AuditPosition{}); len(got) != 1 {
		t.Fatalf("%d records after the prepared transaction ended, want 1", len(got))
	}
}
