package storage

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Every grant and user write leaves one server event with the actor of
// the context, the grant's policy before and after where it has one, and
// never the secret; the event column selects it.
func TestWritesRecordEvents(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx := ActingAs(t.Context(), "token:admin-1")
		g, err := d.Add(ctx, newSecret("tok-events-sentinel", "api.example.com", "api.example.net"))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.SetPolicy(ctx, g.ID, policy.Spec{Destinations: []string{"api.example.com"}}); err != nil {
			t.Fatal(err)
		}
		c, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{Policy: policy.Spec{Methods: []string{"GET"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Revoke(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		if err := d.Revoke(ctx, g.ID); err != nil { // no change: no record
			t.Fatal(err)
		}
		if _, err := d.CreateUser(ctx, "alice", hashA); err != nil {
			t.Fatal(err)
		}
		if _, err := d.DisableUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			event, grant, target string
			before, after        string // a destination each policy must name; "" for none
			status               string
		}{
			{audit.EventSecretAdd, g.ID, g.Name, "", "api.example.net", ""},
			{audit.EventGrantPolicy, g.ID, g.Name, "api.example.net", "api.example.com", ""},
			{audit.EventGrantClone, c.ID, c.Name, "api.example.com", "api.example.com", ""},
			{audit.EventGrantRevoke, g.ID, g.Name, "api.example.com", "api.example.com", "revoked"},
			{audit.EventUserAdd, "", "alice", "", "", ""},
			{audit.EventUserDisable, "", "alice", "", "", ""},
		} {
			t.Run(tc.event, func(t *testing.T) {
				page, err := d.QueryAudit(t.Context(), AuditQuery{Event: tc.event})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Records) != 1 {
					t.Fatalf("%d records, want 1", len(page.Records))
				}
				r := page.Records[0]
				if strings.Contains(string(r.Body), "sentinel") {
					t.Fatalf("the record holds the secret: %s", r.Body)
				}
				var b map[string]any
				if err := json.Unmarshal(r.Body, &b); err != nil {
					t.Fatal(err)
				}
				if r.Actor != "token:admin-1" || r.Event != tc.event || r.GrantID != tc.grant || b["target"] != tc.target || b["outcome"] != audit.OutcomeSucceeded {
					t.Errorf("record %+v body %s", r, r.Body)
				}
				for k, want := range map[string]string{audit.FieldPolicyBefore: tc.before, audit.FieldPolicyAfter: tc.after} {
					got, _ := json.Marshal(b[k])
					if (want == "") != (b[k] == nil) || !strings.Contains(string(got), want) {
						t.Errorf("%s = %s, want one naming %q", k, got, want)
					}
				}
				if tc.status != "" && (b["status_after"] != tc.status || b["status_before"] != "active") {
					t.Errorf("status before/after: %v %v", b["status_before"], b["status_after"])
				}
			})
		}
	})
}
