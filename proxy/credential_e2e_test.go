package proxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
)

// fakeProfiles is an in-memory ProfileResolver.
type fakeProfiles struct {
	mu      sync.Mutex
	byToken map[profile.Digest]*profile.Binding
	byName  map[string]*profile.Binding
	revoked map[string]bool
}

func (f *fakeProfiles) ResolveProfileToken(_ context.Context, d profile.Digest, _ time.Time) (*profile.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.byToken[d]
	if b == nil || f.revoked[b.Name] {
		return nil, secretstore.ErrGrantUnavailable
	}
	return b, nil
}

func (f *fakeProfiles) ResolveProfileName(_ context.Context, name string, _ time.Time) (*profile.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.byName[name]
	if b == nil || f.revoked[name] {
		return nil, secretstore.ErrGrantUnavailable
	}
	return b, nil
}

// add makes a profile of grants (id -> destinations) and returns its token.
func (f *fakeProfiles) add(t *testing.T, name string, deny bool, grants map[string][]string) string {
	t.Helper()
	var members []profile.Member
	for id, dests := range grants {
		m := profile.Member{GrantID: id}
		for _, s := range dests {
			d, err := policy.ParseDestination(s)
			if err != nil {
				t.Fatal(err)
			}
			m.Destinations = append(m.Destinations, d)
		}
		members = append(members, m)
	}
	tok, d, err := profile.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b := profile.NewBinding(name, deny, members)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byToken[d], f.byName[name] = b, b
	return tok.Reveal()
}

const (
	grantGH    = "11111111-1111-4111-8111-111111111111" // api.github.com
	grantGH2   = "22222222-2222-4222-8222-222222222222" // api.github.com too, not in a profile
	grantSQS   = "33333333-3333-4333-8333-333333333333" // *.us-east-1.amazonaws.com
	grantThird = "44444444-4444-4444-8444-444444444444" // third.example.test
	grantNone  = "55555555-5555-4555-8555-555555555555" // in no store
)

// credEnv is a proxy with grants for three hosts and two profiles: "open"
// (GitHub and SQS, unmatched targets pass through) and "fenced" (GitHub
// only, unmatched targets refused).
type credEnv struct {
	*env
	profiles            *fakeProfiles
	gh, sqs, third      *upstream
	plain               *upstream // http://plain.example.test, no grant
	openTok, fencedTok  string
	revokedTok, unknown string
	withRevokedTok      string
}

func newCredEnv(t *testing.T, opts ...envOption) *credEnv {
	fp := &fakeProfiles{byToken: map[profile.Digest]*profile.Binding{}, byName: map[string]*profile.Binding{}, revoked: map[string]bool{}}
	e := &credEnv{env: newEnv(t, append([]envOption{func(o *Options) { o.Profiles = fp }}, opts...)...), profiles: fp}
	e.gh = e.tlsUpstream("api.github.com", nil)
	e.sqs = e.tlsUpstream("sqs.us-east-1.amazonaws.com", nil)
	e.third = e.tlsUpstream("third.example.test", nil)
	e.plain = e.plainUpstream("plain.example.test:80")
	bearer := inject.Spec{Type: inject.TypeBearer}
	e.addGrant(grantGH, bearer, inject.Fields{"token": sentinel + "-gh"}, "api.github.com")
	e.addGrant(grantGH2, bearer, inject.Fields{"token": sentinel + "-gh2"}, "api.github.com")
	e.addGrant(grantSQS, bearer, inject.Fields{"token": sentinel + "-sqs"}, "*.us-east-1.amazonaws.com")
	e.addGrant(grantThird, bearer, inject.Fields{"token": sentinel + "-third"}, "third.example.test")
	e.openTok = fp.add(t, "open", false, map[string][]string{grantGH: {"api.github.com"}, grantSQS: {"*.us-east-1.amazonaws.com"}})
	e.fencedTok = fp.add(t, "fenced", true, map[string][]string{grantGH: {"api.github.com"}})
	e.revokedTok = fp.add(t, "gone", false, map[string][]string{grantGH: {"api.github.com"}})
	fp.revoked["gone"] = true
	// grantNone is in no store: for the profile it is a member the store
	// answers grant_unavailable for, as for a revoked grant.
	e.withRevokedTok = fp.add(t, "with-revoked", false, map[string][]string{grantNone: {"third.example.test"}})
	unknown, _, _ := profile.NewToken()
	e.unknown = unknown.Reveal()
	t.Cleanup(e.checkLogsAndAuditFor)
	return e
}

// checkLogsAndAuditFor asserts no secret and no profile token is in a log
// entry or an audit record.
func (e *credEnv) checkLogsAndAuditFor() {
	e.checkLogsAndAudit()
	var all []string
	for _, entry := range e.logs.All() {
		js, _ := json.Marshal(entry.ContextMap())
		all = append(all, entry.Message+string(js))
	}
	for _, r := range e.audit.Records() {
		js, _ := json.Marshal(r)
		all = append(all, string(js))
	}
	for _, s := range all {
		for _, tok := range []string{e.openTok, e.fencedTok, e.revokedTok, e.unknown, e.withRevokedTok} {
			if strings.Contains(s, tok[len(profile.TokenPrefix):]) {
				e.t.Fatalf("a profile token is in a log entry or audit record: %s", s)
			}
		}
	}
}

// clientAs is e.client() with the proxy URL's password set to secret.
func (e *credEnv) clientAs(secret string) *http.Client {
	c := e.client()
	u, _ := url.Parse(e.proxySrv.URL)
	u.User = url.UserPassword("alter", secret)
	c.Transport.(*http.Transport).Proxy = http.ProxyURL(u)
	return c
}

// connectRaw sends a CONNECT with the given header lines and returns the
// answer's status and X-Alter-Error.
func (e *credEnv) connectRaw(t *testing.T, authority string, lines ...string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", authority, authority, strings.Join(append(lines, ""), "\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(HeaderError)
}

type credResult struct {
	status int
	code   string
	auth   string // the Authorization the upstream received ("" if none or no request)
	hit    *upstream
	id     string // the proxy's request id, when it answered the request itself
}

func (e *credEnv) upstreams() []*upstream { return []*upstream{e.gh, e.sqs, e.third, e.plain} }

// request sends one request through the proxy with c and reports where it
// went and with which credential.
func (e *credEnv) request(t *testing.T, c *http.Client, target string, header http.Header) credResult {
	t.Helper()
	before := map[*upstream]int64{}
	for _, u := range e.upstreams() {
		before[u] = u.bytes.Load()
	}
	req, _ := http.NewRequest("GET", target, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	var r credResult
	resp, err := c.Do(req)
	if err != nil {
		// A refused CONNECT: Go's transport reports the status only.
		r.status = -1
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.assertNoLeakUnlessEcho(string(body), resp)
		r.status, r.code, r.id = resp.StatusCode, resp.Header.Get(HeaderError), resp.Header.Get(HeaderRequestID)
		if r.code == "" && resp.StatusCode == 200 {
			v := decodeView(t, body)
			if v.Headers["Proxy-Authorization"] != nil {
				t.Fatalf("the upstream received Proxy-Authorization: %v", v.Headers["Proxy-Authorization"])
			}
			if a := v.Headers["Authorization"]; len(a) == 1 {
				r.auth = a[0]
			}
		}
	}
	for _, u := range e.upstreams() {
		if u.bytes.Load() != before[u] {
			if r.hit != nil {
				t.Fatalf("one request reached two upstreams")
			}
			r.hit = u
		}
	}
	return r
}

func (e *credEnv) assertNoLeakUnlessEcho(body string, resp *http.Response) {
	if resp.Header.Get(HeaderError) != "" || !strings.Contains(body, `"headers"`) {
		e.assertNoLeak(body, "response body")
	}
}

func TestProxyCredentials(t *testing.T) {
	e := newCredEnv(t)
	bearerOf := func(tag string) string { return "Bearer " + sentinel + "-" + tag }
	tests := []struct {
		name     string
		secret   string // the proxy URL's password; "" sends none
		target   string
		header   http.Header
		status   int // -1: the CONNECT was refused
		code     string
		hit      func() *upstream
		auth     string
		profile  string // the audit record's profile; checked when the request is a grant use
		grantRec string // the audit record's grant
	}{
		{"a grant id selects its grant, https", grantGH, "https://api.github.com/user", nil, 200, "", func() *upstream { return e.gh }, bearerOf("gh"), "", grantGH},
		{"a grant id selects its grant, plain http upgraded", grantGH, "http://api.github.com/user", nil, 200, "", func() *upstream { return e.gh }, bearerOf("gh"), "", grantGH},
		{"a grant id: another host passes through with nothing injected", grantGH, "http://plain.example.test/", nil, 200, "", func() *upstream { return e.plain }, "", "", ""},
		{"a profile token: the grant for the host", e.openTok, "https://sqs.us-east-1.amazonaws.com/", nil, 200, "", func() *upstream { return e.sqs }, bearerOf("sqs"), "open", grantSQS},
		{"a profile token: the other grant for the other host", e.openTok, "https://api.github.com/user", nil, 200, "", func() *upstream { return e.gh }, bearerOf("gh"), "open", grantGH},
		{"a profile token: an unmatched host passes through", e.openTok, "http://plain.example.test/", nil, 200, "", func() *upstream { return e.plain }, "", "", ""},
		{"a fencing profile: an unmatched plain request is refused", e.fencedTok, "http://plain.example.test/", nil, 403, "destination_not_allowed", nil, "", "fenced", ""},
		{"a fencing profile: an unmatched CONNECT is refused", e.fencedTok, "https://third.example.test/", nil, -1, "", nil, "", "fenced", ""},
		{"a fencing profile: its own host", e.fencedTok, "https://api.github.com/user", nil, 200, "", func() *upstream { return e.gh }, bearerOf("gh"), "fenced", grantGH},
		{"the header wins over the credentials' grant", e.openTok, "https://api.github.com/user", http.Header{"X-Alter-Grant": {grantGH2}}, 200, "", func() *upstream { return e.gh }, bearerOf("gh2"), "open", grantGH2},
		{"the header wins inside a fence", e.fencedTok, "https://api.github.com/user", http.Header{"X-Alter-Grant": {grantGH2}}, 200, "", func() *upstream { return e.gh }, bearerOf("gh2"), "fenced", grantGH2},
		{"the header cannot leave the fence", e.fencedTok, "http://third.example.test/", http.Header{"X-Alter-Grant": {grantThird}}, 403, "destination_not_allowed", nil, "", "fenced", grantThird},
		{"the header's grant keeps its own policy", grantGH, "https://api.github.com/user", http.Header{"X-Alter-Grant": {grantSQS}}, 403, CodePolicyDenied, nil, "", "", grantSQS},
		{"a header grant on an unmatched host with an open profile", e.openTok, "https://third.example.test/", http.Header{"X-Alter-Grant": {grantThird}}, 200, "", func() *upstream { return e.third }, bearerOf("third"), "open", grantThird},
		{"an unknown grant id, plain", grantNone, "http://plain.example.test/", nil, 403, CodeGrantUnavailable, nil, "", "", grantNone},
		{"an unknown grant id, CONNECT", grantNone, "https://api.github.com/user", nil, -1, "", nil, "", "", ""},
		{"an unknown token, plain", e.unknown, "http://plain.example.test/", nil, 403, CodeGrantUnavailable, nil, "", "", ""},
		{"an unknown token, CONNECT", e.unknown, "https://api.github.com/user", nil, -1, "", nil, "", "", ""},
		{"a revoked profile, plain", e.revokedTok, "http://api.github.com/user", nil, 403, CodeGrantUnavailable, nil, "", "", ""},
		{"a revoked profile, CONNECT", e.revokedTok, "https://api.github.com/user", nil, -1, "", nil, "", "", ""},
		{"a password that is neither is not read", "hunter2", "http://plain.example.test/", nil, 200, "", func() *upstream { return e.plain }, "", "", ""},
		{"a malformed token", "alt_p_short", "http://plain.example.test/", nil, 403, CodeGrantUnavailable, nil, "", "", ""},
		{"a malformed token, CONNECT", profile.TokenPrefix + strings.Repeat("A", 44), "https://api.github.com/user", nil, -1, "", nil, "", "", ""},
		{"a grant id in upper case is still the grant", strings.ToUpper(grantGH), "https://api.github.com/user", nil, 200, "", func() *upstream { return e.gh }, bearerOf("gh"), "", grantGH},
		// A grant id that belongs to a profile is a grant credential, not
		// the profile: it brings that grant only, and no fence.
		{"another profile's grant id as the password", grantSQS, "https://api.github.com/user", nil, 200, "", func() *upstream { return e.gh }, "", "", ""},
		{"no credentials: as before", "", "https://api.github.com/user", nil, 200, "", func() *upstream { return e.gh }, "", "", ""},
		{"a malformed header is refused, not overridden by the credentials", grantGH, "https://api.github.com/user", http.Header{"X-Alter-Grant": {"not-a-uuid"}}, 400, CodeBadRequest, nil, "", "", ""},
		{"two header grants are refused", e.openTok, "https://api.github.com/user", http.Header{"X-Alter-Grant": {grantGH, grantGH2}}, 400, CodeBadRequest, nil, "", "open", ""},
		// A profile whose grant is revoked: its host still selects that
		// grant, which answers grant_unavailable; nothing passes through.
		{"a profile's revoked grant", e.withRevokedTok, "https://third.example.test/", nil, 403, CodeGrantUnavailable, nil, "", "with-revoked", grantNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			if tt.secret != "" {
				c = e.clientAs(tt.secret)
			}
			n := len(e.audit.Records())
			r := e.request(t, c, tt.target, tt.header)
			if r.status != tt.status || r.code != tt.code {
				t.Fatalf("status %d %q, want %d %q", r.status, r.code, tt.status, tt.code)
			}
			var want *upstream
			if tt.hit != nil {
				want = tt.hit()
			}
			if r.hit != want {
				t.Fatalf("the request reached %v, want %v (nil: nothing dialled)", r.hit, want)
			}
			if r.auth != tt.auth {
				t.Fatalf("the upstream received Authorization %q, want %q", r.auth, tt.auth)
			}
			if tt.grantRec != "" || tt.profile != "" {
				// Records are written when an answer's body closes, so the
				// previous request's may land after n was taken: the record
				// is the one with this answer's request id (a refused
				// CONNECT has none: then the first new one that matches).
				rec := e.recordFor(t, n, r.id, func(rec audit.Record) bool {
					return r.id != "" || (rec.GrantID == tt.grantRec && rec.Profile == tt.profile)
				})
				if rec.GrantID != tt.grantRec || rec.Profile != tt.profile {
					t.Fatalf("audit grant %q profile %q, want %q %q", rec.GrantID, rec.Profile, tt.grantRec, tt.profile)
				}
			}
		})
	}
}

// TestProxyCredentialsOnConnect checks the CONNECT's own answer, which
// Go's client does not show, and what the tunnel's requests may do.
func TestProxyCredentialsOnConnect(t *testing.T) {
	e := newCredEnv(t, func(o *Options) { o.MITM = MITMMode{} }) // mitm.hosts: [] terminates nothing by itself
	auth := func(secret string) string { return "Proxy-Authorization: " + basicAuth("alter", secret) }
	tests := []struct {
		name      string
		authority string
		lines     []string
		status    int
		code      string
	}{
		{"an unknown token", "api.github.com:443", []string{auth(e.unknown)}, 403, CodeGrantUnavailable},
		{"a revoked profile", "api.github.com:443", []string{auth(e.revokedTok)}, 403, CodeGrantUnavailable},
		{"an unknown grant", "api.github.com:443", []string{auth(grantNone)}, 403, CodeGrantUnavailable},
		{"a malformed token", "api.github.com:443", []string{auth("alt_p_!")}, 403, CodeGrantUnavailable},
		{"a malformed Bearer token", "api.github.com:443", []string{"Proxy-Authorization: Bearer alt_p_"}, 403, CodeGrantUnavailable},
		{"two credentials", "api.github.com:443", []string{auth(grantGH), auth(e.openTok)}, 400, CodeBadRequest},
		{"two credentials, one not ours", "third.example.test:443", []string{"Proxy-Authorization: Basic !!!", auth(e.fencedTok)}, 403, "destination_not_allowed"},
		{"a fence refuses another host", "third.example.test:443", []string{auth(e.fencedTok)}, 403, "destination_not_allowed"},
		{"a fence refuses its host on another port", "api.github.com:8443", []string{auth(e.fencedTok)}, 403, "destination_not_allowed"},
		{"a fence accepts its host", "api.github.com:443", []string{auth(e.fencedTok)}, 200, ""},
		{"a Bearer token works as a password does", "api.github.com:443", []string{"Proxy-Authorization: Bearer " + e.fencedTok}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.third.bytes.Load() + e.gh.bytes.Load()
			status, code := e.connectRaw(t, tt.authority, tt.lines...)
			if status != tt.status || code != tt.code {
				t.Fatalf("CONNECT answered %d %q, want %d %q", status, code, tt.status, tt.code)
			}
			if after := e.third.bytes.Load() + e.gh.bytes.Load(); after != before {
				t.Fatalf("a CONNECT dialled an upstream (%d bytes)", after-before)
			}
		})
	}
	t.Run("refusals are audited with the profile, never the token", func(t *testing.T) {
		var found bool
		for _, r := range e.audit.Records() {
			if r.Method == http.MethodConnect && r.Profile == "fenced" && r.ErrorCode == "destination_not_allowed" && r.Host == "third.example.test" {
				found = true
			}
		}
		if !found {
			t.Fatalf("no audit record of the fenced CONNECT: %+v", e.audit.Records())
		}
	})
	t.Run("a covered host is terminated whatever mitm.hosts says", func(t *testing.T) {
		r := e.request(t, e.clientAs(grantGH), "https://api.github.com/user", nil)
		if r.status != 200 || r.auth != "Bearer "+sentinel+"-gh" {
			t.Fatalf("%+v", r)
		}
	})
}

// TestTunnelBindingIsTheConnects: a tunnel's requests use the CONNECT's
// credentials, and a Proxy-Authorization inside the tunnel selects
// nothing, whether the CONNECT had credentials or not.
func TestTunnelBindingIsTheConnects(t *testing.T) {
	e := newCredEnv(t)
	tests := []struct {
		name    string
		connect string // the CONNECT's password, "" for none
		inner   string // the inner request's Proxy-Authorization password
		auth    string // what the upstream must receive
	}{
		{"no CONNECT credentials, a grant inside", "", grantGH, ""},
		{"no CONNECT credentials, a token inside", "", e.openTok, ""},
		{"a fenced CONNECT, another grant inside", e.fencedTok, grantGH2, "Bearer " + sentinel + "-gh"},
		{"a grant CONNECT, a token inside", grantGH2, e.openTok, "Bearer " + sentinel + "-gh2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			if tt.connect != "" {
				c = e.clientAs(tt.connect)
			}
			r := e.request(t, c, "https://api.github.com/user", http.Header{"Proxy-Authorization": {basicAuth("x", tt.inner)}})
			if r.status != 200 || r.hit != e.gh || r.auth != tt.auth {
				t.Fatalf("%+v, want 200 from GitHub with Authorization %q", r, tt.auth)
			}
		})
	}
	t.Run("a profile revoked while its tunnel is open", func(t *testing.T) {
		tok := e.profiles.add(t, "short", false, map[string][]string{grantGH: {"api.github.com"}})
		c := e.clientAs(tok)
		c.Transport.(*http.Transport).DisableKeepAlives = false
		if r := e.request(t, c, "https://api.github.com/user", nil); r.status != 200 || r.auth == "" {
			t.Fatalf("before: %+v", r)
		}
		e.profiles.mu.Lock()
		e.profiles.revoked["short"] = true
		e.profiles.mu.Unlock()
		// Same kept-alive tunnel: the binding is resolved for each request.
		if r := e.request(t, c, "https://api.github.com/user", nil); r.status != 403 || r.code != CodeGrantUnavailable || r.hit != nil {
			t.Fatalf("after: %+v", r)
		}
	})
	t.Run("a grant revoked while its tunnel is open", func(t *testing.T) {
		c := e.clientAs(grantThird)
		c.Transport.(*http.Transport).DisableKeepAlives = false
		if r := e.request(t, c, "https://third.example.test/", nil); r.status != 200 || r.auth == "" {
			t.Fatalf("before: %+v", r)
		}
		e.store.mu.Lock()
		e.store.unavail[grantThird] = true
		e.store.mu.Unlock()
		if r := e.request(t, c, "https://third.example.test/", nil); r.status != 403 || r.code != CodeGrantUnavailable || r.hit != nil {
			t.Fatalf("after: %+v", r)
		}
	})
}

// TestUnknownCredentialsLookLikeUnknownGrants: the answer to an unknown
// grant id or token in the credentials is byte for byte the answer to an
// unknown grant in the header (request ids aside).
func TestUnknownCredentialsLookLikeUnknownGrants(t *testing.T) {
	e := newCredEnv(t)
	answer := func(c *http.Client, h http.Header) string {
		req, _ := http.NewRequest("GET", "http://api.github.com/user", nil)
		for k, vs := range h {
			req.Header[k] = vs
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Header.Del(HeaderRequestID)
		resp.Header.Del("Date")
		js, _ := json.Marshal(resp.Header)
		return fmt.Sprintf("%d %s %s", resp.StatusCode, js, body)
	}
	want := answer(e.client(), http.Header{"X-Alter-Grant": {grantNone}})
	for name, secret := range map[string]string{"unknown grant": grantNone, "unknown token": e.unknown, "revoked profile": e.revokedTok, "malformed token": "alt_p_x"} {
		t.Run(name, func(t *testing.T) {
			if got := answer(e.clientAs(secret), nil); got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestProxyAuthClientProfile(t *testing.T) {
	clients := []AuthClient{
		{Name: "ci", Digest: sha256.Sum256([]byte("ci-pass")), Profile: "fenced"},
		{Name: "dev", Digest: sha256.Sum256([]byte("dev-pass"))},
	}
	e := newCredEnv(t, func(o *Options) { o.Clients = clients })
	tests := []struct {
		name   string
		user   string
		pass   string
		target string
		status int
		code   string
		auth   string
	}{
		{"the client's profile selects", "ci", "ci-pass", "https://api.github.com/user", 200, "", "Bearer " + sentinel + "-gh"},
		{"the client's profile fences", "ci", "ci-pass", "http://plain.example.test/", 403, "destination_not_allowed", ""},
		{"a client without a profile: nothing selected", "dev", "dev-pass", "https://api.github.com/user", 200, "", ""},
		{"a profile token is not a client secret", "ci", e.fencedTok, "http://api.github.com/user", 407, CodeProxyAuthRequired, ""},
		{"a grant id is not a client secret", "ci", grantGH, "http://api.github.com/user", 407, CodeProxyAuthRequired, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			u, _ := url.Parse(e.proxySrv.URL)
			u.User = url.UserPassword(tt.user, tt.pass)
			c.Transport.(*http.Transport).Proxy = http.ProxyURL(u)
			r := e.request(t, c, tt.target, nil)
			if r.status != tt.status || r.code != tt.code || r.auth != tt.auth {
				t.Fatalf("%+v, want %d %q %q", r, tt.status, tt.code, tt.auth)
			}
		})
	}
	t.Run("the audit actor is the client, the profile its profile", func(t *testing.T) {
		e.recordFor(t, 0, "", func(r audit.Record) bool {
			return r.Actor == "ci" && r.Profile == "fenced" && r.Decision == audit.DecisionAllow
		})
	})
}

// recordFor waits for the audit record, at index from or later, with
// request id id (when not empty) that match accepts, and returns it.
func (e *credEnv) recordFor(t *testing.T, from int, id string, match func(audit.Record) bool) audit.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := e.audit.Records()
		for _, rec := range recs[min(from, len(recs)):] {
			if (id == "" || rec.RequestID == id) && match(rec) {
				return rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit record (id %q) as expected after 5s: %+v", id, recs[min(from, len(recs)):])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
