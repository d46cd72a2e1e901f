package proxy

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// End to end through the proxy for each policy rule: the client gets 403
// policy_denied naming the rule, the upstream gets no byte, and the audit
// record names the rule. The clock is the proxy's Options.Now.

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func withClock(c *testClock) envOption { return func(o *Options) { o.Now = c.Now } }

// addPolicyGrant stores a bearer grant whose policy is spec, and, for a
// clone, the parent's spec too: the proxy then sees what the file store
// hands out for a clone, its policy AND its parent's.
func (e *env) addPolicyGrant(id string, spec policy.Spec, parent string, parentSpec *policy.Spec) {
	e.t.Helper()
	pol, err := policy.Compile(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	if parentSpec != nil {
		pp, err := policy.Compile(*parentSpec)
		if err != nil {
			e.t.Fatal(err)
		}
		pol = policy.All(pol, pp)
	}
	in, err := inject.Compile(bearer)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	chain := []string{id}
	if parentSpec != nil {
		chain = append(chain, parent)
	}
	e.store.grants[id] = &secretstore.Resolved{
		Grant:  secretstore.Grant{ID: id, Name: "policy-" + id[:4], Parent: parent, Policy: spec},
		Secret: secretstore.SecretInfo{Spec: bearer}, Policy: pol, Chain: chain, Injector: in, Fields: inject.Fields{"token": sentinel},
	}
}

// denied checks a policy_denied answer and returns its rule.
func denied(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("status %d, body is not our error: %s", resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusForbidden || eb.Error != CodePolicyDenied || resp.Header.Get(HeaderError) != CodePolicyDenied {
		t.Fatalf("status %d %s, want 403 policy_denied", resp.StatusCode, body)
	}
	return eb.Rule
}

func TestPolicyRulesThroughTheProxy(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Wednesday 3 June 2026, in Berlin.
	open := time.Date(2026, 6, 3, 9, 0, 0, 0, berlin)
	closes := time.Date(2026, 6, 3, 17, 0, 0, 0, berlin)
	spec := func(edit func(*policy.Spec)) policy.Spec {
		s := policy.Spec{Destinations: []string{"api.example.test"}}
		edit(&s)
		return s
	}
	methods := spec(func(s *policy.Spec) { s.Methods = []string{"GET"} })
	paths := spec(func(s *policy.Spec) { s.PathPrefixes = []string{"/v1/charges"} })
	window := spec(func(s *policy.Spec) { s.Windows = []string{"Mon-Fri 09:00-17:00 Europe/Berlin"} })
	loopback := spec(func(s *policy.Spec) { s.SourceCIDRs = []string{"127.0.0.0/8", "::1/128"} })
	elsewhere := spec(func(s *policy.Spec) { s.SourceCIDRs = []string{"10.0.0.0/8"} })
	tests := []struct {
		name   string
		spec   policy.Spec
		method string
		url    string
		header http.Header
		now    time.Time
		rule   string // "" when allowed
	}{
		{"method allowed", methods, "GET", "https://api.example.test/x", nil, open, ""},
		{"method allowed, other case", methods, "get", "https://api.example.test/x", nil, open, ""},
		{"method denied", methods, "DELETE", "https://api.example.test/x", nil, open, policy.RuleMethod},
		{"path allowed", paths, "GET", "https://api.example.test/v1/charges/ch_1", nil, open, ""},
		{"path on plain http, upgraded", paths, "GET", "http://api.example.test/v1/charges", nil, open, ""},
		{"path not on a segment boundary", paths, "GET", "https://api.example.test/v1/chargesX", nil, open, policy.RulePath},
		{"path traversal", paths, "GET", "https://api.example.test/v1/charges/../admin", nil, open, policy.RulePath},
		{"path traversal encoded", paths, "GET", "https://api.example.test/v1/charges/%2e%2e/admin", nil, open, policy.RulePath},
		{"path traversal double encoded", paths, "GET", "https://api.example.test/v1/charges/%252e%252e/admin", nil, open, policy.RulePath},
		{"path traversal with parameter", paths, "GET", "https://api.example.test/v1/charges/..;/admin", nil, open, policy.RulePath},
		{"path with empty segment", paths, "GET", "https://api.example.test/v1//charges", nil, open, policy.RulePath},
		{"path traversal over plain http", paths, "GET", "http://api.example.test/v1/charges/../admin", nil, open, policy.RulePath},
		{"window start inclusive", window, "GET", "https://api.example.test/", nil, open, ""},
		{"window one second before start", window, "GET", "https://api.example.test/", nil, open.Add(-time.Second), policy.RuleTimeWindow},
		{"window one second before end", window, "GET", "https://api.example.test/", nil, closes.Add(-time.Second), ""},
		{"window end exclusive", window, "GET", "https://api.example.test/", nil, closes, policy.RuleTimeWindow},
		{"source ip: the tcp peer is allowed", loopback, "GET", "https://api.example.test/", nil, open, ""},
		{"source ip: the tcp peer is not allowed", elsewhere, "GET", "https://api.example.test/", nil, open, policy.RuleSourceIP},
		{"source ip: X-Forwarded-For is ignored", elsewhere, "GET", "https://api.example.test/",
			http.Header{"X-Forwarded-For": {"10.1.2.3"}, "X-Real-Ip": {"10.1.2.3"}, "Forwarded": {"for=10.1.2.3"}}, open, policy.RuleSourceIP},
		{"source ip: X-Forwarded-For cannot deny either", loopback, "GET", "https://api.example.test/",
			http.Header{"X-Forwarded-For": {"192.0.2.1"}}, open, ""},
		{"source ip over plain http", elsewhere, "GET", "http://api.example.test/", nil, open, policy.RuleSourceIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &testClock{t: tt.now}
			e := newEnv(t, withClock(clock))
			up := e.tlsUpstream("api.example.test", nil)
			e.addPolicyGrant(grantA, tt.spec, "", nil)
			h := http.Header{"X-Alter-Grant": {grantA}}
			for k, v := range tt.header {
				h[k] = v
			}
			resp, body := e.do(tt.method, tt.url, h)
			rec := e.waitAudit(1)[0]
			if tt.rule == "" {
				if resp.StatusCode != 200 || up.hits.Load() != 1 || rec.Decision != audit.DecisionAllow {
					t.Fatalf("status %d, hits %d, audit %+v: %s", resp.StatusCode, up.hits.Load(), rec, body)
				}
				if v := decodeView(t, body); v.Headers["Authorization"][0] != "Bearer "+sentinel {
					t.Fatalf("credential not injected: %v", v.Headers)
				}
				return
			}
			if rule := denied(t, resp, body); rule != tt.rule {
				t.Fatalf("rule = %q, want %q", rule, tt.rule)
			}
			if up.bytes.Load() != 0 {
				t.Fatalf("a denied request sent %d bytes upstream", up.bytes.Load())
			}
			if rec.Decision != audit.DecisionDeny || rec.Rule != tt.rule || rec.ErrorCode != CodePolicyDenied {
				t.Fatalf("audit record = %+v", rec)
			}
			e.checkLogsAndAudit()
		})
	}
}

// TestSourceIPOfIPv6Peers: a client connecting over IPv6, and over IPv4 to
// a dual-stack listener (where the peer may appear IPv4-mapped), is matched
// on its real address.
func TestSourceIPOfIPv6Peers(t *testing.T) {
	tests := []struct {
		name, listen, dial string
		cidrs              []string
		rule               string
	}{
		{"ipv6 peer allowed", "[::1]:0", "", []string{"::1/128"}, ""},
		{"ipv6 peer not in an ipv4 cidr", "[::1]:0", "", []string{"127.0.0.0/8"}, policy.RuleSourceIP},
		{"ipv6 peer not in another ipv6 cidr", "[::1]:0", "", []string{"2001:db8::/32"}, policy.RuleSourceIP},
		{"ipv4 peer on a dual-stack listener matches an ipv4 cidr", "[::]:0", "127.0.0.1", []string{"127.0.0.1/32"}, ""},
		{"ipv4 peer on a dual-stack listener is not ::1", "[::]:0", "127.0.0.1", []string{"::1/128"}, policy.RuleSourceIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", tt.listen)
			if err != nil {
				t.Skipf("cannot listen on %s: %v", tt.listen, err)
			}
			e := newEnv(t)
			up := e.tlsUpstream("api.example.test", nil)
			e.addPolicyGrant(grantA, policy.Spec{Destinations: []string{"api.example.test"}, SourceCIDRs: tt.cidrs}, "", nil)
			srv := startTestServer(t, NewServer(e.proxy), ln)
			t.Cleanup(srv.Close)
			addr := ln.Addr().(*net.TCPAddr)
			host := addr.IP.String()
			if tt.dial != "" {
				host = tt.dial
			}
			proxyURL := &url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(addr.Port))}
			client := &http.Client{Transport: &http.Transport{
				Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: e.caPool}, DisableKeepAlives: true,
			}, Timeout: 20 * time.Second}
			req, _ := http.NewRequest("GET", "https://api.example.test/", nil)
			req.Header.Set("X-Alter-Grant", grantA)
			req.Header.Set("X-Forwarded-For", "::1, 127.0.0.1, 2001:db8::1") // claims every address; ignored
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.rule == "" {
				if resp.StatusCode != 200 || up.hits.Load() != 1 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			if rule := denied(t, resp, body); rule != tt.rule {
				t.Fatalf("rule = %q, want %q", rule, tt.rule)
			}
			if up.bytes.Load() != 0 {
				t.Fatal("a denied request reached the upstream")
			}
		})
	}
}

// TestCloneRulesThroughTheProxy: a clone's effective policy is its own AND
// its parent's, and the audit record names the parent.
func TestCloneRulesThroughTheProxy(t *testing.T) {
	parentSpec := policy.Spec{Destinations: []string{"api.example.test"}, Methods: []string{"GET", "POST"}, PathPrefixes: []string{"/v1"}}
	childSpec := policy.Spec{Destinations: []string{"api.example.test"}, Methods: []string{"GET"}, PathPrefixes: []string{"/v1/charges"}}
	// A parent narrowed after the clone was made: its rule binds the clone.
	narrowed := policy.Spec{Destinations: []string{"api.example.test"}, Methods: []string{"POST"}}
	tests := []struct {
		name   string
		parent policy.Spec
		method string
		path   string
		rule   string
	}{
		{"allowed by both", parentSpec, "GET", "/v1/charges/ch_1", ""},
		{"clone denies a method the parent allows", parentSpec, "POST", "/v1/charges", policy.RuleMethod},
		{"clone denies a path the parent allows", parentSpec, "GET", "/v1/refunds", policy.RulePath},
		{"narrowed parent denies what the clone allows", narrowed, "GET", "/v1/charges", policy.RuleMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			up := e.tlsUpstream("api.example.test", nil)
			e.addPolicyGrant(grantB, childSpec, grantA, &tt.parent)
			resp, body := e.do(tt.method, "https://api.example.test"+tt.path, http.Header{"X-Alter-Grant": {grantB}})
			rec := e.waitAudit(1)[0]
			if rec.GrantID != grantB || rec.ParentGrantID != grantA {
				t.Fatalf("audit record does not name the clone and its parent: %+v", rec)
			}
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

// fileStoreEnv is a proxy over a real file store, with a settable clock.
func fileStoreEnv(t *testing.T) (*env, *secretstore.FileStore, *testClock) {
	t.Helper()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "master.key")
	if err := secretstore.GenerateKeyFile(keyPath); err != nil {
		t.Fatal(err)
	}
	keys, err := secretstore.LoadKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	store, err := secretstore.OpenFile(filepath.Join(dir, "grants.json"), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clock := &testClock{t: time.Now()}
	e := newEnv(t, withClock(clock), func(o *Options) { o.Store = store })
	return e, store, clock
}

// TestClonesOverTheFileStore: clones made by the store, used through the
// proxy: expiry to the second, parent narrowing, rotation and revocation.
func TestClonesOverTheFileStore(t *testing.T) {
	e, store, clock := fileStoreEnv(t)
	up := e.tlsUpstream("api.example.test", nil)
	ctx := context.Background()
	parent, err := store.Add(ctx, secretstore.NewSecret{
		Spec: bearer, Fields: inject.Fields{"token": sentinel + "-1"}, Name: "parent",
		Policy: policy.Spec{Destinations: []string{"api.example.test"}, Methods: []string{"GET", "POST"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	clone, err := store.Clone(ctx, parent.ID, secretstore.CloneRequest{ExpiresAt: &expires, Policy: policy.Spec{Methods: []string{"GET"}}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(method, id string) (*http.Response, []byte) {
		t.Helper()
		return e.do(method, "https://api.example.test/v1/x", http.Header{"X-Alter-Grant": {id}})
	}
	token := func(body []byte) string {
		t.Helper()
		return decodeView(t, body).Headers["Authorization"][0]
	}
	unavailable := func(resp *http.Response, body []byte) {
		t.Helper()
		if resp.StatusCode != 403 || resp.Header.Get(HeaderError) != CodeGrantUnavailable {
			t.Fatalf("status %d: %s, want grant_unavailable", resp.StatusCode, body)
		}
	}

	t.Run("clone uses the parent's secret and narrows it", func(t *testing.T) {
		resp, body := get("GET", clone.ID)
		if resp.StatusCode != 200 || token(body) != "Bearer "+sentinel+"-1" {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if resp, body := get("POST", clone.ID); denied(t, resp, body) != policy.RuleMethod {
			t.Fatal("the clone allowed POST")
		}
		if resp, body := get("POST", parent.ID); resp.StatusCode != 200 {
			t.Fatalf("the parent refused POST: %s", body)
		}
	})

	t.Run("expiry to the second", func(t *testing.T) {
		clock.Set(expires.Add(-time.Second))
		if resp, body := get("GET", clone.ID); resp.StatusCode != 200 {
			t.Fatalf("one second before expiry: %d %s", resp.StatusCode, body)
		}
		clock.Set(expires)
		resp, body := get("GET", clone.ID)
		unavailable(resp, body)
		_, unknown := get("GET", grantC)
		if string(body) != string(unknown) {
			t.Fatalf("an expired clone answers differently from an unknown grant: %s vs %s", body, unknown)
		}
		clock.Set(expires.Add(time.Second))
		unavailable(get("GET", clone.ID))
		if resp, _ := get("GET", parent.ID); resp.StatusCode != 200 {
			t.Fatal("the parent expired with its clone")
		}
		clock.Set(time.Now())
	})

	t.Run("parent narrowed later binds the clone", func(t *testing.T) {
		if err := store.SetPolicy(ctx, parent.ID, policy.Spec{Destinations: []string{"api.example.test"}, Methods: []string{"POST"}}); err != nil {
			t.Fatal(err)
		}
		if resp, body := get("GET", clone.ID); denied(t, resp, body) != policy.RuleMethod {
			t.Fatal("the clone still allows GET after the parent was narrowed to POST")
		}
		if err := store.SetPolicy(ctx, parent.ID, policy.Spec{Destinations: []string{"api.example.test"}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("rotating the parent rotates the clone", func(t *testing.T) {
		if err := store.Rotate(ctx, parent.ID, inject.Fields{"token": sentinel + "-2"}); err != nil {
			t.Fatal(err)
		}
		resp, body := get("GET", clone.ID)
		if resp.StatusCode != 200 || token(body) != "Bearer "+sentinel+"-2" {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})

	t.Run("revoking the parent revokes the clone", func(t *testing.T) {
		if err := store.Revoke(ctx, parent.ID); err != nil {
			t.Fatal(err)
		}
		unavailable(get("GET", clone.ID))
	})

	// Records of resolved uses name the parent. A grant_unavailable record
	// cannot: the store tells the proxy nothing about a dead grant.
	var cloneRecs int
	for _, r := range e.audit.Records() {
		if r.GrantID == clone.ID && r.ErrorCode != CodeGrantUnavailable {
			cloneRecs++
			if r.ParentGrantID != parent.ID {
				t.Fatalf("audit record of the clone without its parent: %+v", r)
			}
		}
	}
	if cloneRecs == 0 || up.hits.Load() == 0 {
		t.Fatal("no audit records for the clone")
	}
	e.checkLogsAndAudit()
	if _, err := store.Resolve(ctx, clone.ID, time.Now()); !errors.Is(err, secretstore.ErrGrantUnavailable) {
		t.Fatalf("Resolve after revocation: %v", err)
	}
}
