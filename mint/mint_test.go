package mint_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testclock"
	"github.com/alter-sidecar/alter/mint"
)

func newMinter(t *testing.T, te *tokenEndpoint, clock *testclock.Clock, rot mint.Rotator) *mint.Minter {
	t.Helper()
	o := mint.Options{Transport: te.srv.Client().Transport, Rotator: rot, Timeout: 2 * time.Second}
	if clock != nil {
		o.Now = clock.Now
	}
	m, err := mint.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ccRequest(tokenURL string, mutate func(*inject.MintSpec)) mint.Request {
	ms := &inject.MintSpec{TokenURL: tokenURL}
	if mutate != nil {
		mutate(ms)
	}
	return mint.Request{SecretID: "s1", Version: 1,
		Spec:   inject.Spec{Type: inject.TypeOAuth2ClientCredentials, Mint: ms},
		Fields: inject.Fields{"client_id": "client:one", "client_secret": "s3cret/with+chars"}}
}

// basicCreds decodes RFC 6749 section 2.3.1 client authentication: Basic
// of the form-encoded id and secret.
func basicCreds(t *testing.T, r *http.Request) (id, secret string, ok bool) {
	t.Helper()
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Basic ") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	if err != nil {
		t.Errorf("Authorization is not base64")
		return "", "", false
	}
	u, p, _ := strings.Cut(string(raw), ":")
	u, _ = url.QueryUnescape(u)
	p, _ = url.QueryUnescape(p)
	return u, p, true
}

func TestClientCredentials(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*inject.MintSpec)
		want   url.Values // the whole form
		header bool       // client auth in the Authorization header
	}{
		{"header, scopes", func(m *inject.MintSpec) { m.Scopes = []string{"a.read", "b"} },
			url.Values{"grant_type": {"client_credentials"}, "scope": {"a.read b"}}, true},
		{"body, audience (Auth0)", func(m *inject.MintSpec) { m.ClientAuth = "body"; m.Audience = "https://api.example.com" },
			url.Values{"grant_type": {"client_credentials"}, "audience": {"https://api.example.com"},
				"client_id": {"client:one"}, "client_secret": {"s3cret/with+chars"}}, false},
		{"resource (RFC 8707)", func(m *inject.MintSpec) { m.Resource = "https://graph.example.com" },
			url.Values{"grant_type": {"client_credentials"}, "resource": {"https://graph.example.com"}}, true},
		{"grant type and params (Zoom)", func(m *inject.MintSpec) {
			m.GrantType = "account_credentials"
			m.Params = map[string]string{"account_id": "acc123"}
		}, url.Values{"grant_type": {"account_credentials"}, "account_id": {"acc123"}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := newTokenEndpoint(t, func(t *testing.T, r *http.Request, form url.Values) (int, any) {
				if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
					t.Errorf("Content-Type %q", ct)
				}
				id, secret, inHeader := basicCreds(t, r)
				if inHeader != tc.header {
					t.Errorf("client auth in header = %v, want %v", inHeader, tc.header)
				}
				if tc.header && (id != "client:one" || secret != "s3cret/with+chars") {
					t.Errorf("Basic client credentials do not match")
				}
				if got, want := form.Encode(), tc.want.Encode(); got != want {
					t.Errorf("form = %s, want %s", got, want)
				}
				return 200, nil
			})
			m := newMinter(t, te, nil, nil)
			tok, err := m.Token(context.Background(), ccRequest(te.srv.URL+"/oauth2/token", tc.mutate))
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value() != te.lastIssued() {
				t.Fatalf("token is not the issued one")
			}
			if strings.Contains(tok.String()+tok.GoString(), tok.Value()) {
				t.Fatal("Token prints its value")
			}
		})
	}
}

func TestReuseAndRefreshBeforeExpiry(t *testing.T) {
	te := newTokenEndpoint(t, func(*testing.T, *http.Request, url.Values) (int, any) { return 200, nil })
	clock := testclock.New()
	m := newMinter(t, te, clock, nil)
	req := ccRequest(te.srv.URL, nil)
	first, err := m.Token(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(58 * time.Minute) // 1 h token, refreshed in its last minute
	again, _ := m.Token(context.Background(), req)
	if again.Value() != first.Value() || te.requests.Load() != 1 {
		t.Fatalf("token not reused: %d requests", te.requests.Load())
	}
	clock.Advance(90 * time.Second)
	renewed, _ := m.Token(context.Background(), req)
	if renewed.Value() == first.Value() || te.requests.Load() != 2 {
		t.Fatalf("token not refreshed before expiry: %d requests", te.requests.Load())
	}
	req.Version = 2 // an admin rotated the secret: its token is not reused
	if rotated, _ := m.Token(context.Background(), req); rotated.Value() == renewed.Value() || te.requests.Load() != 3 {
		t.Fatal("a new secret version reused the old version's token")
	}
}

func TestOneRefreshForFiftyWaiters(t *testing.T) {
	te := newTokenEndpoint(t, func(*testing.T, *http.Request, url.Values) (int, any) { return 200, nil })
	clock := testclock.New()
	m := newMinter(t, te, clock, nil)
	req := ccRequest(te.srv.URL, nil)
	if _, err := m.Token(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	te.gate, te.arrived = make(chan struct{}), make(chan struct{}, 100)
	var wg sync.WaitGroup
	got := make([]string, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := m.Token(context.Background(), req)
			got[i], errs[i] = tok.Value(), err
		}()
	}
	// Wait until the one refresh is at the endpoint, then let it through;
	// waiters that arrive later find the new token in the cache.
	<-te.arrived
	close(te.gate)
	wg.Wait()
	if n := te.requests.Load(); n != 2 {
		t.Fatalf("%d token requests, want 2 (the first and one refresh)", n)
	}
	for i := range got {
		if errs[i] != nil || got[i] != te.lastIssued() {
			t.Fatalf("waiter %d: %v", i, errs[i])
		}
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   any
		reason string
	}{
		{"server error", 500, map[string]string{"error": "server_error", "error_description": "echo s3cret/with+chars"}, mint.ReasonRejected},
		{"invalid client", 401, map[string]string{"error": "invalid_client"}, mint.ReasonRejected},
		{"redirect not followed", 307, map[string]string{}, mint.ReasonRejected},
		{"no token", 200, map[string]string{"token_type": "Bearer"}, mint.ReasonBadAnswer},
		{"token with CRLF", 200, map[string]any{"access_token": "a\r\nX-Evil: 1", "expires_in": 60}, mint.ReasonBadAnswer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := newTokenEndpoint(t, func(_ *testing.T, _ *http.Request, _ url.Values) (int, any) { return tc.status, tc.body })
			m := newMinter(t, te, nil, nil)
			_, err := m.Token(context.Background(), ccRequest(te.srv.URL, nil))
			var me *mint.Error
			if !errors.As(err, &me) || me.Reason != tc.reason {
				t.Fatalf("err = %v, want reason %s", err, tc.reason)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "echo") {
				t.Fatalf("error text repeats the endpoint's answer: %v", err)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		never := make(chan struct{})
		te := newTokenEndpoint(t, func(*testing.T, *http.Request, url.Values) (int, any) {
			<-never // no answer while the test runs
			return 200, nil
		})
		t.Cleanup(func() { close(never) }) // runs before the server's Close
		m, err := mint.New(mint.Options{Transport: te.srv.Client().Transport, Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Token(context.Background(), ccRequest(te.srv.URL, nil))
		var me *mint.Error
		if !errors.As(err, &me) || me.Reason != mint.ReasonTimeout {
			t.Fatalf("err = %v, want %s", err, mint.ReasonTimeout)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		te := newTokenEndpoint(t, func(*testing.T, *http.Request, url.Values) (int, any) { return 200, nil })
		m := newMinter(t, te, nil, nil)
		u := te.srv.URL
		te.srv.Close()
		_, err := m.Token(context.Background(), ccRequest(u, nil))
		var me *mint.Error
		if !errors.As(err, &me) || me.Reason != mint.ReasonUnreachable {
			t.Fatalf("err = %v, want %s", err, mint.ReasonUnreachable)
		}
	})
}
