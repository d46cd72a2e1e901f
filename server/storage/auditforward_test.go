package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/internal/testdb"
)

func forwardRecords(prefix string, n int, at time.Time) []AuditRecord {
	var recs []AuditRecord
	for i := range n {
		recs = append(recs, AuditRecord{ID: fmt.Sprintf("%s:%d", prefix, i), Source: "app/sidecar", Time: at.Add(time.Duration(i) * time.Second),
			GrantID: "g", Actor: "a", Decision: audit.DecisionAllow, Body: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	return recs
}

// readRecords pages AuditAfter from from, limit at a time: what is
// readable now, each record after the one before.
func readRecords(t *testing.T, d *DB, from AuditPosition, limit int) []PositionedRecord {
	t.Helper()
	var out []PositionedRecord
	for {
		page, err := d.AuditAfter(context.Background(), from, limit)
		if err != nil {
			t.Fatalf("AuditAfter: %v", err)
		}
		for _, r := range page {
			if !from.Before(r.Position) {
				t.Fatalf("position %v does not come after %v", r.Position, from)
			}
			from = r.Position
		}
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
	}
}

// pollRecords is readRecords polled until it returns n records. On
// PostgreSQL AuditAfter returns a record only once every transaction open
// in the cluster when it committed is over, other tests' included.
func pollRecords(t *testing.T, d *DB, from AuditPosition, limit, n int) []PositionedRecord {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs := readRecords(t, d, from, limit)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records readable after %v, want %d", len(recs), from, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// committedTrail is the first n records in commit order, waited for.
func committedTrail(t *testing.T, d *DB, n int) []PositionedRecord {
	t.Helper()
	return pollRecords(t, d, AuditPosition{}, 100, n)[:n]
}

// idsAndLast are the ids of recs and the position of the last one (from
// when there are none).
func idsAndLast(recs []PositionedRecord, from AuditPosition) ([]string, AuditPosition) {
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
		from = r.Position
	}
	return ids, from
}

// readAll is what is readable now after from, as ids and the last position.
func readAll(t *testing.T, d *DB, from AuditPosition, limit int) ([]string, AuditPosition) {
	t.Helper()
	return idsAndLast(readRecords(t, d, from, limit), from)
}

// readAtLeast is readAll waited for until it has n ids.
func readAtLeast(t *testing.T, d *DB, from AuditPosition, limit, n int) ([]string, AuditPosition) {
	t.Helper()
	return idsAndLast(pollRecords(t, d, from, limit, n), from)
}

func TestAuditAfterPagesInCommitOrder(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		// Three batches, the last with times before the first: commit
		// order, not the records' own times, is what a forwarder follows.
		var want []string
		for b, at := range []time.Time{base, base.Add(time.Hour), base.Add(-time.Hour)} {
			recs := forwardRecords(fmt.Sprintf("b%d", b), 5, at)
			if _, err := d.InsertAudit(ctx, recs...); err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				want = append(want, r.ID)
			}
		}
		if err := d.RecordServerEvent(ctx, ServerEvent{Event: EventTokenCreate, Actor: "cli"}); err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{1, 4, 16, 1000} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				ids, last := readAtLeast(t, d, AuditPosition{}, limit, len(want)+1)
				if len(ids) != len(want)+1 || fmt.Sprint(ids[:len(want)]) != fmt.Sprint(want) {
					t.Fatalf("ids = %v, want %v and the server event", ids, want)
				}
				if more, _ := readAll(t, d, last, limit); len(more) != 0 {
					t.Fatalf("after the last position: %v", more)
				}
			})
		}
		for _, bad := range []int{0, -1, maxAuditBatch + 1} {
			if _, err := d.AuditAfter(ctx, AuditPosition{}, bad); err == nil {
				t.Fatalf("limit %d accepted", bad)
			}
		}
	})
}

// TestAuditAfterWaitsForOpenTransactions is the case seq order gets
// wrong on PostgreSQL: a transaction that took its sequence value first
// commits last. A reader that went by seq would move past the later
// record and never see the earlier one.
func TestAuditAfterWaitsForOpenTransactions(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		if !d.eng.dollar {
			t.Skip("SQLite has one writer at a time: insertion order is commit order")
		}
		insert := d.q(`INSERT INTO audit (id, source, at, decision, body) VALUES (?, 'app/s', ?, 'allow', '{}')`)
		at := micro(time.Now())
		stored := 0 // records the subtests before this one committed
		for _, tc := range []struct {
			name string
			// early takes its transaction id before late does.
			lateTakesIDFirst bool
		}{
			{"the open transaction is older", false},
			{"the open transaction is younger", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, from := readAtLeast(t, d, AuditPosition{}, 100, stored)
				stored += 2
				early, err := d.db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer early.Rollback() //nolint:errcheck
				late, err := d.db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer late.Rollback() //nolint:errcheck
				if tc.lateTakesIDFirst {
					if _, err := late.ExecContext(ctx, "SELECT pg_current_xact_id()"); err != nil {
						t.Fatal(err)
					}
				}
				// early takes the lower seq, late the higher; late commits.
				if _, err := early.ExecContext(ctx, insert, tc.name+"/early", at); err != nil {
					t.Fatal(err)
				}
				if _, err := late.ExecContext(ctx, insert, tc.name+"/late", at); err != nil {
					t.Fatal(err)
				}
				if err := late.Commit(); err != nil {
					t.Fatal(err)
				}
				var seen []string
				var pos AuditPosition
				if tc.lateTakesIDFirst {
					// late's id is below the open one: it is final (once
					// other tests' transactions older than it are over).
					seen, pos = readAtLeast(t, d, from, 100, 1)
					if fmt.Sprint(seen) != "["+tc.name+"/late]" {
						t.Fatalf("while early is open: %v", seen)
					}
				} else if seen, pos = readAll(t, d, from, 100); len(seen) != 0 {
					t.Fatalf("a record above an open transaction was returned: %v", seen)
				}
				if err := early.Commit(); err != nil {
					t.Fatal(err)
				}
				rest, _ := readAtLeast(t, d, pos, 100, 2-len(seen))
				all := append(seen, rest...)
				if len(all) != 2 || all[0] == all[1] {
					t.Fatalf("after both committed, from the first read on: %v (want early and late, once each)", all)
				}
			})
		}
	})
}

func TestForwardLease(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		lease := 30 * time.Second
		claim := func(holder string, now time.Time) (AuditPosition, bool) {
			t.Helper()
			p, held, err := d.ClaimForward(ctx, "siem", holder, now, now.Add(lease))
			if err != nil {
				t.Fatal(err)
			}
			return p, held
		}
		advance := func(holder string, p AuditPosition) bool {
			t.Helper()
			ok, err := d.AdvanceForward(ctx, "siem", holder, p, t0)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if p, held := claim("a", t0); !held || p != (AuditPosition{}) {
			t.Fatalf("first claim: %v %v", p, held)
		}
		if _, held := claim("b", t0.Add(lease/2)); held {
			t.Fatal("b took a lease that a holds")
		}
		if advance("b", AuditPosition{Seq: 5}) {
			t.Fatal("b moved a's position")
		}
		if !advance("a", AuditPosition{Seq: 5}) {
			t.Fatal("a could not move its position")
		}
		if advance("a", AuditPosition{Seq: 3}) {
			t.Fatal("the position moved back")
		}
		if p, held := claim("a", t0.Add(lease/2)); !held || p.Seq != 5 {
			t.Fatalf("renewal: %v %v", p, held)
		}
		// a stops renewing: once its lease is over, b takes the target at
		// a's position, and a can no longer move it.
		if p, held := claim("b", t0.Add(2*lease)); !held || p.Seq != 5 {
			t.Fatalf("takeover: %v %v", p, held)
		}
		if advance("a", AuditPosition{Seq: 9}) {
			t.Fatal("a moved the position after losing its lease")
		}
		if err := d.ReleaseForward(ctx, "siem", "a"); err != nil {
			t.Fatal(err)
		}
		if _, held := claim("a", t0.Add(2*lease)); held {
			t.Fatal("a's release ended b's lease")
		}
		if err := d.ReleaseForward(ctx, "siem", "b"); err != nil {
			t.Fatal(err)
		}
		if p, held := claim("a", t0.Add(2*lease)); !held || p.Seq != 5 {
			t.Fatalf("after b released: %v %v", p, held)
		}
		states, err := d.ForwardStates(ctx)
		if err != nil || len(states) != 1 || states[0].Holder != "a" || states[0].Position.Seq != 5 || !states[0].ForwardedAt.Equal(t0) {
			t.Fatalf("states = %+v, %v", states, err)
		}
		if _, _, err := d.ClaimForward(ctx, "", "a", t0, t0); err == nil {
			t.Fatal("a target without a name was claimed")
		}
	})
}

func TestPruneAudit(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		cutoff := old.Add(time.Hour)
		if _, err := d.InsertAudit(ctx, forwardRecords("old", 10, old)...); err != nil {
			t.Fatal(err)
		}
		if _, err := d.InsertAudit(ctx, forwardRecords("new", 3, cutoff)...); err != nil {
			t.Fatal(err)
		}
		page := committedTrail(t, d, 13)
		// siem, forwarded to now, has acknowledged the first 4 old records
		// (a batch two hours ago); archive, last leased two hours ago by a
		// config that named it, none.
		now := time.Now()
		long := now.Add(-2 * time.Hour)
		if _, _, err := d.ClaimForward(ctx, "siem", "r1", now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.AdvanceForward(ctx, "siem", "r1", page[3].Position, long); err != nil {
			t.Fatal(err)
		}
		if _, _, err := d.ClaimForward(ctx, "archive", "r0", long, long.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		remaining := func() int {
			t.Helper()
			page, err := d.QueryAudit(ctx, AuditQuery{Actor: "a", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range page.Records {
				if r.ID[:3] == "old" {
					n++
				}
			}
			return n
		}
		for _, tc := range []struct {
			name        string
			first       func()
			targets     []string
			wantDeleted int
			wantHeld    int
			wantOld     int
		}{
			{"a named target that acknowledged nothing holds every record", nil, []string{"siem", "archive"}, 0, 10, 10},
			{"a target that acknowledged 4 lets 4 go", nil, []string{"siem"}, 4, 6, 6},
			{"again: nothing more to do", nil, []string{"siem"}, 0, 6, 6},
			{"a target another replica forwards to holds records back unnamed", nil, nil, 0, 6, 6},
			{"so does one released less than an hour ago", func() {
				if err := d.ReleaseForward(ctx, "siem", "r1"); err != nil {
					t.Fatal(err)
				}
			}, nil, 0, 6, 6},
			{"no target forwarded to within the window: everything past the retention goes", func() {
				// An hour and more later: released, last lease and batch long ago.
				if err := d.ReleaseForward(ctx, "siem", "r1"); err != nil {
					t.Fatal(err)
				}
				if _, err := d.db.ExecContext(ctx, d.q(`UPDATE audit_forward SET lease_until = ?, forwarded_at = ? WHERE name = 'siem'`),
					micro(long), micro(long)); err != nil {
					t.Fatal(err)
				}
			}, nil, 6, 0, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.first != nil {
					tc.first()
				}
				res, err := d.PruneAudit(ctx, cutoff, tc.targets, 3, "server (retention)")
				if err != nil || res.Deleted != tc.wantDeleted || res.HeldBack != tc.wantHeld {
					t.Fatalf("PruneAudit = %+v, %v; want %d deleted, %d held back", res, err, tc.wantDeleted, tc.wantHeld)
				}
				if n := remaining(); n != tc.wantOld {
					t.Fatalf("%d old records left, want %d", n, tc.wantOld)
				}
			})
		}
		// The newer records stay, and each pass that deleted something is
		// recorded (two passes: 4 and 6).
		events, err := d.QueryAudit(ctx, AuditQuery{Event: audit.EventAuditRetention, Oldest: true})
		if err != nil || len(events.Records) != 2 {
			t.Fatalf("retention events: %d, %v", len(events.Records), err)
		}
		var body map[string]string
		if err := json.Unmarshal(events.Records[0].Body, &body); err != nil || body["deleted"] != "4" || body["held_back"] != "6" ||
			body["actor"] != "server (retention)" || body["before"] != cutoff.Format(time.RFC3339) {
			t.Fatalf("first retention event: %s, %v", events.Records[0].Body, err)
		}
		if got, _ := d.QueryAudit(ctx, AuditQuery{Actor: "a", Limit: 100}); len(got.Records) != 3 {
			t.Fatalf("records within the retention: %d, want 3", len(got.Records))
		}
		if _, err := d.PruneAudit(ctx, cutoff, nil, 0, "x"); err == nil {
			t.Fatal("batch 0 accepted")
		}
	})
}
