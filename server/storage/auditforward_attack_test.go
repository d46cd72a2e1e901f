package storage

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/secretstore"
)

// TestAuditAttackBodyNotUTF8: a body with bytes that are not UTF-8 inside
// a JSON string passes json.Valid, and the senders forward it as it is: a
// webhook POST that is not UTF-8 JSON (RFC 8259), which a strict receiver
// refuses on every retry, stalling the target for everyone; a syslog MSG
// that is not the UTF-8 its BOM announces. It is refused as invalid (a
// 400 the sidecar's shipper skips) on both engines, not stored on SQLite
// and a database error (a 503 retried forever) on PostgreSQL.
func TestAuditAttackBodyNotUTF8(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		for _, tc := range []struct {
			name string
			body string
		}{
			{"a lone continuation byte", "{\"ts\":\"2026-01-02T03:04:05Z\",\"path\":\"/\x80\"}"},
			{"an overlong slash", "{\"ts\":\"2026-01-02T03:04:05Z\",\"path\":\"\xc0\xaf\"}"},
			{"a surrogate half", "{\"ts\":\"2026-01-02T03:04:05Z\",\"path\":\"\xed\xa0\x80\"}"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rec := forwardRecords("utf8-"+strings.ReplaceAll(tc.name, " ", "-"), 1, time.Now())[0]
				rec.Body = json.RawMessage(tc.body)
				if _, err := d.InsertAudit(ctx, rec); !errors.Is(err, secretstore.ErrInvalid) {
					t.Fatalf("InsertAudit = %v, want ErrInvalid", err)
				}
			})
		}
		if page, err := d.QueryAudit(ctx, AuditQuery{}); err != nil || len(page.Records) != 0 {
			t.Fatalf("stored: %d records, %v", len(page.Records), err)
		}
	})
}

// TestPruneAttackNeverPastATarget: retention deletes nothing a configured
// target has not acknowledged, whatever the records' own times say (a
// sidecar dates its records itself, back to its token's creation), and
// whoever else has a row in audit_forward.
func TestPruneAttackNeverPastATarget(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		now := time.Now()
		cutoff := now.Add(-time.Hour)
		// Commit order: "acked" (old), then "late" dated 1970, then "future".
		for _, b := range []struct {
			prefix string
			at     time.Time
		}{{"acked", cutoff.Add(-48 * time.Hour)}, {"late", time.Unix(1, 0)}, {"future", now.Add(24 * time.Hour)}} {
			if _, err := d.InsertAudit(ctx, forwardRecords(b.prefix, 3, b.at)...); err != nil {
				t.Fatal(err)
			}
		}
		page := committedTrail(t, d, 9)
		// siem acknowledged the "acked" records; "gone" (removed from the
		// config, last leased longer ago than ForwardActiveWindow)
		// acknowledged nothing.
		for name, upTo := range map[string]int{"siem": 3, "gone": 0} {
			claimed := now
			if name == "gone" {
				claimed = now.Add(-ForwardActiveWindow - time.Minute)
			}
			if _, _, err := d.ClaimForward(ctx, name, "r1", claimed, claimed.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if upTo > 0 {
				if _, err := d.AdvanceForward(ctx, name, "r1", page[upTo-1].Position, now); err != nil {
					t.Fatal(err)
				}
			}
		}
		left := func() string {
			t.Helper()
			all, err := d.QueryAudit(ctx, AuditQuery{Event: audit.EventGrantUse, Oldest: true, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, r := range all.Records {
				kept = append(kept, r.ID[:strings.Index(r.ID, ":")])
			}
			return strings.Join(kept, ",")
		}
		for _, tc := range []struct {
			name    string
			targets []string
			want    string
		}{
			{"a configured target that has never claimed (renamed) holds everything", []string{"siem", "renamed"},
				"late,late,late,acked,acked,acked,future,future,future"}, // oldest first
			{"records dated 1970 after the acknowledged position stay; so do future ones",
				[]string{"siem"}, "late,late,late,future,future,future"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := d.PruneAudit(ctx, cutoff, tc.targets, 2, "test"); err != nil {
					t.Fatal(err)
				}
				if got := left(); got != tc.want {
					t.Fatalf("left %s, want %s", got, tc.want)
				}
			})
		}
		// Every pass that deleted something is in the trail, and no pass
		// deleted the record of another.
		events, err := d.QueryAudit(ctx, AuditQuery{Event: audit.EventAuditRetention})
		if err != nil || len(events.Records) != 1 || !strings.Contains(string(events.Records[0].Body), `"deleted":"3"`) {
			t.Fatalf("retention events: %+v, %v", events.Records, err)
		}
	})
}

// TestPruneAttackCancelledPassIsRecorded: a pass cut short (the server
// stopping, the database gone) after some batches still records what it
// deleted, though its context is over: the rows are gone either way.
func TestPruneAttackCancelledPassIsRecorded(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		before := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		err := d.recordPrune(ctx, PruneResult{Deleted: 7}, before, "test", context.Canceled)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("recordPrune = %v, want the pass's own error", err)
		}
		events, qerr := d.QueryAudit(context.Background(), AuditQuery{Event: audit.EventAuditRetention})
		if qerr != nil || len(events.Records) != 1 {
			t.Fatalf("retention events: %d, %v", len(events.Records), qerr)
		}
		var body map[string]string
		if err := json.Unmarshal(events.Records[0].Body, &body); err != nil || body["deleted"] != "7" ||
			body[audit.FieldOutcome] != audit.OutcomeFailed || strings.Contains(string(events.Records[0].Body), "cancel") {
			t.Fatalf("event %s, %v: want 7 deleted, outcome failed, no driver text", events.Records[0].Body, err)
		}
	})
}

// TestAuditAttackBodyNestedDeep: a body nested thousands of levels deep
// is valid JSON to Go, but the JSON parsers of many receivers stop far
// earlier (Python's json at about a thousand levels, Jackson's default
// at a thousand): a forwarded batch holding it is refused on every retry
// and the target stalls for everyone. No audit record nests that deep.
func TestAuditAttackBodyNestedDeep(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		nest := func(depth int, open, close string) string {
			return `{"ts":"2026-01-02T03:04:05Z","x":` + strings.Repeat(open, depth) + strings.Repeat(close, depth) + `}`
		}
		for _, tc := range []struct {
			name string
			body string
			ok   bool
		}{
			{"arrays 2000 deep", nest(2000, "[", "]"), false},
			{"objects 500 deep", `{"ts":"2026-01-02T03:04:05Z","x":` + strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500) + `}`, false},
			{"brackets inside a string do not count", `{"ts":"2026-01-02T03:04:05Z","x":"` + strings.Repeat(`[{\"`, 2000) + `"}`, true},
			{"a policy's depth", nest(8, "[", "]"), true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rec := forwardRecords("deep-"+strings.ReplaceAll(tc.name, " ", "-"), 1, time.Now())[0]
				rec.Body = json.RawMessage(tc.body)
				_, err := d.InsertAudit(ctx, rec)
				if tc.ok && err != nil {
					t.Fatalf("InsertAudit = %v, want it stored", err)
				}
				if !tc.ok && !errors.Is(err, secretstore.ErrInvalid) {
					t.Fatalf("InsertAudit = %v, want ErrInvalid", err)
				}
			})
		}
	})
}
