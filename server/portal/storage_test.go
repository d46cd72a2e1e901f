package portal

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testkeys"

	"github.com/alter-sidecar/alter/server/storage"
)

// TestStorageBackendSQLite runs the portal's main flow on the real
// control-plane storage (SQLite, sealed with a secretstore keyring).
func TestStorageBackendSQLite(t *testing.T) {
	keyring := testkeys.Keyring(t, 9)
	db, err := storage.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "alter.db"), keyring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hash, err := HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	b := &StorageBackend{Store: db, CheckUser: Users{"alice": hash}.Check}
	h := newHarness(t, b, false, nil)

	t.Run("tokens", func(t *testing.T) {
		_, admin, err := db.CreateToken(t.Context(), storage.NewToken{Kind: storage.TokenAdmin, Name: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		_, sidecar, err := db.CreateToken(t.Context(), storage.NewToken{Kind: storage.TokenSidecar, Name: "sc", App: "billing"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, token string
			ok          bool
		}{{"admin", admin, true}, {"sidecar", sidecar, false}, {"unknown", "alt_a_" + newToken(), false}, {"garbage", "x", false}} {
			name, err := b.CheckAdminToken(t.Context(), tc.token)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrBadCredentials)) || (tc.ok && name != "ops") {
				t.Errorf("%s: %q, %v", tc.name, name, err)
			}
		}
	})

	_, body := h.get(Prefix + "/login")
	resp, _ := h.post(Prefix+"/login", url.Values{"csrf": {h.csrfOf(body)}, "method": {"password"}, "username": {"alice"}, "password": {"a long enough password"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password login: %d", resp.StatusCode)
	}
	_, body = h.get(Prefix + "/grants")
	csrf := h.csrfOf(body)

	resp, body = h.post(Prefix+"/secrets", url.Values{"csrf": {csrf}, "kind": {"provider:stripe"}, "field_token": {sentinel}, "name": {"stripe-prod"}, "app": {"billing"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d\n%s", resp.StatusCode, body)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), Prefix+"/grants/"), "?created=1")
	res, err := db.Resolve(t.Context(), id, time.Now())
	if err != nil || res.Fields["token"] != sentinel || res.Secret.Provider != "stripe" {
		t.Fatalf("the stored grant does not resolve to the secret: %v", err)
	}
	if g, err := db.GetGrant(t.Context(), id); err != nil || g.App != "billing" {
		t.Errorf("app not stored: %+v %v", g, err)
	}
	_, body = h.get(Prefix + "/grants/" + id)
	if !strings.Contains(body, "api.stripe.com") || !strings.Contains(body, "Authorization: Bearer {token}") {
		t.Errorf("detail lacks the policy or the injection")
	}

	resp, _ = h.post(Prefix+"/grants/"+id+"/clone", url.Values{"csrf": {csrf}, "ttl": {"1h"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clone: %d", resp.StatusCode)
	}
	cloneID := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), Prefix+"/grants/"), "?cloned=1")
	c, err := db.Get(t.Context(), cloneID)
	if err != nil || c.Parent != id || c.ExpiresAt == nil || time.Until(*c.ExpiresAt) > time.Hour {
		t.Fatalf("clone %s: %+v %v", cloneID, c, err)
	}

	if _, err := db.InsertAudit(t.Context(), storage.AuditRecord{ID: "r1", Source: "billing/sc", Time: time.Now(), GrantID: cloneID,
		Actor: "svc", Decision: "deny", Body: json.RawMessage(`{"method":"POST","host":"api.stripe.com","path":"/v1/charges","rule":"method"}`)}); err != nil {
		t.Fatal(err)
	}
	_, body = h.get(Prefix + "/audit?decision=deny&grant=" + cloneID)
	if !strings.Contains(body, "/v1/charges") {
		t.Errorf("audit page lacks the record")
	}

	resp, _ = h.post(Prefix+"/grants/"+id+"/revoke", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, err := db.Resolve(t.Context(), cloneID, time.Now()); err == nil {
		t.Error("the clone still resolves after its parent was revoked")
	}
	_, body = h.get(Prefix + "/grants")
	if !strings.Contains(body, "parent_revoked") {
		t.Errorf("the list does not show the clone as parent_revoked")
	}
}

// TestAuditPaging pages through more records than one page holds, on
// SQLite, following the page's own links.
func TestAuditPaging(t *testing.T) {
	keyring := testkeys.Keyring(t, 3)
	db, err := storage.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "alter.db"), keyring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	base := time.Now().Add(-time.Hour)
	var recs []storage.AuditRecord
	for i := range auditPageSize + 10 {
		recs = append(recs, storage.AuditRecord{ID: "r" + strconv.Itoa(i), Source: "s", Time: base.Add(time.Duration(i) * time.Second),
			GrantID: "g", Actor: "a", Decision: "allow", Body: json.RawMessage(`{"path":"/n/` + strconv.Itoa(i) + `"}`)})
	}
	if _, err := db.InsertAudit(t.Context(), recs...); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, &fakeWithStore{fakeBackend: newFake(), db: db}, false, nil)
	h.login()
	_, body := h.get(Prefix + "/audit?actor=a")
	if n := strings.Count(body, "<td class=\"req\">"); n != auditPageSize || !strings.Contains(body, "/n/59") || strings.Contains(body, "/n/9<") {
		t.Fatalf("first page: %d rows", n)
	}
	m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no link to older records")
	}
	_, body = h.get(html.UnescapeString(m[1]))
	if n := strings.Count(body, "<td class=\"req\">"); n != 10 || !strings.Contains(body, "/n/0<") || strings.Contains(body, `rel="next"`) {
		t.Errorf("second page: %d rows", n)
	}
	if !strings.Contains(body, "Newest records") {
		t.Error("no way back to the first page")
	}
}

// fakeWithStore is the fake with audit queries on a real database.
type fakeWithStore struct {
	*fakeBackend
	db *storage.DB
}

func (f *fakeWithStore) QueryAudit(ctx context.Context, q storage.AuditQuery) (storage.AuditPage, error) {
	return f.db.QueryAudit(ctx, q)
}
