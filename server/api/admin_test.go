package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testclock"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

const sentinel = "SENTINEL-sk_live_9f8e7d6c5b4a"

func bearerSecret(app, value string, hosts ...string) map[string]any {
	return map[string]any{
		"app":       app,
		"injection": inject.Spec{Type: inject.TypeBearer},
		"fields":    map[string]string{"token": value},
		"name":      "stripe-prod",
		"labels":    []string{"team-a"},
		"policy":    policy.Spec{Destinations: hosts},
	}
}

func TestAdminGrantEndpoints(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		var g wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &g)
		if g.App != "billing" || g.Status != secretstore.StatusActive || g.Name != "stripe-prod" || g.Secret.Version != 1 {
			t.Fatalf("created grant: %+v", g)
		}

		// A provider and its params, built from the catalog; its hosts are
		// the destinations.
		var gl wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, map[string]any{
			"app": "search", "provider": "gitlab", "params": map[string]string{"host": "git.example.com"},
			"fields": map[string]string{"token": sentinel},
		}, &gl)
		if gl.Secret.Provider != "gitlab" || !reflect.DeepEqual(gl.Policy.Destinations, []string{"git.example.com"}) ||
			gl.Secret.Spec.Type != inject.TypeCustom {
			t.Fatalf("provider grant: %+v", gl)
		}
		// A provider with a policy of its own keeps the policy's destinations.
		var gp wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, map[string]any{
			"provider": "github", "fields": map[string]string{"token": sentinel},
			"policy": map[string]any{"destinations": []string{"api.github.com"}, "methods": []string{"GET"}},
		}, &gp)
		if !reflect.DeepEqual(gp.Policy.Destinations, []string{"api.github.com"}) || gp.App != "" {
			t.Fatalf("provider grant with policy: %+v", gp.Policy)
		}

		var list wire.Grants
		e.must(200, "GET", "/v1/grants", e.admin, nil, &list)
		if len(list.Grants) != 3 || list.Grants[0].ID != g.ID {
			t.Fatalf("list: %d grants", len(list.Grants))
		}
		e.must(200, "GET", "/v1/grants?app=billing", e.admin, nil, &list)
		if len(list.Grants) != 1 || list.Grants[0].ID != g.ID {
			t.Fatalf("list app=billing: %+v", list)
		}
		var got wire.GrantInfo
		e.must(200, "GET", "/v1/grants/"+g.ID, e.admin, nil, &got)
		if got.ID != g.ID || got.App != "billing" {
			t.Fatalf("get: %+v", got)
		}

		var c wire.GrantInfo
		e.must(201, "POST", "/v1/grants/"+g.ID+"/clone", e.admin, wire.Clone{Name: "ci", TTL: "15m", Policy: policy.Spec{Methods: []string{"GET"}}}, &c)
		if c.Parent != g.ID || c.App != "billing" || c.ExpiresAt == nil || time.Until(*c.ExpiresAt) > 16*time.Minute {
			t.Fatalf("clone: %+v", c)
		}

		var rot wire.GrantInfo
		e.must(200, "POST", "/v1/grants/"+g.ID+"/rotate", e.admin, map[string]any{"fields": map[string]string{"token": sentinel + "-2"}}, &rot)
		if rot.Secret.Version != 2 {
			t.Fatalf("rotate: version %d", rot.Secret.Version)
		}
		var pol wire.GrantInfo
		e.must(200, "PUT", "/v1/grants/"+g.ID+"/policy", e.admin, policy.Spec{Destinations: []string{"api.stripe.com"}, PathPrefixes: []string{"/v1"}}, &pol)
		if !reflect.DeepEqual(pol.Policy.PathPrefixes, []string{"/v1"}) {
			t.Fatalf("policy: %+v", pol.Policy)
		}
		var rev wire.GrantInfo
		for range 2 { // revoking twice is fine
			e.must(200, "POST", "/v1/grants/"+c.ID+"/revoke", e.admin, nil, &rev)
		}
		if rev.Status != secretstore.StatusRevoked {
			t.Fatalf("revoke: %+v", rev)
		}

		var provs struct {
			Providers []map[string]any `json:"providers"`
		}
		e.must(200, "GET", "/v1/providers", e.admin, nil, &provs)
		if len(provs.Providers) < 5 {
			t.Fatalf("providers: %d", len(provs.Providers))
		}
		var one map[string]any
		e.must(200, "GET", "/v1/providers/github", e.admin, nil, &one)
		if one["name"] != "github" || one["auth"] != "custom" {
			t.Fatalf("provider: %v", one)
		}

		unknown := "00000000-0000-4000-8000-000000000000"
		errorCases := []struct {
			name, method, path string
			body               any
			status             int
			code, message      string
		}{
			{"secret without injection or provider", "POST", "/v1/secrets", map[string]any{"fields": map[string]string{"token": "x"}, "policy": policy.Spec{Destinations: []string{"a.example"}}}, 400, wire.CodeInvalid, "injection or provider"},
			{"secret with unknown provider", "POST", "/v1/secrets", map[string]any{"provider": "nope", "fields": map[string]string{"token": "x"}}, 400, wire.CodeInvalid, "provider"},
			{"secret with a bad provider param", "POST", "/v1/secrets", map[string]any{"provider": "gitlab", "params": map[string]string{"colour": "x"}, "fields": map[string]string{"token": "x"}}, 400, wire.CodeInvalid, "colour"},
			{"secret with params and injection", "POST", "/v1/secrets", map[string]any{"injection": inject.Spec{Type: "bearer"}, "params": map[string]string{"a": "b"}, "fields": map[string]string{"token": "x"}, "policy": policy.Spec{Destinations: []string{"a.example"}}}, 400, wire.CodeInvalid, "params"},
			{"secret without fields", "POST", "/v1/secrets", map[string]any{"injection": inject.Spec{Type: "bearer"}, "policy": policy.Spec{Destinations: []string{"a.example"}}}, 400, wire.CodeInvalid, "fields"},
			{"secret without destinations", "POST", "/v1/secrets", bearerSecret("billing", "x"), 400, wire.CodeInvalid, "destination"},
			{"secret with a bad app", "POST", "/v1/secrets", bearerSecret("bil/ling", "x", "a.example"), 400, wire.CodeInvalid, "app"},
			{"secret with CR in a value", "POST", "/v1/secrets", bearerSecret("billing", "a\r\nX-Evil: 1", "a.example"), 400, wire.CodeInvalid, "token"},
			{"get unknown grant", "GET", "/v1/grants/" + unknown, nil, 404, wire.CodeNotFound, unknown},
			{"clone unknown grant", "POST", "/v1/grants/" + unknown + "/clone", wire.Clone{}, 404, wire.CodeNotFound, ""},
			{"clone with a bad ttl", "POST", "/v1/grants/" + g.ID + "/clone", wire.Clone{TTL: "soon"}, 400, wire.CodeInvalid, "ttl"},
			{"clone that widens", "POST", "/v1/grants/" + g.ID + "/clone", wire.Clone{Policy: policy.Spec{Destinations: []string{"evil.example"}}}, 400, wire.CodeInvalid, "evil.example"},
			{"clone of a revoked grant", "POST", "/v1/grants/" + c.ID + "/clone", wire.Clone{}, 400, wire.CodeInvalid, "revoked"},
			{"rotate with other fields", "POST", "/v1/grants/" + g.ID + "/rotate", map[string]any{"fields": map[string]string{"password": "x"}}, 400, wire.CodeInvalid, ""},
			{"rotate without fields", "POST", "/v1/grants/" + g.ID + "/rotate", map[string]any{"fields": map[string]string{}}, 400, wire.CodeInvalid, "fields"},
			{"rotate unknown grant", "POST", "/v1/grants/" + unknown + "/rotate", map[string]any{"fields": map[string]string{"token": "x"}}, 404, wire.CodeNotFound, ""},
			{"policy that does not compile", "PUT", "/v1/grants/" + g.ID + "/policy", policy.Spec{Destinations: []string{"a.example"}, Methods: []string{"GE T"}}, 400, wire.CodeInvalid, ""},
			{"policy of unknown grant", "PUT", "/v1/grants/" + unknown + "/policy", policy.Spec{Destinations: []string{"a.example"}}, 404, wire.CodeNotFound, ""},
			{"revoke unknown grant", "POST", "/v1/grants/" + unknown + "/revoke", nil, 404, wire.CodeNotFound, ""},
			{"unknown provider", "GET", "/v1/providers/nope", nil, 404, wire.CodeNotFound, "nope"},
			{"wrong method", "DELETE", "/v1/grants/" + g.ID, nil, 405, wire.CodeMethod, ""},
			{"unknown path", "GET", "/v1/nothing", nil, 404, wire.CodeNotFound, ""},
		}
		for _, tc := range errorCases {
			t.Run(tc.name, func(t *testing.T) {
				a := e.call(tc.method, tc.path, e.admin, tc.body)
				checkError(t, a, tc.status, tc.code, tc.message)
			})
		}
		if a := e.call("DELETE", "/v1/grants/"+g.ID, e.admin, nil); a.header.Get("Allow") == "" {
			t.Error("405 without Allow")
		}
		if strings.Contains(e.logs.String(), sentinel) {
			t.Fatal("the log holds the secret")
		}
	})
}

// checkError checks an error answer's status, code (body and header) and
// that its message mentions want.
func checkError(t *testing.T, a answer, status int, code, want string) {
	t.Helper()
	var we wire.Error
	if err := json.Unmarshal(a.body, &we); err != nil {
		t.Fatalf("error body %q: %v", a.body, err)
	}
	if a.status != status || we.Code != code || a.code() != code || we.Message == "" {
		t.Fatalf("got %d %q (header %q) %q; want %d %q", a.status, we.Code, a.code(), we.Message, status, code)
	}
	if !strings.Contains(we.Message, want) {
		t.Fatalf("message %q does not mention %q", we.Message, want)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestTokensEndpoints(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		var tok wire.Token
		e.must(201, "POST", "/v1/tokens", e.admin, wire.NewToken{Kind: "sidecar", Name: "pod-9", App: "billing"}, &tok)
		if !strings.HasPrefix(tok.Secret, wire.PrefixSidecar) || tok.App != "billing" || tok.ID == "" {
			t.Fatalf("created: %+v", tok)
		}
		// The new token works at once.
		e.must(200, "GET", "/v1/sidecar/policies", tok.Secret, nil, nil)

		a := e.must(200, "GET", "/v1/tokens", e.admin, nil, nil)
		if strings.Contains(string(a.body), tok.Secret) || strings.Contains(string(a.body), `"token"`) || strings.Contains(string(a.body), "digest") {
			t.Fatalf("token list shows a token or digest: %s", a.body)
		}
		var list wire.Tokens
		_ = json.Unmarshal(a.body, &list)
		if len(list.Tokens) != 4 {
			t.Fatalf("list: %d tokens", len(list.Tokens))
		}
		var rev wire.Token
		e.must(200, "POST", "/v1/tokens/"+tok.ID+"/revoke", e.admin, nil, &rev)
		if rev.RevokedAt == nil {
			t.Fatalf("revoke: %+v", rev)
		}
		checkError(t, e.call("GET", "/v1/sidecar/policies", tok.Secret, nil), 401, wire.CodeUnauthorized, "")
		checkError(t, e.call("POST", "/v1/tokens/nope/revoke", e.admin, nil), 404, wire.CodeNotFound, "token")
		checkError(t, e.call("POST", "/v1/tokens", e.admin, wire.NewToken{Kind: "root", Name: "x"}), 400, wire.CodeInvalid, "kind")
		checkError(t, e.call("POST", "/v1/tokens", e.admin, wire.NewToken{Kind: "sidecar", Name: "x"}), 400, wire.CodeInvalid, "app")
		if strings.Contains(e.logs.String(), tok.Secret) || strings.Contains(e.logs.String(), e.admin) {
			t.Fatal("the log holds a token")
		}
	})
}

func TestAuditEndpoints(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		now := time.Now().UTC().Truncate(time.Second)
		rec := func(id, decision string, at time.Time) map[string]any {
			return map[string]any{"id": id, "source": "forged", "time": at, "grant_id": "g1", "actor": "svc",
				"decision": decision, "body": auditBody(at, "g1", "svc", decision)}
		}
		batch := map[string]any{"records": []any{rec("r1", "allow", now.Add(-time.Minute)), rec("r2", "deny", now)}}
		var ins wire.AuditInserted
		e.must(200, "POST", "/v1/sidecar/audit", e.billing, batch, &ins)
		if ins.Inserted != 2 {
			t.Fatalf("inserted %d", ins.Inserted)
		}
		e.must(200, "POST", "/v1/sidecar/audit", e.billing, batch, &ins) // a retry
		if ins.Inserted != 0 {
			t.Fatalf("retry inserted %d, want 0", ins.Inserted)
		}
		var page struct {
			Records []struct {
				ID, Source, Decision string
			} `json:"records"`
			Next string `json:"next"`
		}
		e.must(200, "GET", "/v1/audit?grant=g1", e.admin, nil, &page)
		if len(page.Records) != 2 || page.Records[0].ID != "billing/r2" || page.Records[0].Source != "billing/pod-1" {
			t.Fatalf("audit: %+v", page)
		}
		e.must(200, "GET", "/v1/audit?decision=allow&grant=g1&actor=svc&since="+now.Add(-time.Hour).Format(time.RFC3339), e.admin, nil, &page)
		if len(page.Records) != 1 || page.Records[0].ID != "billing/r1" {
			t.Fatalf("filtered: %+v", page)
		}
		e.must(200, "GET", "/v1/audit?grant=g1&limit=1", e.admin, nil, &page)
		if len(page.Records) != 1 || page.Next == "" {
			t.Fatalf("page 1: %+v", page)
		}
		e.must(200, "GET", "/v1/audit?grant=g1&limit=1&cursor="+page.Next, e.admin, nil, &page)
		if len(page.Records) != 1 || page.Records[0].ID != "billing/r1" {
			t.Fatalf("page 2: %+v", page)
		}
		for _, tc := range []struct{ name, query, want string }{
			{"bad since", "since=yesterday", "since"},
			{"bad until", "until=1", "until"},
			{"bad limit", "limit=-1", "limit"},
			{"limit too large", "limit=100000", "limit"},
			{"bad decision", "decision=maybe", "decision"},
			{"bad cursor", "cursor=zzz", "cursor"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				checkError(t, e.call("GET", "/v1/audit?"+tc.query, e.admin, nil), 400, wire.CodeInvalid, tc.want)
			})
		}
		many := make([]any, wire.MaxAuditBatch+1)
		for i := range many {
			many[i] = rec("m"+time.Duration(i).String(), "allow", now)
		}
		checkError(t, e.call("POST", "/v1/sidecar/audit", e.billing, map[string]any{"records": many}), 400, wire.CodeInvalid, "records")
		checkError(t, e.call("POST", "/v1/sidecar/audit", e.billing, map[string]any{"records": []any{rec("", "allow", now)}}), 400, wire.CodeInvalid, "id")
		checkError(t, e.call("POST", "/v1/sidecar/audit", e.billing, map[string]any{"records": []any{rec("future", "allow", now.Add(time.Hour))}}), 400, wire.CodeInvalid, "future")
		// Another app's sidecar sending the same ids neither collides with
		// nor blocks billing's records: each app has its own id space.
		var other wire.Token
		e.must(201, "POST", "/v1/tokens", e.admin, wire.NewToken{Kind: "sidecar", Name: "pod-9", App: "other"}, &other)
		e.must(200, "POST", "/v1/sidecar/audit", other.Secret, batch, &ins)
		if ins.Inserted != 2 {
			t.Fatalf("another app's records with the same ids: inserted %d, want 2", ins.Inserted)
		}
	})
}

// auditBody is a record's body as a sidecar's durable log writes it.
func auditBody(at time.Time, grant, actor, decision string) map[string]any {
	return map[string]any{"ts": at.UTC().Format(time.RFC3339Nano), "msg": "grant use", "grant_id": grant,
		"actor": actor, "decision": decision, "seq": 1}
}

// TestHealth: /readyz follows the store, a ping's answer standing for a
// second (ready.go).
func TestHealth(t *testing.T) {
	c := testclock.New()
	e := newEnv(t, testdb.SQLite(t), func(o *Options) { o.Now = c.Now })
	e.must(200, "GET", "/healthz", "", nil, nil)
	e.must(200, "GET", "/readyz", "", nil, nil)
	e.db.Close()
	e.must(200, "GET", "/readyz", "", nil, nil) // the last ping's answer
	c.Advance(readyFresh)
	checkError(t, e.call("GET", "/readyz", "", nil), 503, wire.CodeStoreUnavailable, "")
	if err := e.api.Ready(); err == nil {
		t.Error("Handler.Ready: nil without a store")
	}
}
