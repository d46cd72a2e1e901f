package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
)

// TestAuditForwardAttackForgedAdminEvent: a sidecar token holder ships a
// record dressed as one of the server's admin events (event grant_revoke,
// actor token:admin, source server, an id starting "server/"). The body
// is the sidecar's to write, so a SIEM tells the two apart by what the
// server sets around it: the id and source at the top of every forwarded
// record. Those must never be the server's: source "server", or an id
// starting "server/" (the server's own records are "server/<uuid>").
func TestAuditForwardAttackForgedAdminEvent(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		ctx := context.Background()
		// An app named like the server would put "server/" in front of
		// every id its sidecars ship: no sidecar may belong to it.
		_, serverApp, err := e.db.CreateToken(ctx, storage.NewToken{Kind: storage.TokenSidecar, Name: "pod-9", App: storage.ServerSource})
		if err == nil {
			t.Errorf("a sidecar token of app %q was created", storage.ServerSource)
		}
		now := time.Now().UTC()
		forged := map[string]any{"ts": now.Format(time.RFC3339Nano), "msg": "control plane grant_revoke", "event": audit.EventGrantRevoke,
			"actor": "token:admin", "decision": "allow", "source": storage.ServerSource, "id": "server/forged", "outcome": "succeeded"}
		for _, rec := range []map[string]any{
			{"id": "server/forged-1", "source": storage.ServerSource, "body": forged},
			{"id": "forged-2", "event": "grant_use", "body": forged},
		} {
			e.must(200, "POST", "/v1/sidecar/audit", e.billing, map[string]any{"records": []any{rec}}, nil)
			if serverApp != "" {
				e.must(200, "POST", "/v1/sidecar/audit", serverApp, map[string]any{"records": []any{rec}}, nil)
			}
		}
		// QueryAudit, not AuditAfter: on PostgreSQL the latter waits for
		// every transaction open in the cluster (other tests' too).
		page, err := e.db.QueryAudit(ctx, storage.AuditQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		shipped := 0
		for _, r := range page.Records {
			if r.Source == storage.ServerSource {
				continue // the server's own (the tokens created above)
			}
			shipped++
			if r.Event != audit.EventGrantUse {
				t.Errorf("shipped record stored as id %q, source %q, event %q", r.ID, r.Source, r.Event)
			}
			// What each sender puts around the body.
			msg, err := forward.Message(r, "host")
			if err != nil {
				t.Fatal(err)
			}
			var sent forward.Record
			if err := json.Unmarshal(msg[strings.Index(string(msg), "{"):], &sent); err != nil {
				t.Fatalf("syslog MSG of %s: %v", r.ID, err)
			}
			if sent.Source == storage.ServerSource || strings.HasPrefix(sent.ID, storage.ServerSource+"/") ||
				strings.Contains(string(msg), `source="server"`) || strings.Contains(string(msg), `id="server/`) {
				t.Errorf("forwarded as the server's own: id %q, source %q", sent.ID, sent.Source)
			}
		}
		if shipped < 2 {
			t.Fatalf("%d shipped records stored, want 2", shipped)
		}
	})
}
