package proxy

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"testing"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/policy"
)

// A grant limited to actors is usable only by the listed proxy clients, as
// authenticated by proxy_auth; a proxy that does not authenticate clients
// cannot satisfy the rule and refuses the grant (fail closed). The audit
// actor of a proxy without client authentication is its identity, which is
// never taken for a client name.

func TestActorRuleThroughTheProxy(t *testing.T) {
	clients := []AuthClient{
		{Name: "billing", Digest: sha256.Sum256([]byte("billing-pass"))},
		{Name: "search", Digest: sha256.Sum256([]byte("search-token"))},
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	billingOnly := policy.Spec{Destinations: []string{"api.example.test"}, Actors: []string{"billing"}}
	tests := []struct {
		name    string
		clients []AuthClient
		auth    string
		spec    policy.Spec
		url     string
		rule    string // "" when allowed
	}{
		{"listed client, https", clients, basic("billing", "billing-pass"), billingOnly, "https://api.example.test/v1/x", ""},
		{"listed client, plain http upgraded", clients, basic("billing", "billing-pass"), billingOnly, "http://api.example.test/v1/x", ""},
		{"another client, https", clients, "Bearer search-token", billingOnly, "https://api.example.test/v1/x", policy.RuleActor},
		{"another client, plain http", clients, basic("search", "search-token"), billingOnly, "http://api.example.test/v1/x", policy.RuleActor},
		{"no client authentication", nil, "", billingOnly, "https://api.example.test/v1/x", policy.RuleActor},
		{"no client authentication, a claimed name", nil, basic("billing", "anything"), billingOnly, "https://api.example.test/v1/x", policy.RuleActor},
		// The proxy's identity ("test") is the audit actor without client
		// authentication; it must not satisfy an actors rule naming it.
		{"no client authentication, the identity listed", nil, "", policy.Spec{Destinations: []string{"api.example.test"}, Actors: []string{"test"}},
			"https://api.example.test/v1/x", policy.RuleActor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Clients = tt.clients })
			up := e.tlsUpstream("api.example.test", nil)
			e.addPolicyGrant(grantA, tt.spec, "", nil)
			c := e.client()
			tr := c.Transport.(*http.Transport)
			h := http.Header{"X-Alter-Grant": {grantA}}
			if tt.auth != "" {
				h.Set("Proxy-Authorization", tt.auth)
				tr.ProxyConnectHeader = http.Header{"Proxy-Authorization": {tt.auth}}
			}
			req, _ := http.NewRequest("GET", tt.url, nil)
			req.Header = h
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			rec := e.waitAudit(1)[0]
			if tt.rule == "" {
				if resp.StatusCode != 200 || up.hits.Load() != 1 || rec.Decision != audit.DecisionAllow || rec.Actor != "billing" {
					t.Fatalf("status %d, hits %d, audit %+v: %s", resp.StatusCode, up.hits.Load(), rec, body)
				}
				if v := decodeView(t, body); v.Headers["Authorization"][0] != "Bearer "+sentinel || v.Headers["Proxy-Authorization"] != nil {
					t.Fatalf("upstream saw %v", v.Headers)
				}
				return
			}
			e.assertNoLeak(string(body), "response body")
			if rule := denied(t, resp, body); rule != tt.rule {
				t.Fatalf("rule = %q, want %q", rule, tt.rule)
			}
			if up.bytes.Load() != 0 || up.hits.Load() != 0 {
				t.Fatalf("a denied request sent %d bytes upstream", up.bytes.Load())
			}
			if rec.Decision != audit.DecisionDeny || rec.Rule != policy.RuleActor || rec.ErrorCode != CodePolicyDenied {
				t.Fatalf("audit record = %+v", rec)
			}
			e.checkLogsAndAudit()
		})
	}
}

// TestActorRuleOfAClone: a clone limited to one client of its parent's, and
// a parent limited later, through the proxy.
func TestActorRuleOfAClone(t *testing.T) {
	clients := []AuthClient{
		{Name: "billing", Digest: sha256.Sum256([]byte("billing-pass"))},
		{Name: "search", Digest: sha256.Sum256([]byte("search-token"))},
	}
	parentSpec := policy.Spec{Destinations: []string{"api.example.test"}, Actors: []string{"billing", "search"}}
	childSpec := policy.Spec{Destinations: []string{"api.example.test"}, Actors: []string{"search"}}
	tests := []struct {
		name   string
		child  policy.Spec
		parent policy.Spec
		auth   string
		rule   string
	}{
		{"clone's client", childSpec, parentSpec, "Bearer search-token", ""},
		{"parent's other client is refused by the clone", childSpec, parentSpec, "Bearer billing-pass", policy.RuleActor},
		{"clone without actors bound by its parent's", policy.Spec{Destinations: []string{"api.example.test"}},
			policy.Spec{Destinations: []string{"api.example.test"}, Actors: []string{"billing"}}, "Bearer search-token", policy.RuleActor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Clients = clients })
			up := e.tlsUpstream("api.example.test", nil)
			e.addPolicyGrant(grantB, tt.child, grantA, &tt.parent)
			resp, body := e.do("GET", "http://api.example.test/v1/x", http.Header{"X-Alter-Grant": {grantB}, "Proxy-Authorization": {tt.auth}})
			rec := e.waitAudit(1)[0]
			if tt.rule == "" {
				if resp.StatusCode != 200 || up.hits.Load() != 1 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			if rule := denied(t, resp, body); rule != tt.rule || rec.Rule != tt.rule {
				t.Fatalf("rule = %q (audit %q), want %q", rule, rec.Rule, tt.rule)
			}
			if up.bytes.Load() != 0 {
				t.Fatal("a denied request reached the upstream")
			}
		})
	}
}
