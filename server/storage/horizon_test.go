package storage

import (
	"context"
	"database/sql"
	"errors"
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
		xmin, xmax    int64 // the snapshot's: xmin is the lowest of xip, or xmax
		xip, openHere string
		want          int64
	}{
		{"nothing open anywhere", 900, 900, "", "", 900},
		{"open only in other databases", 700, 900, "700,800", "", 900},
		{"open here", 700, 900, "700,800", "800", 800},
		{"the lowest open here", 700, 900, "700,750,800", "800,750", 750},
		{"open here since the snapshot only", 700, 900, "700", "950", 900},
		// pg_stat_activity's ids have no epoch: 800 is epoch+800 here.
		{"an id in the second epoch", epoch + 800, epoch + 900, fmt.Sprint(epoch + 800), "800", epoch + 800},
		{"an id from before the wrap", epoch - 6, epoch + 900, fmt.Sprint(epoch-6) + "," + fmt.Sprint(epoch+800), "4294967290", epoch - 6},
		{"an open id that does not parse: the cluster's horizon", 700, 900, "700,800", "800,x", 700},
		{"an xip id that does not parse: nothing is final", 900, 900, "x", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := narrowHorizon(tc.xmin, tc.xmax, tc.xip, tc.openHere); got != tc.want {
				t.Fatalf("narrowHorizon(%d, %d, %q, %q) = %d, want %d", tc.xmin, tc.xmax, tc.xip, tc.openHere, got, tc.want)
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

// TestHorizonOnAStandby: a pooler that balances reads across replicas
// (Pgpool-II's load_balance_mode) sends the horizon's statements and the
// read, all SELECTs, to a hot standby or to the primary, each its own
// way. On a standby pg_stat_activity shows none of the primary's
// transactions and a snapshot lists them in no xip, so a horizon
// narrowed by them would be the snapshot's xmax, past a transaction
// still open on the primary; and a standby replays commits later than
// the primary makes them. Wherever each statement runs, no record may be
// returned while one below it can still appear. Runs where
// ALTER_TEST_STANDBY_URL names a hot standby of the tests' cluster.
func TestHorizonOnAStandby(t *testing.T) {
	ctx := context.Background()
	insert := `INSERT INTO audit (id, source, at, decision, body) VALUES ($1, 'app/s', $2, 'allow', '{}')`
	// onStandby opens a schema on the primary and the same one on the
	// standby, bare: Open migrates, which a standby refuses.
	onStandby := func(t *testing.T) (d, reader *DB, primary, standby *sql.DB) {
		addr := testdb.Postgres(t)
		standby = testdb.Raw(t, testdb.OnStandby(t, addr))
		d = openT(t, addr)
		return d, &DB{db: standby, eng: postgresEngine}, testdb.Raw(t, addr), standby
	}

	t.Run("everything on the standby", func(t *testing.T) {
		d, reader, primary, standby := onStandby(t)
		early, earlyXID := holdWrite(t, primary)
		if _, err := early.Exec(insert, "early", micro(time.Now())); err != nil {
			t.Fatal(err)
		}
		insertOne(t, d, "late")
		waitReplayed(t, primary, standby)
		mustHold(t, standby, "late:0")
		if got := readNow(t, reader, AuditPosition{}); len(got) != 0 {
			t.Fatalf("%d records returned above the primary's open transaction %d: %s first", len(got), earlyXID, got[0].ID)
		}
		if err := early.Commit(); err != nil {
			t.Fatal(err)
		}
		got := pollRecords(t, reader, AuditPosition{}, 100, 2)
		if len(got) != 2 || got[0].ID != "early" || got[1].ID != "late:0" {
			t.Fatalf("after both committed: %d records, want early then late:0", len(got))
		}
	})

	t.Run("the horizon from the standby, the read on the primary", func(t *testing.T) {
		d, reader, primary, standby := onStandby(t)
		_, openXID := holdWrite(t, primary)
		insertOne(t, d, "late")
		waitReplayed(t, primary, standby)
		h, _, err := reader.committedHorizon(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h.below > openXID {
			t.Fatalf("the standby's horizon %d is above the primary's open transaction %d", h.below, openXID)
		}
	})

	t.Run("the horizon from the primary, the read on a standby behind it", func(t *testing.T) {
		d, _, primary, standby := onStandby(t)
		first, _ := holdWrite(t, primary)
		if _, err := first.Exec(insert, "first", micro(time.Now())); err != nil {
			t.Fatal(err)
		}
		insertOne(t, d, "second") // a later id, committed first
		waitReplayed(t, primary, standby)
		mustHold(t, standby, "second:0")
		pauseReplay(t, standby)
		if err := first.Commit(); err != nil {
			t.Fatal(err)
		}
		cond, args, err := d.committedAfter(ctx, AuditPosition{}) // both are over on the primary
		if err != nil {
			t.Fatal(err)
		}
		rows, err := standby.QueryContext(ctx, d.q(`SELECT id FROM audit WHERE `+cond+` ORDER BY xid, seq`), args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 && got[0] != "first" {
			t.Fatalf("the standby, which has not replayed first's commit, returned %v", got)
		}
	})
}

// mustHold fails t unless db has the committed record id: a test that
// nothing is read past an open transaction proves nothing without it.
func mustHold(t *testing.T, db *sql.DB, id string) {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM audit WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%s is not there to be read", id)
	}
}

// pauseReplay stops the standby's replay until t ends.
func pauseReplay(t *testing.T, standby *sql.DB) {
	t.Helper()
	if _, err := standby.Exec("SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := standby.Exec("SELECT pg_wal_replay_resume()"); err != nil {
			t.Errorf("resume replay: %v", err)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var state string
		if err := standby.QueryRow("SELECT pg_get_wal_replay_pause_state()").Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state == "paused" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby's replay is %s, not paused", state)
		}
		// A pause requested takes effect at the next record: poll.
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReplayed returns once the standby has replayed what the primary
// wrote so far.
func waitReplayed(t *testing.T, primary, standby *sql.DB) {
	t.Helper()
	var lsn string
	if err := primary.QueryRow("SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var done bool
		if err := standby.QueryRow("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby has not replayed up to %s", lsn)
		}
		// Replay tells no client how far it has got: poll.
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPositionAheadOfTheDatabase: a trail restored into another cluster
// keeps its transaction ids, which the new cluster has not given out yet,
// while the records written since get lower ones. Reading on from a saved
// position would skip those (and a new target would never get the
// restored ones); AuditAfter refuses instead, until the trail's order is
// started over as the README says.
func TestPositionAheadOfTheDatabase(t *testing.T) {
	ctx := context.Background()
	addr := testdb.PostgresDatabase(t, "")
	d := openT(t, addr)
	raw := testdb.Raw(t, addr)
	insertOne(t, d, "before the dump")
	insertOne(t, d, "also before the dump")
	// The restore: the old cluster's ids were far ahead of this one's.
	if _, err := raw.Exec("UPDATE audit SET xid = xid + 1000000000000"); err != nil {
		t.Fatal(err)
	}
	var sent AuditPosition // the target had acknowledged the first
	if err := raw.QueryRow("SELECT xid, seq FROM audit ORDER BY xid, seq LIMIT 1").Scan(&sent.XID, &sent.Seq); err != nil {
		t.Fatal(err)
	}
	insertOne(t, d, "after the restore")
	for _, from := range []AuditPosition{{}, sent} {
		if _, err := d.AuditAfter(ctx, from, 100); !errors.Is(err, ErrTrailAhead) {
			t.Fatalf("AuditAfter(%v) on a trail ahead of the database: %v, want ErrTrailAhead", from, err)
		}
		if _, _, err := d.AuditPendingAfter(ctx, from, 10); !errors.Is(err, ErrTrailAhead) {
			t.Fatalf("AuditPendingAfter(%v) on a trail ahead of the database: %v, want ErrTrailAhead", from, err)
		}
	}
	// The README's remedy: every record's id to 0 and every target from
	// the start (each record is sent again; receivers dedupe by id).
	if _, err := raw.Exec("UPDATE audit SET xid = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("UPDATE audit_forward SET after_xid = 0, after_seq = 0"); err != nil {
		t.Fatal(err)
	}
	if got := readNow(t, d, AuditPosition{}); len(got) != 3 || got[2].ID != "after the restore:0" {
		t.Fatalf("after the remedy: %d records, want the two restored and the new one last", len(got))
	}
}
