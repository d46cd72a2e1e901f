package vault_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/alter-sidecar/alter/sdk/vault"
)

const grant = "6f1c2a7e-3b4d-4c5e-8f90-123456789abc"

// seen is what a stand-in sidecar received.
type seen struct {
	Method, RequestURI, Host, Body string
	Header                         http.Header
}

// sidecar starts a stand-in that records each request and answers with
// answer (nil: 200 "ok").
func sidecar(t *testing.T, answer http.HandlerFunc) (*vault.Client, func() []seen) {
	t.Helper()
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Host, string(b), r.Header.Clone()})
		mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	c, err := vault.New(vault.WithProxy(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	return c, func() []seen { mu.Lock(); defer mu.Unlock(); return append([]seen(nil), got...) }
}

// TestAbsoluteForm: the sidecar gets the target in absolute form with the
// application's scheme (https stays https: no CONNECT, no CA, no downgrade),
// the grant, the reason, the body, and the path exactly as escaped.
func TestAbsoluteForm(t *testing.T) {
	c, got := sidecar(t, nil)
	ctx := context.Background()
	cases := []struct{ url, want string }{
		{"https://api.example.test/v1/things?limit=2", "https://api.example.test/v1/things?limit=2"},
		{"http://api.example.test/v1/ping", "http://api.example.test/v1/ping"},
		{"https://api.example.test:8443/a%2Fb/c", "https://api.example.test:8443/a%2Fb/c"},
		{"https://api.example.test", "https://api.example.test/"},
	}
	for _, tc := range cases {
		resp, err := c.Request(ctx, "POST", tc.url, strings.NewReader("payload"), grant, vault.WithReason("nightly sync"), vault.WithHeader("Content-Type", "text/plain"))
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		resp.Body.Close()
	}
	for i, s := range got() {
		tc := cases[i]
		if s.RequestURI != tc.want || s.Method != "POST" || s.Body != "payload" {
			t.Errorf("%s: sidecar got %s %s body %q, want POST %s", tc.url, s.Method, s.RequestURI, s.Body, tc.want)
		}
		if s.Header.Get(vault.HeaderGrant) != grant || s.Header.Get(vault.HeaderReason) != "nightly sync" || s.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("%s: headers %v", tc.url, s.Header)
		}
		if s.Header.Get("Proxy-Authorization") != "" {
			t.Errorf("Proxy-Authorization sent without WithProxyAuth")
		}
	}
}

// TestRoundTripperWithHTTPClient: the RoundTripper plugs into http.Client,
// replaces an application-set grant, and refusals reach the caller through
// *url.Error as typed errors.
func TestRoundTripperWithHTTPClient(t *testing.T) {
	c, got := sidecar(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/denied" {
			w.Header().Set(vault.HeaderError, vault.CodePolicyDenied)
			w.WriteHeader(403)
			io.WriteString(w, `{"error":"policy_denied","message":"method not allowed","rule":"method"}`)
			return
		}
		io.WriteString(w, "ok")
	})
	hc := &http.Client{Transport: c.RoundTripper(grant)}
	req, _ := http.NewRequest("GET", "https://api.example.test/ok", nil)
	req.Header.Set(vault.HeaderGrant, "00000000-0000-4000-8000-000000000000")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || got()[0].Header.Values(vault.HeaderGrant)[0] != grant || len(got()[0].Header.Values(vault.HeaderGrant)) != 1 {
		t.Fatalf("body %q, grant headers %v", b, got()[0].Header.Values(vault.HeaderGrant))
	}
	_, err = hc.Get("https://api.example.test/denied")
	var pd *vault.PolicyDeniedError
	if !errors.As(err, &pd) || pd.Rule != "method" {
		t.Fatalf("want *PolicyDeniedError through http.Client, got %v", err)
	}
}

// TestTransportWithoutGrant: Transport() adds no grant, so a request without
// one reaches the sidecar without one (passthrough) and one with one keeps it.
func TestTransportWithoutGrant(t *testing.T) {
	c, got := sidecar(t, nil)
	hc := &http.Client{Transport: c.Transport()}
	if resp, err := hc.Get("https://public.example.test/"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", "https://api.example.test/", nil)
	req.Header.Set(vault.HeaderGrant, grant)
	if resp, err := hc.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	s := got()
	if _, ok := s[0].Header[vault.HeaderGrant]; ok || s[1].Header.Get(vault.HeaderGrant) != grant || s[0].RequestURI != "https://public.example.test/" {
		t.Fatalf("got %+v", s)
	}
}

// TestRefusedBeforeSending: requests the SDK cannot send correctly never
// reach the sidecar.
func TestRefusedBeforeSending(t *testing.T) {
	c, got := sidecar(t, nil)
	ctx := context.Background()
	for _, tc := range []struct{ url, grant string }{
		{"https://api.example.test/", ""},
		{"ftp://api.example.test/", grant},
		{"https://user:pw@api.example.test/", grant},
		{"/relative", grant},
	} {
		if resp, err := c.Request(ctx, "GET", tc.url, nil, tc.grant); err == nil {
			resp.Body.Close()
			t.Errorf("%q grant %q: no error", tc.url, tc.grant)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("error repeats the URL's password: %v", err)
		}
	}
	if n := len(got()); n != 0 {
		t.Fatalf("%d requests reached the sidecar", n)
	}
}

// TestAddress: WithProxy beats ALTER_PROXY beats the default; a bare
// host:port is accepted; anything but http:// is refused; HTTP(S)_PROXY are
// ignored.
func TestAddress(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv(vault.EnvProxy, "")
	c, err := vault.New()
	if err != nil || c.ProxyURL() != vault.DefaultProxy {
		t.Fatalf("default: %v %v", c, err)
	}
	t.Setenv(vault.EnvProxy, "10.1.2.3:18080")
	if c, _ := vault.New(); c.ProxyURL() != "http://10.1.2.3:18080" {
		t.Fatalf("ALTER_PROXY: %s", c.ProxyURL())
	}
	if c, _ := vault.New(vault.WithProxy("http://127.0.0.2:9")); c.ProxyURL() != "http://127.0.0.2:9" {
		t.Fatalf("WithProxy: %s", c.ProxyURL())
	}
	for _, bad := range []string{"https://127.0.0.1:8080", "http://127.0.0.1:8080/path", "socks5://127.0.0.1:1080", "http://"} {
		if _, err := vault.New(vault.WithProxy(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// The real requests go to the stand-in, not to HTTP(S)_PROXY.
	sc, got := sidecar(t, nil)
	resp, err := sc.Request(context.Background(), "GET", "https://api.example.test/", nil, grant)
	if err != nil || len(got()) != 1 {
		t.Fatalf("HTTP(S)_PROXY was not ignored: %v", err)
	}
	resp.Body.Close()
}

// TestProxyAuth: Basic (also from the address's user information) and
// Bearer reach the sidecar; no fmt verb or error shows the secret.
func TestProxyAuth(t *testing.T) {
	const secret = "s3cr3t-proxy-pass-77"
	var mu sync.Mutex
	var last string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Get("Proxy-Authorization")
		mu.Unlock()
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	cases := []struct {
		opts []vault.Option
		want string
	}{
		{[]vault.Option{vault.WithProxy(srv.URL), vault.WithProxyAuth(vault.BasicAuth("billing", secret))}, "Basic YmlsbGluZzpzM2NyM3QtcHJveHktcGFzcy03Nw=="},
		{[]vault.Option{vault.WithProxy(srv.URL), vault.WithProxyAuth(vault.BearerAuth(secret))}, "Bearer " + secret},
		{[]vault.Option{vault.WithProxy("http://billing:" + secret + "@" + host)}, "Basic YmlsbGluZzpzM2NyM3QtcHJveHktcGFzcy03Nw=="},
	}
	for i, tc := range cases {
		c, err := vault.New(tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Request(context.Background(), "GET", "http://api.example.test/", nil, grant)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		mu.Lock()
		if last != tc.want {
			t.Errorf("case %d: Proxy-Authorization %q, want %q", i, last, tc.want)
		}
		mu.Unlock()
		for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", c, c, c, c.ProxyURL()), fmt.Sprintf("%v %+v %#v", vault.BearerAuth(secret), vault.BasicAuth("n", secret), vault.BearerAuth(secret))} {
			if strings.Contains(s, secret) || strings.Contains(s, "YmlsbGluZzpz") {
				t.Errorf("case %d: secret printed: %s", i, s)
			}
		}
	}
	if _, err := vault.New(vault.WithProxy("http://u:" + secret + "@%zz")); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("bad address error shows the secret: %v", err)
	}
}
