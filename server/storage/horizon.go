package storage

import (
	"context"
	"strconv"
	"strings"
)

// The committed horizon on PostgreSQL: a transaction id below which no
// transaction that could still write to this database's audit table is
// open. AuditAfter returns only records below it, so a record whose
// transaction commits after a later one is never skipped (migration 0010).
//
// The cluster's own horizon, pg_snapshot_xmin of the current snapshot,
// counts every open transaction of every database of the cluster: one
// batch job left open elsewhere would hold forwarding back for as long as
// it runs. A transaction of another database cannot write here, so the
// horizon is narrowed to this database's transactions in three steps, in
// this order, each a statement of its own:
//
//  1. A snapshot: the transactions in progress (xip) and xmax. A
//     transaction with an id below xmax that is not in xip was over
//     before this step; none at or above xmax had ended.
//  2. The ids of the transactions open in this database now:
//     pg_stat_activity's backend_xid, then prepared transactions. One of
//     xip that is not among them has ended, or belongs to another
//     database.
//  3. The read of the trail (AuditAfter), whose snapshot is later still:
//     every transaction below the horizon that wrote here has committed
//     before it, so its records are visible.
//
// The horizon is the lowest id of xip still open in this database, or
// xmax when there is none. pg_stat_activity shows backend_xid to every
// role, whatever it may see of a session's query
// (TestHorizonSeesOtherRolesTransactions holds that to the PostgreSQL
// the tests run on).
//
// All of it holds on the primary only. A pooler that balances SELECTs
// across replicas (Pgpool-II's load_balance_mode) may send any of these
// statements to a hot standby, whose pg_stat_activity shows none of the
// primary's transactions and whose snapshots list them in no xip: the
// narrowed horizon there would be xmax, past transactions still open on
// the primary (TestHorizonOnAStandby). So each step says whether it ran
// on a standby, and if one did the horizon is step 1's xmin, the
// cluster's own: below it every transaction is over, on the primary and
// on any standby that has replayed that far. The read then also stays
// below its own snapshot's xmin when it runs on a standby, which may have
// replayed less than the server that gave the horizon. Either way a read
// returns records below an id under which the trail no longer changes
// wherever it is read, so one reader's positions never pass a record,
// whichever server each of its statements reached.

// horizonSnapshot is step 1, with the snapshot's xmin for a standby.
// It also reads the trail's highest transaction id (the audit_xid
// index's last entry), which is never at or above xmax unless the rows
// came from another cluster (ErrTrailAhead).
const horizonSnapshot = `SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,
	COALESCE((SELECT string_agg(x::text, ',') FROM pg_snapshot_xip(s) AS x), ''), pg_is_in_recovery(),
	COALESCE((SELECT max(xid) FROM audit), 0)
	FROM pg_current_snapshot() AS s`

// horizonOpenHere and horizonPreparedHere are step 2, in this order: the
// 32-bit ids of the transactions open in this database's sessions, then
// of its prepared transactions. A transaction that PREPAREs between the
// two is in the first (its session holds the id until its prepared
// entry does), one prepared before both in the second.
const (
	horizonOpenHere = `SELECT COALESCE(string_agg(backend_xid::text, ','), ''), pg_is_in_recovery() FROM pg_stat_activity
		WHERE datname = current_database() AND backend_xid IS NOT NULL`
	horizonPreparedHere = `SELECT COALESCE(string_agg(transaction::text, ','), ''), pg_is_in_recovery() FROM pg_prepared_xacts
		WHERE database = current_database()`
)

// belowStandbySnapshot is the read's own bound where it runs on a standby
// (an SQL condition; nothing on the primary).
const belowStandbySnapshot = "(NOT pg_is_in_recovery() OR xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint)"

// horizon is what committedHorizon found.
type horizon struct {
	below int64 // every transaction below it that could write here is over
	// xmax is the primary's snapshot xmax: above every transaction id the
	// database has given out (0 when a step ran on a standby).
	xmax int64
	// maxStored is the highest transaction id in the trail.
	maxStored int64
}

// committedHorizon returns the horizon, and false where commit order is
// insertion order (SQLite: one writer at a time) and none is needed.
func (d *DB) committedHorizon(ctx context.Context) (horizon, bool, error) {
	if !d.eng.dollar {
		return horizon{}, false, nil
	}
	var xmin, xmax, maxStored int64
	var xip string
	var standby [3]bool // each step's server was a standby
	if err := d.db.QueryRowContext(ctx, horizonSnapshot).Scan(&xmin, &xmax, &xip, &standby[0], &maxStored); err != nil {
		return horizon{}, false, unavailable(err)
	}
	var open, prepared string
	if err := d.db.QueryRowContext(ctx, horizonOpenHere).Scan(&open, &standby[1]); err != nil {
		return horizon{}, false, unavailable(err)
	}
	if err := d.db.QueryRowContext(ctx, horizonPreparedHere).Scan(&prepared, &standby[2]); err != nil {
		return horizon{}, false, unavailable(err)
	}
	if standby[0] || standby[1] || standby[2] {
		return horizon{below: xmin}, true, nil
	}
	return horizon{below: narrowHorizon(xmin, xmax, xip, strings.Trim(open+","+prepared, ",")), xmax: xmax, maxStored: maxStored}, true, nil
}

// narrowHorizon is the lowest of the 64-bit ids in the snapshot's xip
// whose low 32 bits are among openHere's 32-bit ids (pg_stat_activity
// shows no epoch; two open transactions are never 2^32 ids apart), or
// xmax. An id that does not parse counts as open, so a surprise lowers
// the horizon, never raises it: to the snapshot's xmin, the cluster's
// horizon, for one of openHere.
func narrowHorizon(xmin, xmax int64, xip, openHere string) int64 {
	open := map[uint32]bool{}
	for _, s := range split(openHere) {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return xmin
		}
		open[uint32(v)] = true
	}
	h := xmax
	for _, s := range split(xip) {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0
		}
		if open[uint32(x)] && x < h {
			h = x
		}
	}
	return h
}

func split(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}
