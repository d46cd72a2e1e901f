package portal

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/export"
	"github.com/alter-sidecar/alter/internal/testkeys"
	"github.com/alter-sidecar/alter/server/storage"
)

// The portal's admin events reach the server's trail with the portal user
// as the actor: a failed login with its source address, a login, a revoke
// with the policy before and after, and a logout.
func TestPortalEvents(t *testing.T) {
	db, err := storage.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "alter.db"), testkeys.Keyring(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hash, err := HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, &StorageBackend{Store: db, CheckUser: Users{"alice": hash}.Check}, false, nil)

	_, body := h.get(Prefix + "/login")
	resp, _ := h.post(Prefix+"/login", url.Values{"csrf": {h.csrfOf(body)}, "method": {"password"}, "username": {"alice"}, "password": {"wrong password, long"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	_, body = h.get(Prefix + "/login")
	resp, _ = h.post(Prefix+"/login", url.Values{"csrf": {h.csrfOf(body)}, "method": {"password"}, "username": {"alice"}, "password": {"a long enough password"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	_, body = h.get(Prefix + "/grants")
	csrf := h.csrfOf(body)
	resp, _ = h.post(Prefix+"/secrets", url.Values{"csrf": {csrf}, "kind": {"provider:stripe"}, "field_token": {sentinel}, "name": {"stripe-prod"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", resp.StatusCode)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), Prefix+"/grants/"), "?created=1")
	if resp, _ = h.post(Prefix+"/grants/"+id+"/revoke", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	// The audit page filters on the event; Export gives the same as CSV.
	_, page := h.get(Prefix + "/audit?event=portal_login")
	if !strings.Contains(page, "portal_login (failed)") || !strings.Contains(page, "from 127.0.0.1") || strings.Contains(page, "grant_revoke (") {
		t.Errorf("audit page filtered on portal_login:\n%s", page)
	}
	m := regexp.MustCompile(`href="([^"]*/audit/export\?[^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no Export link")
	}
	resp, csvBody := h.get(html.UnescapeString(m[1]))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(csvBody)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(export.Columns, ",") || len(rows) != 3 {
		t.Fatalf("export: %v", rows)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	// Oldest first: the failed login, then the one that succeeded.
	if rows[1][col["outcome"]] != "failed" || rows[1][col["source_ip"]] != "127.0.0.1" || rows[1][col["event"]] != "portal_login" ||
		rows[2][col["outcome"]] != "succeeded" {
		t.Errorf("login rows: %v", rows[1:])
	}
	if strings.Contains(csvBody, sentinel) {
		t.Error("the export holds the secret")
	}
	if resp, _ := h.get(Prefix + "/audit/export?event=nonsense"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad event filter: %d", resp.StatusCode)
	}

	if resp, _ = h.post(Prefix+"/logout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}

	body1 := func(event string) []map[string]any {
		t.Helper()
		page, err := db.QueryAudit(t.Context(), storage.AuditQuery{Event: event})
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, r := range page.Records {
			if r.Event != event {
				t.Errorf("filter %s returned a %s record", event, r.Event)
			}
			if strings.Contains(string(r.Body), sentinel) {
				t.Errorf("%s record holds the secret", event)
			}
			var m map[string]any
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	logins := body1(audit.EventLogin)
	if len(logins) != 2 {
		t.Fatalf("%d login records, want 2", len(logins))
	}
	failed, ok := logins[1], logins[0] // newest first
	for _, tc := range []struct {
		name string
		rec  map[string]any
		want map[string]any
	}{
		{"failed login", failed, map[string]any{"outcome": "failed", "actor": "portal:alice", "source_ip": "127.0.0.1", "decision": "deny"}},
		{"login", ok, map[string]any{"outcome": "succeeded", "actor": "portal:alice", "source_ip": "127.0.0.1"}},
		{"revoke", body1(audit.EventGrantRevoke)[0], map[string]any{"actor": "portal:alice", "grant_id": id, "outcome": "succeeded"}},
		{"secret add", body1(audit.EventSecretAdd)[0], map[string]any{"actor": "portal:alice", "grant_id": id, "target": "stripe-prod"}},
		{"logout", body1(audit.EventLogout)[0], map[string]any{"actor": "portal:alice", "source_ip": "127.0.0.1"}},
	} {
		for k, v := range tc.want {
			if tc.rec[k] != v {
				t.Errorf("%s: %s = %v, want %v", tc.name, k, tc.rec[k], v)
			}
		}
	}
	rev := body1(audit.EventGrantRevoke)[0]
	before, _ := rev[audit.FieldPolicyBefore].(map[string]any)
	after, _ := rev[audit.FieldPolicyAfter].(map[string]any)
	if before["destinations"] == nil || after["destinations"] == nil || rev["status_after"] != "revoked" {
		t.Errorf("revoke record lacks the policy before and after: %v", rev)
	}
}
