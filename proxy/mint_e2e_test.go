package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/alter-sidecar/alter/audit"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testclock"
	"github.com/alter-sidecar/alter/internal/testnet"
	"github.com/alter-sidecar/alter/providers"
)

// TestMintedCredentialEndToEnd: a client-credentials grant for Microsoft
// Graph, with both the token endpoint and the API on their real names
// (upstream.resolve). The first request mints, the next reuses, an expired
// token is refreshed, and a failing token endpoint gives 502
// credential_unavailable with nothing forwarded. Neither the client secret
// nor a minted token reaches the client, a log line or an audit record.
func TestMintedCredentialEndToEnd(t *testing.T) {
	clock := testclock.New()
	e := newEnv(t, func(o *Options) { o.Now = clock.Now })
	const clientSecret = sentinel + "-client-secret"
	var (
		tokenHits atomic.Int64
		failing   atomic.Bool
		mu        sync.Mutex
		current   string
		issued    []string
	)
	e.tlsUpstream("login.microsoftonline.com", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := tokenHits.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"` + clientSecret + `"}`))
			return
		}
		_ = r.ParseForm()
		if r.URL.Path != "/contoso.onmicrosoft.com/oauth2/v2.0/token" || r.PostForm.Get("grant_type") != "client_credentials" ||
			r.PostForm.Get("scope") != "https://graph.microsoft.com/.default" ||
			r.PostForm.Get("client_id") != "app-id" || r.PostForm.Get("client_secret") != clientSecret || r.Header.Get("Authorization") != "" {
			t.Errorf("token request %s %v", r.URL.Path, r.PostForm.Get("grant_type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		tok := "mintedtok-" + strings.Repeat(string(rune('a'+n)), 12)
		mu.Lock()
		current = tok
		issued = append(issued, tok)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599})
	}))
	api := &upstream{}
	e.tlsUpstream("graph.microsoft.com", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.hits.Add(1)
		mu.Lock()
		ok := current != "" && r.Header.Get("Authorization") == "Bearer "+current
		mu.Unlock()
		w.Header().Set("X-Echo", r.Header.Get("Authorization")) // an API that echoes the credential
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	// The spec is the microsoft_graph provider template's.
	p, err := providers.Catalog().Get("microsoft_graph")
	if err != nil {
		t.Fatal(err)
	}
	built, err := p.Build(map[string]string{"tenant": "contoso.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	spec := built.Spec
	const grant = "7d0c6f0e-4b38-4c6b-9a34-0d7e1e2f3a40"
	e.addGrant(grant, spec, inject.Fields{"client_id": "app-id", "client_secret": clientSecret}, "graph.microsoft.com")
	e.store.grants[grant].Secret.ID, e.store.grants[grant].Secret.Version = "secret-graph", 1

	h := http.Header{"X-Alter-Grant": {grant}}
	var bodies []string
	get := func() *http.Response {
		resp, body := e.do("GET", "https://graph.microsoft.com/v1.0/users", h)
		bodies = append(bodies, string(body))
		for k, vs := range resp.Header {
			bodies = append(bodies, k+": "+strings.Join(vs, ","))
		}
		return resp
	}
	for i := range 2 {
		if resp := get(); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d\n%s", i, resp.StatusCode, dumpLogs(e))
		}
	}
	if tokenHits.Load() != 1 {
		t.Fatalf("%d token requests for two API requests, want 1", tokenHits.Load())
	}
	clock.Advance(time.Hour)
	if resp := get(); resp.StatusCode != 200 || tokenHits.Load() != 2 {
		t.Fatalf("after expiry: %d, %d token requests", resp.StatusCode, tokenHits.Load())
	}

	failing.Store(true)
	clock.Advance(time.Hour)
	apiBefore := api.hits.Load()
	resp := get()
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(HeaderError) != CodeCredentialUnavailable {
		t.Fatalf("failing token endpoint: %d %s", resp.StatusCode, resp.Header.Get(HeaderError))
	}
	if !strings.Contains(bodies[len(bodies)-len(resp.Header)-1], `"reason":"token_endpoint_rejected"`) {
		t.Fatalf("body does not give the reason: %s", bodies[len(bodies)-len(resp.Header)-1])
	}
	if api.hits.Load() != apiBefore {
		t.Fatal("a request was forwarded without a token")
	}
	// Records are written as bodies close, not in request order: find the
	// refusal's.
	var last audit.Record
	for _, r := range e.waitAudit(4) {
		if r.ErrorCode == CodeCredentialUnavailable {
			last = r
		}
	}
	if last.ErrorCode != CodeCredentialUnavailable || last.Rule != "token_endpoint_rejected" || last.Decision != "deny" {
		t.Fatalf("audit record %+v", last)
	}

	// Nothing secret anywhere the client or an operator looks.
	e.checkLogsAndAudit()
	mu.Lock()
	secrets := append([]string{clientSecret, base64.StdEncoding.EncodeToString([]byte(clientSecret)), url.QueryEscape(clientSecret)}, issued...)
	mu.Unlock()
	var seen []string
	seen = append(seen, bodies...)
	for _, entry := range e.logs.All() {
		js, _ := json.Marshal(entry.ContextMap())
		seen = append(seen, entry.Message+string(js))
	}
	for _, r := range e.audit.Records() {
		js, _ := json.Marshal(r)
		seen = append(seen, string(js))
	}
	for _, s := range seen {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Fatalf("a secret or minted token is visible: %s", s)
			}
		}
	}
}

func dumpLogs(e *env) string {
	var b strings.Builder
	for _, entry := range e.logs.All() {
		js, _ := json.Marshal(entry.ContextMap())
		b.WriteString(entry.Message + string(js) + "\n")
	}
	return b.String()
}

// mintingStore is a store whose server mints (as secretstore/remote).
type mintingStore struct {
	*fakeStore
	calls atomic.Int64
}

func (s *mintingStore) MintToken(_ context.Context, grantID string) (string, time.Duration, error) {
	s.calls.Add(1)
	return "server-minted-" + grantID[:8], time.Hour, nil
}

// TestServerMintedCredential: with a store whose server keeps the secret
// and mints, the proxy injects the server's token (it has no fields) and
// asks once for two requests.
func TestServerMintedCredential(t *testing.T) {
	ms := &mintingStore{}
	e := newEnv(t, func(o *Options) {
		ms.fakeStore = o.Store.(*fakeStore)
		o.Store = ms
	})
	up := e.tlsUpstream("api.example.com", nil)
	spec := inject.Spec{Type: inject.TypeOAuth2ClientCredentials, Mint: &inject.MintSpec{TokenURL: "https://login.example.com/token"}}
	const grant = "5f2b7c1e-0a4d-4e8f-9b6a-3c2d1e0f9a8b"
	e.addGrant(grant, spec, inject.Fields{}, "api.example.com")
	for range 2 {
		resp, body := e.do("GET", "https://api.example.com/v1", http.Header{"X-Alter-Grant": {grant}})
		if resp.StatusCode != 200 || decodeView(t, body).Headers["Authorization"][0] != "Bearer server-minted-5f2b7c1e" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	if ms.calls.Load() != 1 || up.hits.Load() != 2 {
		t.Fatalf("%d calls to the server for two requests", ms.calls.Load())
	}
}

// TestTokenEndpointSSRF: a token endpoint whose address is the loopback
// (not pinned by upstream.resolve) is refused by the guarded dialer like
// any grant upstream: 502 credential_unavailable, and it receives nothing,
// so no client secret reaches it.
func TestTokenEndpointSSRF(t *testing.T) {
	e := newEnv(t)
	var received atomic.Int64 // bytes: a ClientHello would count, so 0 means never dialled
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	internal.Listener = testnet.CountingListener{Listener: internal.Listener, N: &received}
	internal.StartTLS()
	defer internal.Close()
	up := e.tlsUpstream("api.example.com", nil)
	spec := inject.Spec{Type: inject.TypeOAuth2ClientCredentials, Mint: &inject.MintSpec{TokenURL: internal.URL + "/token"}}
	const grant = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
	e.addGrant(grant, spec, inject.Fields{"client_id": "cid", "client_secret": sentinel}, "api.example.com")
	resp, body := e.do("GET", "https://api.example.com/", http.Header{"X-Alter-Grant": {grant}})
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `"reason":"token_endpoint_unreachable"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if received.Load() != 0 || up.hits.Load() != 0 {
		t.Fatalf("the internal token endpoint got %d bytes, the API %d requests", received.Load(), up.hits.Load())
	}
	e.checkLogsAndAudit()
}
