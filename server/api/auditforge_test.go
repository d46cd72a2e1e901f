package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestAuditForgery: one app's sidecar token cannot write another app's
// audit trail, nor make the filter columns say something the record does
// not, nor date records before the token existed. (All of these used to
// be stored: app A's records about B's grant showed on B's grant page, and
// a deny filter printed an allow.)
func TestAuditForgery(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		mine, theirs := e.addSecret("billing"), e.addSecret("search")
		now := time.Now().UTC()
		ship := func(recs ...map[string]any) answer {
			return e.call("POST", "/v1/sidecar/audit", e.billing, map[string]any{"records": recs})
		}
		// As the shipper sends them: the columns copied out of the body.
		rec := func(id, grant, decision string, at time.Time) map[string]any {
			return map[string]any{"id": id, "time": at, "grant_id": grant, "actor": "svc", "decision": decision,
				"body": auditBody(at, grant, "svc", decision)}
		}
		for _, tc := range []struct {
			name string
			rec  map[string]any
			want string
		}{
			{"another app's grant", rec("x1", theirs, "allow", now), "another app"},
			{"columns disagree with the body", map[string]any{"id": "x2", "decision": "deny", "time": now,
				"body": auditBody(now, mine, "svc", "allow")}, "decision does not match"},
			{"grant column disagrees", map[string]any{"id": "x3", "grant_id": mine, "body": auditBody(now, theirs, "svc", "allow")}, "grant_id does not match"},
			{"dated 1970", rec("x4", mine, "deny", time.Unix(0, 0)), "before this token"},
			{"run_id column disagrees", map[string]any{"id": "x6", "run_id": "run-forged", "body": withContext(auditBody(now, mine, "svc", "allow"), "run-1", "t")},
				"run_id does not match"},
			{"tool column without one in the body", map[string]any{"id": "x7", "tool": "forged", "body": auditBody(now, mine, "svc", "allow")},
				"tool does not match"},
			{"not a record", map[string]any{"id": "x5", "decision": "allow", "time": now, "body": map[string]any{"x": 1}}, "not an audit record"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				checkError(t, ship(tc.rec), 400, wire.CodeInvalid, tc.want)
			})
		}
		// A refused record in a batch refuses the batch: nothing of it is kept.
		checkError(t, ship(rec("ok0", mine, "allow", now), rec("bad", theirs, "deny", now)), 400, wire.CodeInvalid, "records[1]")

		var ins wire.AuditInserted
		e.must(200, "POST", "/v1/sidecar/audit", e.billing, map[string]any{"records": []any{
			rec("ok1", mine, "deny", now),
			rec("ok2", "5f0c7c52-8d4e-4b8e-9a53-000000000000", "deny", now),          // an id nobody has: a wrong request, worth keeping
			map[string]any{"id": "ok3", "body": auditBody(now, mine, "svc", "deny")}, // no columns: taken from the body
			map[string]any{"id": "ok4", "body": withContext(auditBody(now, mine, "svc", "allow"), "run-1", "search")},
		}}, &ins)
		if ins.Inserted != 4 {
			t.Fatalf("inserted %d, want 4", ins.Inserted)
		}
		var byRun struct {
			Records []struct{ ID, RunID, Tool string } `json:"records"`
		}
		e.must(200, "GET", "/v1/audit?run_id=run-1&tool=search", e.admin, nil, &byRun)
		if len(byRun.Records) != 1 || byRun.Records[0].ID != "billing/ok4" {
			t.Errorf("run_id and tool filter: %+v", byRun.Records)
		}
		e.must(200, "GET", "/v1/audit?tool=other", e.admin, nil, &byRun)
		if len(byRun.Records) != 0 {
			t.Errorf("tool filter matched %+v", byRun.Records)
		}
		var page struct {
			Records []struct {
				ID, Source, Decision, GrantID string
				Body                          json.RawMessage
			} `json:"records"`
		}
		e.must(200, "GET", "/v1/audit?event=grant_use&grant="+theirs, e.admin, nil, &page)
		if len(page.Records) != 0 {
			t.Errorf("the other app's grant has records from billing: %+v", page.Records)
		}
		e.must(200, "GET", "/v1/audit?decision=deny", e.admin, nil, &page)
		for _, r := range page.Records {
			var body struct{ Decision string }
			if err := json.Unmarshal(r.Body, &body); err != nil || body.Decision != "deny" || r.Decision != "deny" {
				t.Errorf("a deny query returned %s (body %s)", r.Decision, r.Body)
			}
			if r.Source != "billing/pod-1" {
				t.Errorf("source %q", r.Source)
			}
		}
		if len(page.Records) != 3 {
			t.Errorf("%d deny records, want 3", len(page.Records))
		}
	})
}

// withContext adds a call context to an audit body, as a sidecar writes it.
func withContext(body map[string]any, run, tool string) map[string]any {
	body["run_id"], body["tool"] = run, tool
	return body
}
