package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testnet"
)

const (
	grantA = "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
	grantB = "0b8a7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"
	grantC = "9d8c7b6a-5f4e-4d3c-8b2a-190817263544"
)

var bearer = inject.Spec{Type: inject.TypeBearer}

func TestBearerOverTerminatedTLS(t *testing.T) {
	e := newEnv(t)
	up := e.tlsUpstream("api.example.test", nil)
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")

	resp, body := e.do("GET", "https://api.example.test/v1/ping?limit=1&cursor=abc", http.Header{
		"X-Alter-Grant":  {grantA},
		"Authorization":  {"Bearer app-chosen"},
		"X-Alter-Reason": {"nightly sync"},
		"X-Alter-Other":  {"x"},
		"X-Custom":       {"kept"},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	v := decodeView(t, body)
	if got := v.Headers["Authorization"]; len(got) != 1 || got[0] != "Bearer "+sentinel {
		t.Fatalf("upstream Authorization = %q, want the injected bearer token once", got)
	}
	if !v.TLS || v.Host != "api.example.test" || v.Path != "/v1/ping" || v.Query != "limit=1&cursor=abc" {
		t.Fatalf("upstream saw %+v", v)
	}
	assertHeaderSet(t, v.Headers, "Accept-Encoding", "Authorization", "User-Agent", "X-Custom")
	if resp.Header.Get("X-Alter-Grant") != "" || resp.Header.Get("X-Alter-Error") != "" {
		t.Fatalf("upstream X-Alter-* response headers reached the client: %v", resp.Header)
	}
	if resp.Header.Get(HeaderRequestID) == "" {
		t.Fatal("no request id on the response")
	}
	if up.hits.Load() != 1 {
		t.Fatalf("upstream hits = %d", up.hits.Load())
	}
	rec := e.waitAudit(1)[0]
	want := audit.Record{GrantID: grantA, Decision: audit.DecisionAllow, Status: 200, Scheme: "https", Host: "api.example.test",
		Port: 443, Path: "/v1/ping", Reason: "nightly sync", Method: "GET", SecretName: "test-6f1c", Actor: "test"}
	if rec.GrantID != want.GrantID || rec.Decision != want.Decision || rec.Status != want.Status || rec.Scheme != want.Scheme ||
		rec.Host != want.Host || rec.Port != want.Port || rec.Path != want.Path || rec.Reason != want.Reason ||
		rec.Method != want.Method || rec.SecretName != want.SecretName || rec.Actor != want.Actor {
		t.Fatalf("audit record = %+v", rec)
	}
	if strings.Join(rec.QueryKeys, ",") != "cursor,limit" || rec.BytesOut == 0 || rec.RequestID != resp.Header.Get(HeaderRequestID) {
		t.Fatalf("audit record query keys / bytes / request id = %v %d %q", rec.QueryKeys, rec.BytesOut, rec.RequestID)
	}
	if _, err := netip.ParseAddr(rec.SourceIP); err != nil {
		t.Fatalf("source ip %q", rec.SourceIP)
	}
	e.checkLogsAndAudit()
}

func TestCredentialTypes(t *testing.T) {
	tests := []struct {
		name   string
		spec   inject.Spec
		fields inject.Fields
		header string
		want   string
	}{
		{"api key", inject.Spec{Type: inject.TypeAPIKey, Header: "X-API-Key"}, inject.Fields{"api_key": sentinel}, "X-Api-Key", sentinel},
		{"basic", inject.Spec{Type: inject.TypeBasic}, inject.Fields{"username": "alice", "password": sentinel}, "Authorization",
			"Basic YWxpY2U6c2VudGluZWwtcHJveHktNGIxZDllMDdjMg=="},
		{"bearer format", inject.Spec{Type: inject.TypeBearer, Format: "Token token={token}"}, inject.Fields{"token": sentinel}, "Authorization", "Token token=" + sentinel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.tlsUpstream("api.example.test", nil)
			e.addGrant(grantA, tt.spec, tt.fields, "api.example.test")
			resp, body := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}, tt.header: {"client"}})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := decodeView(t, body).Headers[tt.header]; len(got) != 1 || got[0] != tt.want {
				t.Fatalf("%s = %q, want %q", tt.header, got, tt.want)
			}
			e.checkLogsAndAudit()
		})
	}
}

func TestPlainHTTPIsUpgradedToTLS(t *testing.T) {
	e := newEnv(t)
	e.tlsUpstream("api.example.test", nil)
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	resp, body := e.do("POST", "http://api.example.test/v1/charges", http.Header{"X-Alter-Grant": {grantA}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	v := decodeView(t, body)
	if !v.TLS || v.Method != "POST" || v.Headers["Authorization"][0] != "Bearer "+sentinel {
		t.Fatalf("upstream saw %+v, want the request over TLS with the token", v)
	}
}

func TestPlainHTTPWhenTheGrantSaysSo(t *testing.T) {
	e := newEnv(t)
	up := e.plainUpstream("plain.example.test:8080")
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "http://plain.example.test:8080")
	resp, body := e.do("GET", "http://plain.example.test:8080/x", http.Header{"x-alter-grant": {grantA}})
	if resp.StatusCode != 200 || up.hits.Load() != 1 {
		t.Fatalf("status %d hits %d: %s", resp.StatusCode, up.hits.Load(), body)
	}
	if v := decodeView(t, body); v.TLS || v.Headers["Authorization"][0] != "Bearer "+sentinel {
		t.Fatalf("upstream saw %+v", v)
	}
}

// TestUnavailableGrantsLookAlike: unknown, revoked and expired grants get
// one identical answer, so a client cannot tell which it hit.
func TestUnavailableGrantsLookAlike(t *testing.T) {
	e := newEnv(t)
	up := e.tlsUpstream("api.example.test", nil)
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	e.addGrant(grantB, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	e.store.unavail[grantB] = true
	var bodies []string
	for _, id := range []string{grantB, grantC, strings.ToUpper(grantC)} {
		resp, body := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {id}})
		if resp.StatusCode != 403 || resp.Header.Get(HeaderError) != CodeGrantUnavailable {
			t.Fatalf("grant %s: status %d %s", id, resp.StatusCode, body)
		}
		bodies = append(bodies, string(body))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatalf("answers differ: %q", bodies)
	}
	if up.hits.Load() != 0 {
		t.Fatal("a refused request reached the upstream")
	}
	recs := e.waitAudit(3)
	for _, r := range recs {
		if r.Decision != audit.DecisionDeny || r.ErrorCode != CodeGrantUnavailable || r.Status != 403 {
			t.Fatalf("audit record for a refused grant: %+v", r)
		}
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		method string
		url    string
		header http.Header
		status int
		code   string
	}{
		{"policy: another host over plain http", "GET", "http://other.example.test/", http.Header{"X-Alter-Grant": {grantA}}, 403, CodePolicyDenied},
		{"policy: another port", "GET", "http://api.example.test:8080/", http.Header{"X-Alter-Grant": {grantA}}, 403, CodePolicyDenied},
		{"two different markers", "GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA, grantB}}, 400, CodeBadRequest},
		{"two markers in different cases", "GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}, "x-alter-grant": {grantB}}, 400, CodeBadRequest},
		{"marker list", "GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA + ", " + grantB}}, 400, CodeBadRequest},
		{"marker not a uuid", "GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {"../../etc/passwd"}}, 400, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			up := e.tlsUpstream("api.example.test", nil)
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			e.addGrant(grantB, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			resp, body := e.do(tt.method, tt.url, tt.header)
			if resp.StatusCode != tt.status || resp.Header.Get(HeaderError) != tt.code {
				t.Fatalf("status %d code %q, want %d %q: %s", resp.StatusCode, resp.Header.Get(HeaderError), tt.status, tt.code, body)
			}
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error != tt.code || eb.Message == "" {
				t.Fatalf("error body %s", body)
			}
			if up.hits.Load() != 0 || up.bytes.Load() != 0 {
				t.Fatal("a refused request sent bytes upstream")
			}
			if rec := e.waitAudit(1)[0]; rec.Decision != audit.DecisionDeny || rec.Status != tt.status {
				t.Fatalf("audit %+v", rec)
			}
			e.checkLogsAndAudit()
		})
	}
}

// TestConnectionHeaderCannotDropTheCredential: headers named in Connection
// are removed before injection, so naming Authorization there cannot remove
// ours, and naming the marker there does not hide it from us.
func TestConnectionHeaderCannotDropTheCredential(t *testing.T) {
	e := newEnv(t)
	e.tlsUpstream("api.example.test", nil)
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	resp, body := e.do("GET", "https://api.example.test/", http.Header{
		"X-Alter-Grant": {grantA}, "Connection": {"Authorization, X-Alter-Grant, X-Drop"}, "X-Drop": {"1"}, "Authorization": {"x"},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	v := decodeView(t, body)
	if v.Headers["Authorization"][0] != "Bearer "+sentinel || v.Headers["X-Drop"] != nil {
		t.Fatalf("upstream headers %v", v.Headers)
	}
}

func TestStoreUnavailableIs503(t *testing.T) {
	e := newEnv(t)
	up := e.tlsUpstream("api.example.test", nil)
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	e.store.broken = true
	resp, body := e.do("GET", "http://api.example.test/", http.Header{"X-Alter-Grant": {grantA}})
	if resp.StatusCode != 503 || resp.Header.Get(HeaderError) != CodeStoreUnavailable || up.hits.Load() != 0 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
}

func TestPassthrough(t *testing.T) {
	t.Run("allow forwards without grant, minus X-Alter-*", func(t *testing.T) {
		e := newEnv(t)
		up := e.plainUpstream("open.example.test:80")
		resp, body := e.do("GET", "http://open.example.test/p", http.Header{"X-Alter-Reason": {"hi"}, "Authorization": {"app-own"}})
		if resp.StatusCode != 200 || up.hits.Load() != 1 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
		v := decodeView(t, body)
		if v.Headers["Authorization"][0] != "app-own" || v.Headers["X-Alter-Reason"] != nil {
			t.Fatalf("upstream headers %v", v.Headers)
		}
		if len(e.audit.Records()) != 0 {
			t.Fatal("a passthrough request was audited as a grant use")
		}
	})
	t.Run("deny refuses requests and tunnels without grant", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Passthrough = false })
		up := e.plainUpstream("open.example.test:80")
		resp, _ := e.do("GET", "http://open.example.test/p", nil)
		if resp.StatusCode != 403 || resp.Header.Get(HeaderError) != CodePassthroughDenied || up.hits.Load() != 0 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		status, _ := rawConnect(t, e, "open.example.test:443")
		if status != 403 {
			t.Fatalf("CONNECT to a host no grant covers: status %d, want 403", status)
		}
	})
	t.Run("tunnel to uncovered host is not terminated", func(t *testing.T) {
		e := newEnv(t)
		up := e.tlsUpstream("elsewhere.example.test", nil)
		client := e.client()
		client.Transport.(*http.Transport).TLSClientConfig.RootCAs = e.roots // trusts the upstream, not us
		resp, err := client.Get("https://elsewhere.example.test/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || up.hits.Load() != 1 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestSSRFGuard: a grant whose host resolves to an internal address is
// refused at dial time, before any byte is sent, unless the operator
// pinned the address or allowed the range.
func TestSSRFGuard(t *testing.T) {
	u := &upstream{}
	srv := httptest.NewUnstartedServer(echoHandler(u))
	srv.Listener = testnet.CountingListener{Listener: srv.Listener, N: &u.bytes}
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dest := "http://localhost:" + port

	t.Run("loopback refused", func(t *testing.T) {
		e := newEnv(t)
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, dest)
		resp, body := e.do("GET", dest+"/", http.Header{"X-Alter-Grant": {grantA}})
		if resp.StatusCode != 403 || resp.Header.Get(HeaderError) != CodePolicyDenied {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "::1") {
			t.Fatalf("error names an internal address: %s", body)
		}
		if u.bytes.Load() != 0 {
			t.Fatal("bytes reached the internal address")
		}
		if rec := e.waitAudit(1)[0]; rec.Decision != audit.DecisionDeny || rec.Rule != "destination" {
			t.Fatalf("audit %+v", rec)
		}
	})
	t.Run("the proxy itself refused even when allowed", func(t *testing.T) {
		e := newEnv(t)
		_, pport, _ := net.SplitHostPort(e.proxySrv.Listener.Addr().String())
		self := "http://localhost:" + pport
		e2 := newEnv(t, func(o *Options) {
			o.Upstream.AllowPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
			o.Upstream.Self = []netip.AddrPort{netip.MustParseAddrPort(e.proxySrv.Listener.Addr().String())}
		})
		e2.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, self)
		resp, body := e2.do("GET", self+"/", http.Header{"X-Alter-Grant": {grantA}})
		if resp.StatusCode != 403 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
	t.Run("allow_private lets the operator opt in", func(t *testing.T) {
		e := newEnv(t, func(o *Options) {
			o.Upstream.AllowPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		})
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, dest)
		resp, body := e.do("GET", dest+"/", http.Header{"X-Alter-Grant": {grantA}})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
}

func TestUpstreamTrust(t *testing.T) {
	t.Run("untrusted certificate: 502, nothing sent", func(t *testing.T) {
		e := newEnv(t)
		u := &upstream{}
		srv := httptest.NewTLSServer(echoHandler(u)) // httptest's own CA, not trusted
		defer srv.Close()
		e.resolve["api.example.test:443"] = srv.Listener.Addr().String()
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		resp, body := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}})
		if resp.StatusCode != 502 || resp.Header.Get(HeaderError) != CodeUpstreamError || u.hits.Load() != 0 {
			t.Fatalf("status %d hits %d %s", resp.StatusCode, u.hits.Load(), body)
		}
		e.checkLogsAndAudit()
	})
	t.Run("wrong name: 502", func(t *testing.T) {
		e := newEnv(t)
		up := e.tlsUpstream("other.example.test", nil)
		e.resolve["api.example.test:443"] = up.srv.Listener.Addr().String()
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		resp, _ := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}})
		if resp.StatusCode != 502 || up.hits.Load() != 0 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("HTTPS_PROXY in the environment does not reroute", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
		t.Setenv("HTTP_PROXY", "http://127.0.0.1:9")
		e := newEnv(t)
		e.tlsUpstream("api.example.test", nil)
		e.plainUpstream("open.example.test:80")
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		if resp, body := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}}); resp.StatusCode != 200 {
			t.Fatalf("grant request: %d %s", resp.StatusCode, body)
		}
		if resp, body := e.do("GET", "http://open.example.test/", nil); resp.StatusCode != 200 {
			t.Fatalf("passthrough request: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("response header timeout: 504", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.Upstream.ResponseHeaderTimeout = 200 * time.Millisecond })
		release := make(chan struct{})
		defer close(release)
		e.tlsUpstream("api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		resp, body := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}})
		if resp.StatusCode != 504 || resp.Header.Get(HeaderError) != CodeUpstreamTimeout {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
}

func TestRedirectsAreReturned(t *testing.T) {
	e := newEnv(t)
	e.tlsUpstream("api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://evil.example.test/steal", http.StatusFound)
	}))
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	resp, _ := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}})
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://evil.example.test/steal" {
		t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestStreaming: an SSE response reaches the client event by event, over
// terminated TLS and over plain HTTP.
func TestStreaming(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"terminated tls", "https://api.example.test/events"},
		{"plain http upgraded", "http://api.example.test/events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			release := make(chan struct{})
			defer close(release)
			e.tlsUpstream("api.example.test", sseHandler(release))
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			e.expectFirstEvent(tc.url)
		})
	}
}

// rawConnect opens a CONNECT tunnel by hand and returns the status.
func rawConnect(t *testing.T, e *env, authority string) (int, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil {
		return 0, nil
	}
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	return 200, &bufConn{Conn: conn, r: br}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// tunnelRequest writes a raw request inside a terminated tunnel to
// authority (TLS with our CA, SNI sni) and returns the response.
func tunnelRequest(t *testing.T, e *env, authority, sni, raw string) (*http.Response, []byte) {
	t.Helper()
	status, conn := rawConnect(t, e, authority)
	if status != 200 {
		t.Fatalf("CONNECT %s: status %d", authority, status)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: sni, RootCAs: e.caPool})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS inside the tunnel: %v", err)
	}
	if _, err := io.WriteString(tc, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"headers"`) {
		e.assertNoLeak(string(body), "response")
	}
	return resp, body
}

// TestDestinationBinding: inside a tunnel to the allowed host, a request
// that names another host, by Host header or absolute URL, is refused and
// nothing is dialled.
func TestDestinationBinding(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"inner Host names another host", "GET / HTTP/1.1\r\nHost: evil.example.test\r\nX-Alter-Grant: " + grantA + "\r\n\r\n"},
		{"inner Host names another port", "GET / HTTP/1.1\r\nHost: api.example.test:8443\r\nX-Alter-Grant: " + grantA + "\r\n\r\n"},
		{"absolute URL names another host", "GET https://evil.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA + "\r\n\r\n"},
		{"absolute URL with userinfo trick", "GET https://api.example.test@evil.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA + "\r\n\r\n"},
		{"passthrough also bound", "GET / HTTP/1.1\r\nHost: evil.example.test\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			good := e.tlsUpstream("api.example.test", nil)
			evil := e.tlsUpstream("evil.example.test", nil)
			e.resolve["evil.example.test:8443"] = evil.srv.Listener.Addr().String()
			e.resolve["api.example.test:8443"] = evil.srv.Listener.Addr().String()
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test", "evil.example.test:9")
			resp, body := tunnelRequest(t, e, "api.example.test:443", "api.example.test", tt.raw)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d %s", resp.StatusCode, body)
			}
			if evil.bytes.Load() != 0 || good.hits.Load() != 0 {
				t.Fatalf("something was sent: evil %d bytes, good %d hits", evil.bytes.Load(), good.hits.Load())
			}
		})
	}
	t.Run("absolute URL wins over a disagreeing Host header", func(t *testing.T) {
		e := newEnv(t)
		good := e.tlsUpstream("api.example.test", nil)
		evil := e.tlsUpstream("evil.example.test", nil)
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		resp, body := tunnelRequest(t, e, "api.example.test:443", "api.example.test",
			"GET https://api.example.test/ HTTP/1.1\r\nHost: evil.example.test\r\nX-Alter-Grant: "+grantA+"\r\n\r\n")
		if resp.StatusCode != 200 || decodeView(t, body).Host != "api.example.test" || good.hits.Load() != 1 || evil.bytes.Load() != 0 {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
	t.Run("SNI for another name gets a certificate for the CONNECT host", func(t *testing.T) {
		e := newEnv(t)
		e.tlsUpstream("api.example.test", nil)
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		status, conn := rawConnect(t, e, "api.example.test:443")
		if status != 200 {
			t.Fatal(status)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: "evil.example.test", RootCAs: e.caPool})
		if err := tc.Handshake(); err == nil {
			t.Fatal("the proxy presented a certificate valid for the SNI name instead of the CONNECT host")
		}
	})
	t.Run("the allowed request works in the same shape", func(t *testing.T) {
		e := newEnv(t)
		e.tlsUpstream("api.example.test", nil)
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		resp, body := tunnelRequest(t, e, "API.Example.Test.:443", "api.example.test",
			"GET /ok HTTP/1.1\r\nHost: api.example.test\r\nx-ALTER-grant: "+grantA+"\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 200 || decodeView(t, body).Headers["Authorization"][0] != "Bearer "+sentinel {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
}

// TestRawRefusals sends requests a well-behaved client library would not.
func TestRawRefusals(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"marker announced as trailer", "POST http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA +
			"\r\nTrailer: X-Alter-Grant\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Alter-Grant: " + grantB + "\r\n\r\n"},
		{"marker only in trailer", "POST http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\n" +
			"Trailer: x-alter-grant\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Alter-Grant: " + grantB + "\r\n\r\n"},
		{"userinfo in absolute URL", "GET http://api.example.test@evil.example.test/ HTTP/1.1\r\nHost: evil.example.test\r\nX-Alter-Grant: " + grantA + "\r\n\r\n"},
		{"userinfo naming the allowed host", "GET http://user:pw@api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			up := e.tlsUpstream("api.example.test", nil)
			evil := e.plainUpstream("evil.example.test:80")
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			e.addGrant(grantB, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			conn, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(conn, tt.raw)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || up.bytes.Load() != 0 || evil.bytes.Load() != 0 {
				t.Fatalf("status %d, upstream bytes %d/%d: %s", resp.StatusCode, up.bytes.Load(), evil.bytes.Load(), body)
			}
		})
	}
}

func TestBadConnectsAndNonProxyRequests(t *testing.T) {
	e := newEnv(t)
	for _, authority := range []string{"api.example.test", "api.example.test:", "api.example.test:99999", "[::1", "a b:443"} {
		t.Run("CONNECT "+authority, func(t *testing.T) {
			if status, _ := rawConnect(t, e, authority); status == 200 {
				t.Fatalf("CONNECT %q accepted", authority)
			}
		})
	}
	t.Run("origin-form request", func(t *testing.T) {
		resp, err := http.Get(e.proxySrv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get(HeaderError) != CodeBadRequest {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func assertHeaderSet(t *testing.T, h map[string][]string, want ...string) {
	t.Helper()
	var got []string
	for k := range h {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("upstream header names = %v, want exactly %v", got, want)
	}
}

// TestPanicCostsOneRequest: a bug while handling a request answers 500
// internal_error, logs no request state, and the proxy goes on serving.
func TestPanicCostsOneRequest(t *testing.T) {
	e := newEnv(t)
	e.tlsUpstream("api.example.test", nil)
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	e.store.panics = true
	for _, url := range []string{"https://api.example.test/", "http://api.example.test/"} {
		resp, body := e.do("GET", url, http.Header{"X-Alter-Grant": {grantA}})
		if resp.StatusCode != 500 || resp.Header.Get(HeaderError) != CodeInternal {
			t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
		}
	}
	e.store.mu.Lock()
	e.store.panics = false
	e.store.mu.Unlock()
	if resp, body := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}}); resp.StatusCode != 200 {
		t.Fatalf("after a panic: %d %s", resp.StatusCode, body)
	}
	e.checkLogsAndAudit()
}

// TestNoTunnelToTheProxyItself: a passthrough CONNECT to the proxy's own
// listener is refused, so a client cannot make its requests arrive from
// 127.0.0.1 (and pass a source_ip rule) or reach the admin listener; the
// refusal names no address.
func TestNoTunnelToTheProxyItself(t *testing.T) {
	e := newEnv(t)
	self := netip.MustParseAddrPort(e.proxySrv.Listener.Addr().String())
	// e2 is told e's listener is its own, so it must refuse to dial it.
	e2 := newEnv(t, func(o *Options) { o.Upstream.Self = []netip.AddrPort{self} })
	status, _ := rawConnect(t, e2, self.String())
	if status != http.StatusBadGateway && status != http.StatusForbidden {
		t.Fatalf("CONNECT to the proxy's own listener: status %d", status)
	}
	conn, err := net.Dial("tcp", e2.proxySrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", self, self)
	raw, _ := io.ReadAll(io.LimitReader(conn, 4096))
	if strings.Contains(string(raw), self.Addr().String()) || strings.Contains(string(raw), "dial") {
		t.Fatalf("the refusal names an address or the dial error: %s", raw)
	}
}
