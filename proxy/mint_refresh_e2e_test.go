package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/alter-sidecar/alter/internal/testclock"
	"github.com/alter-sidecar/alter/internal/testkeys"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
)

// xeroStandIn is identity.xero.com: one valid refresh token at a time,
// rotated on every use, client authentication in the Basic header; and
// api.xero.com, which takes only the access token issued last.
type xeroStandIn struct {
	mu       sync.Mutex
	refresh  string
	access   string
	issued   []string
	requests atomic.Int64
	gate     chan struct{} // when set, token requests wait for it
	arrived  chan struct{}
}

func (x *xeroStandIn) token(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.requests.Add(1)
		if x.gate != nil {
			x.arrived <- struct{}{}
			<-x.gate
		}
		id, secret, ok := r.BasicAuth()
		_ = r.ParseForm()
		if r.URL.Path != "/connect/token" || !ok || id != "xero-client" || secret != sentinel+"-xero-secret" || r.PostForm.Get("grant_type") != "refresh_token" {
			t.Errorf("token request %s", r.URL.Path)
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("refresh_token") != x.refresh {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token ` + r.PostForm.Get("refresh_token") + ` is unknown"}`))
			return
		}
		n := len(x.issued) + 1
		x.refresh = sentinel + "-rt-" + strings.Repeat("r", n)
		x.access = "xeroaccess-" + strings.Repeat("a", n)
		x.issued = append(x.issued, x.access, x.refresh)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": x.access, "expires_in": 1800, "refresh_token": x.refresh, "token_type": "Bearer"})
	})
}

func (x *xeroStandIn) api() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.mu.Lock()
		ok := x.access != "" && r.Header.Get("Authorization") == "Bearer "+x.access
		x.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"Invoices":[]}`))
	})
}

// TestRefreshTokenGrantThroughProxy: the xero template on the file store.
// A rotated refresh token is in the file when a new proxy starts on it; at
// expiry 50 concurrent requests cause one refresh; a revoked refresh token
// gives 502 credential_unavailable (refresh_token_rejected). No secret or
// token is in an answer, log line, audit record or metric.
func TestRefreshTokenGrantThroughProxy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grants.json")
	keys := testkeys.Fixed(3)
	store, err := secretstore.OpenFile(path, keys)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := providers.Catalog().Get("xero")
	built, err := p.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	x := &xeroStandIn{refresh: sentinel + "-rt-original"}
	g, err := store.Add(context.Background(), secretstore.NewSecret{Spec: built.Spec, Provider: "xero",
		Fields: map[string]string{"client_id": "xero-client", "client_secret": sentinel + "-xero-secret", "refresh_token": x.refresh},
		Policy: policy.Spec{Destinations: built.Destinations}})
	if err != nil {
		t.Fatal(err)
	}
	clock := testclock.New()
	var reg *prometheus.Registry // the running proxy's metrics
	start := func(s *secretstore.FileStore) *env {
		reg = prometheus.NewRegistry()
		m, err := NewMetrics(reg, MetricSources{})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, func(o *Options) { o.Store, o.Now, o.Metrics = s, clock.Now, m })
		e.tlsUpstream("identity.xero.com", x.token(t))
		e.tlsUpstream("api.xero.com", x.api())
		return e
	}
	h := http.Header{"X-Alter-Grant": {g.ID}}
	var seen []string
	get := func(e *env) int {
		resp, body := e.do("GET", "https://api.xero.com/api.xro/2.0/Invoices", h)
		seen = append(seen, string(body))
		for k, vs := range resp.Header {
			seen = append(seen, k+": "+strings.Join(vs, ","))
		}
		return resp.StatusCode
	}

	e1 := start(store)
	for i := range 2 {
		if code := get(e1); code != 200 {
			t.Fatalf("first proxy, request %d: %d", i, code)
		}
	}
	if x.requests.Load() != 1 {
		t.Fatalf("first proxy: %d token requests for two requests", x.requests.Load())
	}
	leakCheck := func(e *env) {
		e.checkLogsAndAudit()
		var buf bytes.Buffer
		families, _ := reg.Gather()
		for _, f := range families {
			_, _ = expfmt.MetricFamilyToText(&buf, f)
		}
		x.mu.Lock()
		secrets := append([]string{sentinel}, x.issued...)
		x.mu.Unlock()
		for _, entry := range e.logs.All() {
			js, _ := json.Marshal(entry.ContextMap())
			seen = append(seen, entry.Message+string(js))
		}
		for _, r := range e.audit.Records() {
			js, _ := json.Marshal(r)
			seen = append(seen, string(js))
		}
		for _, s := range append(seen, buf.String()) {
			for _, secret := range secrets {
				if strings.Contains(s, secret) {
					t.Fatalf("a secret or token is visible: %s", s)
				}
			}
		}
	}
	leakCheck(e1)

	// A restarted proxy on a new store instance reads the rotated token.
	store2, err := secretstore.OpenFile(path, keys)
	if err != nil {
		t.Fatal(err)
	}
	e2 := start(store2)
	if get(e2) != 200 || x.requests.Load() != 2 {
		t.Fatalf("after restart: %d token requests", x.requests.Load())
	}

	// At expiry, 50 concurrent requests: one refresh.
	clock.Advance(time.Hour)
	x.gate, x.arrived = make(chan struct{}), make(chan struct{}, 100)
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e2.client().Do(mustRequest(t, "https://api.xero.com/api.xro/2.0/Invoices", h))
			if err == nil {
				codes[i] = resp.StatusCode
				_ = resp.Body.Close()
			}
		}()
	}
	<-x.arrived
	close(x.gate)
	wg.Wait()
	x.gate = nil
	if n := x.requests.Load(); n != 3 {
		t.Fatalf("%d token requests after expiry with 50 waiting, want one more (3)", n)
	}
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d: %d", i, c)
		}
	}

	// The token endpoint forgets the refresh token: 502, the reason, nothing forwarded.
	x.mu.Lock()
	x.refresh = "revoked"
	x.mu.Unlock()
	clock.Advance(time.Hour)
	resp, body := e2.do("GET", "https://api.xero.com/api.xro/2.0/Invoices", h)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(HeaderError) != CodeCredentialUnavailable || !strings.Contains(string(body), `"reason":"refresh_token_rejected"`) {
		t.Fatalf("revoked refresh token: %d %s", resp.StatusCode, body)
	}
	seen = append(seen, string(body))
	found := false
	for _, r := range e2.waitAudit(52) {
		if r.RequestID == resp.Header.Get(HeaderRequestID) {
			found = r.Rule == "refresh_token_rejected" && r.ErrorCode == CodeCredentialUnavailable && r.Decision == "deny"
		}
	}
	if !found {
		t.Fatal("no audit record of the refused request with its reason")
	}
	leakCheck(e2)
}

func mustRequest(t *testing.T, u string, h http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	return req
}
