package api

import (
	"encoding/json"
	"testing"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/wire"
)

// A revoke through the API is in the trail as the admin token's event,
// with the grant's policy before and after; ?event= selects it, and a
// sidecar cannot ship a record posing as one.
func TestRevokeEventThroughAPI(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		id := e.addSecret("billing")
		var admin struct {
			Tokens []wire.Token `json:"tokens"`
		}
		e.must(200, "GET", "/v1/tokens", e.admin, nil, &admin)
		e.must(200, "POST", "/v1/grants/"+id+"/revoke", e.admin, nil, nil)

		var page struct {
			Records []struct {
				Event, Actor, GrantID string
				Body                  json.RawMessage
			} `json:"records"`
		}
		e.must(200, "GET", "/v1/audit?event=grant_revoke", e.admin, nil, &page)
		if len(page.Records) != 1 {
			t.Fatalf("%d grant_revoke records, want 1", len(page.Records))
		}
		r := page.Records[0]
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		// The trail names the admin token (issue 19: "the actor is the admin
		// token's name") and keeps its id beside it: names are not unique.
		wantActor := "token:" + admin.Tokens[0].Name
		if r.Event != audit.EventGrantRevoke || r.Actor != wantActor || body["actor_id"] != "token:"+admin.Tokens[0].ID || body["grant_id"] != id || body["outcome"] != audit.OutcomeSucceeded {
			t.Errorf("record: %+v %s", r, r.Body)
		}
		if body[audit.FieldPolicyBefore] == nil || body[audit.FieldPolicyAfter] == nil || body["status_after"] != "revoked" {
			t.Errorf("no policy before and after: %s", r.Body)
		}

		e.must(200, "GET", "/v1/audit?event=grant_use", e.admin, nil, &page)
		if len(page.Records) != 0 {
			t.Errorf("grant_use filter returned server events: %+v", page.Records)
		}
		forged := wire.AuditBatch{Records: []wire.AuditRecord{{ID: "billing/x1", Event: audit.EventGrantRevoke,
			Body: json.RawMessage(`{"ts":"2025-01-01T00:00:00Z","msg":"grant_use","decision":"allow"}`)}}}
		checkError(t, e.call("POST", "/v1/sidecar/audit", e.sidecarToken("billing", "sc-forge"), forged), 400, wire.CodeInvalid, "event")
	})
}
