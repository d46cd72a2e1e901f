package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testclock"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

func TestAuth(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		ctx := context.Background()
		revoked, revokedSecret, err := e.db.CreateToken(ctx, storage.NewToken{Kind: storage.TokenAdmin, Name: "old"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.RevokeToken(ctx, revoked.ID); err != nil {
			t.Fatal(err)
		}
		raw := func(header string) answer {
			req, _ := http.NewRequest("GET", e.srv.URL+"/v1/grants", nil)
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			return answer{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}
		}
		for _, tc := range []struct {
			name, header string
			status       int
			code         string
		}{
			{"no token", "", 401, wire.CodeUnauthorized},
			{"not bearer", "Basic " + e.admin, 401, wire.CodeUnauthorized},
			{"empty bearer", "Bearer ", 401, wire.CodeUnauthorized},
			{"bad token", "Bearer alt_a_nope", 401, wire.CodeUnauthorized},
			{"token without prefix", "Bearer " + strings.TrimPrefix(e.admin, "alt_a_"), 401, wire.CodeUnauthorized},
			{"revoked token", "Bearer " + revokedSecret, 401, wire.CodeUnauthorized},
			{"sidecar token on an admin endpoint", "Bearer " + e.billing, 403, wire.CodeForbidden},
			{"admin token", "Bearer " + e.admin, 200, ""},
			{"lower-case scheme", "bearer " + e.admin, 200, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := raw(tc.header)
				if tc.status == 200 {
					if a.status != 200 {
						t.Fatalf("status %d: %s", a.status, a.body)
					}
					return
				}
				checkError(t, a, tc.status, tc.code, "")
			})
		}
		// Unknown and revoked tokens get one answer.
		if a, b := raw("Bearer alt_a_nope"), raw("Bearer "+revokedSecret); !bytes.Equal(a.body, b.body) {
			t.Fatalf("unknown %s vs revoked %s", a.body, b.body)
		}
		checkError(t, e.call("GET", "/v1/sidecar/policies", e.admin, nil), 403, wire.CodeForbidden, "sidecar")
		checkError(t, e.call("GET", "/v1/sidecar/grants/x", e.admin, nil), 403, wire.CodeForbidden, "sidecar")
		checkError(t, e.call("POST", "/v1/secrets", "", bearerSecret("billing", sentinel, "a.example")), 401, wire.CodeUnauthorized, "")
		// A 401 never reads the body: nothing was stored.
		if l, _ := e.db.ListGrants(ctx, ""); len(l) != 0 {
			t.Fatalf("unauthenticated request stored %d grants", len(l))
		}
		if strings.Contains(e.logs.String(), e.admin) || strings.Contains(e.logs.String(), revokedSecret) {
			t.Fatal("the log holds a token")
		}
		if !strings.Contains(e.logs.String(), `"token_id":"`) {
			t.Fatal("the access log names no token id")
		}
	})
}

// A sidecar asking for a grant it may not use gets one answer, byte for
// byte, whatever the reason: unknown, revoked, expired, another app's, or
// of no app.
func TestSidecarGrantUnavailableIsOneAnswer(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		c := testclock.New()
		e := newEnv(t, addr, func(o *Options) { o.Now = c.Now })
		var own, other, none, revoked, short wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &own)
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("search", sentinel, "api.stripe.com"), &other)
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("", sentinel, "api.stripe.com"), &none)
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &revoked)
		e.must(200, "POST", "/v1/grants/"+revoked.ID+"/revoke", e.admin, nil, nil)
		e.must(201, "POST", "/v1/grants/"+own.ID+"/clone", e.admin, wire.Clone{TTL: "1s"}, &short)

		unknown := e.call("GET", "/v1/sidecar/grants/00000000-0000-4000-8000-000000000000", e.billing, nil)
		checkError(t, unknown, 403, wire.CodeGrantUnavailable, "")
		// Past the clone's expiry, however long the setup took: the 1s TTL
		// is counted from when the clone was written, on the real clock.
		c.Advance(time.Hour)
		for name, id := range map[string]string{
			"another app's grant": other.ID, "grant of no app": none.ID,
			"revoked grant": revoked.ID, "expired clone": short.ID, "malformed id": "..%2f",
		} {
			t.Run(name, func(t *testing.T) {
				a := e.call("GET", "/v1/sidecar/grants/"+id, e.billing, nil)
				if a.status != unknown.status || !bytes.Equal(a.body, unknown.body) || a.code() != unknown.code() {
					t.Fatalf("%d %s, want %d %s", a.status, a.body, unknown.status, unknown.body)
				}
			})
		}
		// And the other app's own sidecar resolves it.
		var res wire.Resolution
		e.must(200, "GET", "/v1/sidecar/grants/"+other.ID, e.search, nil, &res)
	})
}

func TestSidecarResolveAndPolicies(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		var g, c wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com", "files.stripe.com"), &g)
		e.must(201, "POST", "/v1/grants/"+g.ID+"/clone", e.admin, wire.Clone{TTL: "1h", Policy: policy.Spec{Methods: []string{"GET"}}}, &c)
		// Narrow the parent after the clone was made: the clone's effective
		// policy follows.
		e.must(200, "PUT", "/v1/grants/"+g.ID+"/policy", e.admin, policy.Spec{Destinations: []string{"api.stripe.com"}}, nil)

		a := e.must(200, "GET", "/v1/sidecar/grants/"+c.ID, e.billing, nil, nil)
		var res wire.Resolution
		dec := json.NewDecoder(bytes.NewReader(a.body))
		dec.DisallowUnknownFields() // the answer is exactly wire.Resolution
		if err := dec.Decode(&res); err != nil {
			t.Fatal(err)
		}
		want := policy.Spec{Destinations: []string{"api.stripe.com"}, Methods: []string{"GET"}}
		if res.Fields["token"] != sentinel || res.Grant.ID != c.ID || res.Grant.App != "billing" || res.SecretVersion != 1 ||
			res.Injection.Type != "bearer" || res.NotAfter == nil || !reflect.DeepEqual(res.Policy, want) {
			t.Fatalf("resolution: %+v policy %+v", res.Grant, res.Policy)
		}
		if cc := a.header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q", cc)
		}

		var pols wire.Policies
		e.must(200, "GET", "/v1/sidecar/policies", e.billing, nil, &pols)
		if len(pols.Policies) != 2 || pols.Seq == 0 || pols.Policies[1].GrantID != c.ID || !reflect.DeepEqual(pols.Policies[1].Policy, want) {
			t.Fatalf("policies: %+v", pols)
		}
		e.must(200, "GET", "/v1/sidecar/policies", e.search, nil, &pols)
		if len(pols.Policies) != 0 {
			t.Fatalf("another app sees %d policies", len(pols.Policies))
		}
		if strings.Contains(e.logs.String(), sentinel) {
			t.Fatal("the log holds the secret")
		}
	})
}

// The hand-written resolution must stay the same shape as wire.Resolution.
func TestResolutionMatchesWire(t *testing.T) {
	ours, theirs := reflect.TypeOf(resolution{}), reflect.TypeOf(wire.Resolution{})
	if ours.NumField() != theirs.NumField() {
		t.Fatalf("resolution has %d fields, wire.Resolution %d", ours.NumField(), theirs.NumField())
	}
	for i := range ours.NumField() {
		a, b := ours.Field(i), theirs.Field(i)
		if a.Name != b.Name || a.Tag != b.Tag {
			t.Errorf("field %d: %s %q vs %s %q", i, a.Name, a.Tag, b.Name, b.Tag)
		}
	}
}

// A row edited in the database: the sidecar gets store_unavailable, the
// admin sees the grant unusable.
func TestEditedRowFailsClosed(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		var g wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &g)
		// As an attacker with database access: widen the policy in SQL.
		if _, err := testdb.Raw(t, addr).Exec(`UPDATE grants SET policy = '{"destinations":["evil.example"]}' WHERE id = '` + g.ID + `'`); err != nil {
			t.Fatal(err)
		}
		checkError(t, e.call("GET", "/v1/sidecar/grants/"+g.ID, e.billing, nil), 503, wire.CodeStoreUnavailable, "")
		var got wire.GrantInfo
		e.must(200, "GET", "/v1/grants/"+g.ID, e.admin, nil, &got)
		if got.Status != "unusable" || got.Problem == "" {
			t.Fatalf("edited grant: %+v", got)
		}
	})
}
