package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/server/wire"
)

// rotatingTokenEndpoint takes one refresh token at a time and rotates it.
type rotatingTokenEndpoint struct {
	mu       sync.Mutex
	valid    string
	n        int
	requests atomic.Int64
	issued   []string
}

func (te *rotatingTokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	te.requests.Add(1)
	_ = r.ParseForm()
	te.mu.Lock()
	defer te.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != te.valid {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"` + r.PostForm.Get("refresh_token") + `"}`))
		return
	}
	te.n++
	te.valid = sentinel + "-rt-" + strings.Repeat("n", te.n)
	at := "srvminted-" + strings.Repeat("a", te.n)
	te.issued = append(te.issued, te.valid, at)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "refresh_token": te.valid, "expires_in": 3600})
}

// TestSidecarMintToken: a sidecar gets a minted token for its app's grant,
// never the long-lived secret (resolve withholds it); the server reuses
// the token, stores a rotated refresh token in the database, answers 502
// credential_unavailable with the reason when the refresh token is
// revoked, and audits every call. Another app's grant is the unknown
// grant's answer; a grant that is not minted is a 400.
func TestSidecarMintToken(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		te := &rotatingTokenEndpoint{valid: sentinel + "-rt-original"}
		tokenSrv := httptest.NewTLSServer(te)
		defer tokenSrv.Close()
		e := newEnv(t, addr, func(o *Options) { o.MintTransport = tokenSrv.Client().Transport })
		var g wire.GrantInfo
		e.must(201, "POST", "/v1/secrets", e.admin, map[string]any{
			"app":       "billing",
			"injection": inject.Spec{Type: inject.TypeOAuth2RefreshToken, Mint: &inject.MintSpec{TokenURL: tokenSrv.URL + "/connect/token"}},
			"fields":    map[string]string{"client_id": "cid", "client_secret": sentinel + "-cs", "refresh_token": te.valid},
			"name":      "xero", "policy": policy.Spec{Destinations: []string{"api.xero.com"}},
		}, &g)

		res := e.must(200, "GET", "/v1/sidecar/grants/"+g.ID, e.billing, nil, nil)
		if strings.Contains(string(res.body), sentinel) {
			t.Fatalf("resolve handed a minted credential's secret to the sidecar: %s", res.body)
		}
		var tok wire.MintedToken
		first := e.must(200, "POST", "/v1/sidecar/grants/"+g.ID+"/token", e.billing, nil, &tok)
		if tok.Token != "srvminted-a" || time.Until(tok.ExpiresAt) < 50*time.Minute || first.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("minted token %v", tok)
		}
		e.must(200, "POST", "/v1/sidecar/grants/"+g.ID+"/token", e.billing, nil, &tok)
		if tok.Token != "srvminted-a" || te.requests.Load() != 1 {
			t.Fatalf("token not reused: %d token requests", te.requests.Load())
		}
		stored, err := e.db.Resolve(context.Background(), g.ID, time.Now())
		if err != nil || stored.Fields["refresh_token"] != sentinel+"-rt-n" || stored.Secret.Version != 2 {
			t.Fatalf("the rotated refresh token is not in the database: %v", err)
		}

		e.must(403, "POST", "/v1/sidecar/grants/"+g.ID+"/token", e.search, nil, nil)
		plain := e.addSecret("billing")
		e.must(400, "POST", "/v1/sidecar/grants/"+plain+"/token", e.billing, nil, nil)
		e.must(403, "POST", "/v1/sidecar/grants/"+g.ID+"/token", e.admin, nil, nil)

		// The endpoint revokes the refresh token. A new server (no cached
		// token) asks with the stored one and is refused.
		te.mu.Lock()
		te.valid = "revoked"
		te.mu.Unlock()
		e2 := newEnv(t, addr, func(o *Options) { o.MintTransport = tokenSrv.Client().Transport })
		a := e2.call("POST", "/v1/sidecar/grants/"+g.ID+"/token", e.billing, nil)
		if a.status != http.StatusBadGateway || a.code() != wire.CodeCredentialUnavailable || !strings.Contains(string(a.body), `"message":"refresh_token_rejected"`) {
			t.Fatalf("revoked refresh token: %d %s", a.status, a.body)
		}

		var trail struct {
			Records []json.RawMessage `json:"records"`
		}
		e.must(200, "GET", "/v1/audit?grant="+g.ID, e.admin, nil, &trail)
		mints := 0
		for _, r := range trail.Records {
			if strings.Contains(string(r), `"event":"mint"`) {
				mints++
			}
		}
		if mints < 4 {
			t.Fatalf("%d mint events in the audit trail, want at least 4: %s", mints, trail.Records)
		}
		te.mu.Lock()
		secrets := append([]string{sentinel}, te.issued...)
		te.mu.Unlock()
		for _, text := range append([]string{e.logs.String(), e2.logs.String(), string(a.body)}, rawStrings(trail.Records)...) {
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Fatalf("a secret or token in a log line, error or audit record: %s", text)
				}
			}
		}
	})
}

func rawStrings(rs []json.RawMessage) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}
