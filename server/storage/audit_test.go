package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/secretstore"
)

func TestAudit(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var recs []AuditRecord
		for i := range 30 {
			dec := audit.DecisionAllow
			if i%3 == 0 {
				dec = audit.DecisionDeny
			}
			recs = append(recs, AuditRecord{
				ID:       fmt.Sprintf("sidecar-a:%d", i),
				Source:   "app-a",
				Time:     base.Add(time.Duration(i/2) * time.Second), // pairs share a time: the cursor must break ties
				GrantID:  fmt.Sprintf("grant-%d", i%2),
				Actor:    fmt.Sprintf("actor-%d", i%5),
				Decision: dec,
				Body:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
			})
			if i%4 != 0 { // every fourth has no call context, as older sidecars ship
				recs[i].RunID, recs[i].Tool = fmt.Sprintf("run-%d", i%3), fmt.Sprintf("tool-%d", i%2)
			}
		}
		n, err := d.InsertAudit(ctx, recs...)
		if err != nil || n != len(recs) {
			t.Fatalf("insert: %d, %v", n, err)
		}
		// A retried batch is skipped, not duplicated.
		if n, err := d.InsertAudit(ctx, recs[:10]...); err != nil || n != 0 {
			t.Fatalf("retry: %d, %v", n, err)
		}
		if n, _ := d.LastChange(ctx); n != 0 {
			t.Fatalf("audit insert recorded a change: %d", n)
		}

		match := func(q AuditQuery, r AuditRecord) bool {
			return (q.GrantID == "" || q.GrantID == r.GrantID) && (q.Actor == "" || q.Actor == r.Actor) &&
				(q.Decision == "" || q.Decision == r.Decision) &&
				(q.RunID == "" || q.RunID == r.RunID) && (q.Tool == "" || q.Tool == r.Tool) &&
				(q.Since.IsZero() || !r.Time.Before(q.Since)) && (q.Until.IsZero() || r.Time.Before(q.Until))
		}
		for _, tc := range []struct {
			name string
			q    AuditQuery
		}{
			{"all", AuditQuery{}},
			{"grant", AuditQuery{GrantID: "grant-1"}},
			{"actor", AuditQuery{Actor: "actor-3"}},
			{"decision", AuditQuery{Decision: audit.DecisionDeny}},
			{"time range", AuditQuery{Since: base.Add(3 * time.Second), Until: base.Add(9 * time.Second)}},
			{"combined", AuditQuery{GrantID: "grant-0", Decision: audit.DecisionAllow, Since: base.Add(2 * time.Second)}},
			{"run", AuditQuery{RunID: "run-2"}},
			{"tool", AuditQuery{Tool: "tool-1"}},
			{"run and tool", AuditQuery{RunID: "run-1", Tool: "tool-0", Decision: audit.DecisionAllow}},
			{"none", AuditQuery{Actor: "nobody"}},
			{"no such run", AuditQuery{RunID: "run-9"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// Expected: matches, newest first; ties by insertion order,
				// newest first. Oldest first is the reverse.
				var want, wantOldest []string
				for i := len(recs) - 1; i >= 0; i-- {
					if match(tc.q, recs[i]) {
						want = append(want, recs[i].ID)
						wantOldest = append([]string{recs[i].ID}, wantOldest...)
					}
				}
				for _, run := range []struct {
					limit  int
					oldest bool
				}{{0, false}, {1, false}, {4, false}, {1000, false}, {0, true}, {1, true}, {4, true}} {
					limit := run.limit
					q := tc.q
					q.Limit, q.Oldest = limit, run.oldest
					want := want
					if run.oldest {
						want = wantOldest
					}
					var got []string
					for pages := 0; ; pages++ {
						if pages > len(recs)+1 {
							t.Fatal("paging does not end")
						}
						page, err := d.QueryAudit(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						if limit > 0 && len(page.Records) > limit {
							t.Fatalf("page of %d, limit %d", len(page.Records), limit)
						}
						for _, r := range page.Records {
							got = append(got, r.ID)
						}
						if page.Next == "" {
							break
						}
						q.Cursor = page.Next
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("limit %d, oldest %t:\n got %v\nwant %v", limit, run.oldest, got, want)
					}
				}
			})
		}

		// A cursor is only read in the order it was made in.
		for _, oldest := range []bool{false, true} {
			page, err := d.QueryAudit(ctx, AuditQuery{Limit: 2, Oldest: oldest})
			if err != nil || page.Next == "" {
				t.Fatalf("first page: %v", err)
			}
			if _, err := d.QueryAudit(ctx, AuditQuery{Limit: 2, Oldest: !oldest, Cursor: page.Next}); !errors.Is(err, secretstore.ErrInvalid) {
				t.Fatalf("a cursor made oldest=%t read the other way: %v, want invalid", oldest, err)
			}
		}

		// Round trip of one record.
		page, err := d.QueryAudit(ctx, AuditQuery{Limit: 1})
		if err != nil || len(page.Records) != 1 {
			t.Fatal(err)
		}
		r, want := page.Records[0], recs[29]
		if r.ID != want.ID || !r.Time.Equal(want.Time) || string(r.Body) != string(want.Body) || r.Source != "app-a" ||
			r.RunID != want.RunID || r.Tool != want.Tool || r.RunID == "" {
			t.Fatalf("record %+v, want %+v", r, want)
		}

		// Bad input writes nothing.
		good := recs[0]
		good.ID = "new-one"
		badRecs := map[string]AuditRecord{}
		for name, f := range map[string]func(*AuditRecord){
			"no id":                  func(r *AuditRecord) { r.ID = "" },
			"bad decision":           func(r *AuditRecord) { r.Decision = "maybe" },
			"no time":                func(r *AuditRecord) { r.Time = time.Time{} },
			"bad body":               func(r *AuditRecord) { r.Body = json.RawMessage(`{`) },
			"control char":           func(r *AuditRecord) { r.Actor = "a\x1b[2J" },
			"control char in run_id": func(r *AuditRecord) { r.RunID = "r\nforged" },
			"control char in tool":   func(r *AuditRecord) { r.Tool = "t\x00" },
		} {
			r := good
			f(&r)
			badRecs[name] = r
		}
		for name, r := range badRecs {
			if _, err := d.InsertAudit(ctx, good, r); !errors.Is(err, secretstore.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if p, _ := d.QueryAudit(ctx, AuditQuery{Limit: MaxAuditLimit}); len(p.Records) != len(recs) {
			t.Errorf("a refused batch wrote %d records", len(p.Records)-len(recs))
		}
		for name, q := range map[string]AuditQuery{
			"cursor":   {Cursor: "garbage"},
			"limit":    {Limit: MaxAuditLimit + 1},
			"decision": {Decision: "maybe"},
		} {
			if _, err := d.QueryAudit(ctx, q); !errors.Is(err, secretstore.ErrInvalid) {
				t.Errorf("query bad %s: %v", name, err)
			}
		}
	})
}
