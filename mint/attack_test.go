package mint_test

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/alter-sidecar/alter/mint"
)

// Attacks on the minter (issue 20 review): where the long-lived secret can
// go, what a hostile token endpoint can make it cache or inject, and what
// survives a failure.

// TestRedirectsNeverCarryTheSecret: a token endpoint answering 301, 302,
// 303, 307 or 308 to another host gets a refusal, and the other host is
// never asked, in every flow that sends a long-lived secret or an
// assertion signed with one.
func TestRedirectsNeverCarryTheSecret(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	_, keyPEM := rsaKeyPEM(t)
	saJSON, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "bot@p.iam.gserviceaccount.com",
		"private_key_id": "k", "private_key": keyPEM})
	flows := []struct {
		name string
		req  func(tokenURL string) mint.Request
	}{
		{"client credentials", func(u string) mint.Request { return ccRequest(u, nil) }},
		{"refresh token", func(u string) mint.Request {
			return mint.Request{SecretID: "r", Version: 1, Spec: inject.Spec{Type: inject.TypeOAuth2RefreshToken, Mint: &inject.MintSpec{TokenURL: u}},
				Fields: inject.Fields{"client_id": "c", "client_secret": "s", "refresh_token": "rt"}}
		}},
		{"service account", func(u string) mint.Request {
			return mint.Request{SecretID: "g", Version: 1, Spec: inject.Spec{Type: inject.TypeGoogleServiceAccount,
				Mint: &inject.MintSpec{TokenURL: u, Scopes: []string{"s"}}}, Fields: inject.Fields{"service_account_json": string(saJSON)}}
		}},
		{"github app", func(u string) mint.Request {
			return mint.Request{SecretID: "h", Version: 1, Spec: inject.Spec{Type: inject.TypeGitHubApp,
				Mint: &inject.MintSpec{TokenURL: u, AppID: "1", InstallationID: "2"}}, Fields: inject.Fields{"private_key": keyPEM}}
		}},
	}
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, f := range flows {
			t.Run(f.name+"/"+itoa(int64(status)), func(t *testing.T) {
				src := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, other.URL+"/steal", status)
				}))
				defer src.Close()
				m, err := mint.New(mint.Options{Transport: src.Client().Transport})
				if err != nil {
					t.Fatal(err)
				}
				_, err = m.Token(context.Background(), f.req(src.URL+"/token"))
				var me *mint.Error
				if !errors.As(err, &me) || me.Reason != mint.ReasonRejected {
					t.Fatalf("err = %v, want %s", err, mint.ReasonRejected)
				}
				if elsewhere.Load() != 0 {
					t.Fatal("the redirect was followed")
				}
			})
		}
	}
}

// TestHostileTokenAnswers: what a token endpoint answers with 200 but is
// not a token to put on a header line is refused, and nothing of it is in
// the error.
func TestHostileTokenAnswers(t *testing.T) {
	huge := strings.Repeat("a", 10<<20)
	cases := []struct {
		name string
		ct   string
		body string
	}{
		{"10 MB token", "application/json", `{"access_token":"` + huge + `","expires_in":60}`},
		{"not JSON", "application/json", `<html>s3cret</html>`},
		{"no access_token", "application/json", `{"token_type":"Bearer","expires_in":60}`},
		{"token with LF", "application/json", `{"access_token":"a\nX-Evil: 1"}`},
		{"token with NUL", "application/json", `{"access_token":"a\u0000b"}`},
		{"token with tab", "application/json", `{"access_token":"a\tb"}`},
		{"token with DEL", "application/json", `{"access_token":"a\u007fb"}`},
		{"token with non-ASCII", "application/json", `{"access_token":"a\u00e9b"}`},
		{"token with space", "application/json", `{"access_token":"a b"}`},
		{"form answer with CRLF", "application/x-www-form-urlencoded", `access_token=a%0D%0AX-Evil%3A+1`},
		{"error code with 200", "application/json", `{"access_token":"x","error":"invalid_client","error_description":"s3cret"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ct)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			m, err := mint.New(mint.Options{Transport: srv.Client().Transport})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := m.Token(context.Background(), ccRequest(srv.URL, nil))
			var me *mint.Error
			if !errors.As(err, &me) {
				t.Fatalf("minted %d bytes, err %v", len(tok.Value()), err)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "Evil") || len(err.Error()) > 200 {
				t.Fatalf("error text repeats the answer: %.200s", err.Error())
			}
		})
	}
}

// TestTokenLifetimeBounds: the lifetime a token is cached for follows
// expires_in, defaults when it is absent or not in the future, and is
// bounded when it is absurd, so a token endpoint cannot make the proxy
// keep one token forever.
func TestTokenLifetimeBounds(t *testing.T) {
	cases := []struct {
		name      string
		expiresIn any
		min, max  time.Duration
	}{
		{"absent", nil, 4 * time.Minute, 5*time.Minute + time.Second},
		{"negative", -100, 4 * time.Minute, 5*time.Minute + time.Second},
		{"one hour", 3600, 59 * time.Minute, time.Hour + time.Second},
		{"as a string (PayPal)", "3600", 59 * time.Minute, time.Hour + time.Second},
		{"68 years", int64(1) << 40, time.Hour, mint.MaxLifetime + time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := newTokenEndpoint(t, func(*testing.T, *http.Request, url.Values) (int, any) {
				body := map[string]any{"access_token": "tok", "token_type": "Bearer"}
				if tc.expiresIn != nil {
					body["expires_in"] = tc.expiresIn
				}
				return 200, body
			})
			clock := testclock.New()
			m := newMinter(t, te, clock, nil)
			tok, err := m.Token(context.Background(), ccRequest(te.srv.URL, nil))
			if err != nil {
				t.Fatal(err)
			}
			if life := tok.Expiry.Sub(clock.Now()); life < tc.min || life > tc.max {
				t.Fatalf("cached for %v, want %v to %v", life, tc.min, tc.max)
			}
		})
	}
}

// TestFailedRefreshKeepsTheUnstoredRotatedToken: a refresh token the
// endpoint rotated but the store could not keep lives only in memory. A
// later refresh that fails for a passing reason (the endpoint is down for
// a moment) must not forget it: the stored one no longer works, so losing
// it would lose the credential until an admin adds a new refresh token.
func TestFailedRefreshKeepsTheUnstoredRotatedToken(t *testing.T) {
	ep := &rotatingEndpoint{valid: "rt-0-original"}
	var down atomic.Bool
	te := newTokenEndpoint(t, func(t *testing.T, r *http.Request, form url.Values) (int, any) {
		if down.Load() {
			return 503, map[string]string{"error": "temporarily_unavailable"}
		}
		return ep.check(t, r, form)
	})
	clock := testclock.New()
	m := newMinter(t, te, clock, failingRotator{})
	req := mint.Request{SecretID: "x", Version: 1,
		Spec:   inject.Spec{Type: inject.TypeOAuth2RefreshToken, Mint: &inject.MintSpec{TokenURL: te.srv.URL}},
		Fields: inject.Fields{"client_id": "xero-client", "client_secret": "xero-secret", "refresh_token": "rt-0-original"}}
	if tok, err := m.Token(context.Background(), req); err != nil || tok.Value() != "xero-at-1" {
		t.Fatalf("first mint: %v", err)
	}
	clock.Advance(time.Hour)
	down.Store(true)
	var me *mint.Error
	if _, err := m.Token(context.Background(), req); !errors.As(err, &me) || me.Reason != mint.ReasonRejected {
		t.Fatalf("refresh while the endpoint is down: %v", err)
	}
	down.Store(false)
	clock.Advance(time.Second) // past the pause after a failure (TestFailurePause)
	if tok, err := m.Token(context.Background(), req); err != nil || tok.Value() != "xero-at-2" {
		t.Fatalf("refresh after the endpoint is back: %v (the rotated refresh token was forgotten)", err)
	}
}

// failingRotator is a store that cannot write (disk full, database down).
type failingRotator struct{}

func (failingRotator) ReplaceFields(context.Context, string, int, inject.Fields) (int, error) {
	return 0, errors.New("store unavailable")
}

// TestNewVersionDoesNotJoinTheOldVersionsFlight: while a token request for
// version 1 of a secret is in flight, a request for version 2 (an admin
// rotated the secret: another client, perhaps another tenant) must get a
// token minted with version 2, not the answer to version 1's request.
func TestNewVersionDoesNotJoinTheOldVersionsFlight(t *testing.T) {
	te := newTokenEndpoint(t, func(t *testing.T, r *http.Request, _ url.Values) (int, any) {
		_, secret, _ := basicCreds(t, r)
		return 200, map[string]any{"access_token": "token-for-" + secret, "expires_in": 3600}
	})
	te.gate, te.arrived = make(chan struct{}), make(chan struct{}, 4)
	m := newMinter(t, te, nil, nil)
	v1 := ccRequest(te.srv.URL, nil)
	v1.Fields["client_secret"] = "one"
	v2 := ccRequest(te.srv.URL, nil)
	v2.Version, v2.Fields = 2, inject.Fields{"client_id": "client:one", "client_secret": "two"}

	done1 := make(chan mint.Token, 1)
	go func() {
		tok, _ := m.Token(context.Background(), v1)
		done1 <- tok
	}()
	<-te.arrived // version 1's request is at the endpoint
	done2 := make(chan mint.Token, 1)
	v2ctx := &waitingContext{Context: context.Background(), waiting: make(chan struct{})}
	go func() {
		tok, _ := m.Token(v2ctx, v2)
		done2 <- tok
	}()
	<-v2ctx.waiting // version 2's request waits on a flight: version 1's
	close(te.gate)
	if tok := <-done1; tok.Value() != "token-for-one" {
		t.Fatalf("version 1 got %q", tok.Value())
	}
	if tok := <-done2; tok.Value() != "token-for-two" {
		t.Fatalf("version 2 got %q: the token minted with version 1's secret", tok.Value())
	}
}

// waitingContext tells when a Token call first waits on it: Token asks
// for Done only once it has joined a flight and waits for its answer.
type waitingContext struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func (c *waitingContext) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}
