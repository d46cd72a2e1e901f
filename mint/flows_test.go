package mint_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testclock"
	"github.com/alter-sidecar/alter/internal/testkeys"
	"github.com/alter-sidecar/alter/mint"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// rotatingEndpoint accepts exactly one refresh token at a time and
// rotates it on every use, as Xero and QuickBooks do.
type rotatingEndpoint struct {
	mu    sync.Mutex
	valid string
	n     int
}

func (e *rotatingEndpoint) check(t *testing.T, r *http.Request, form url.Values) (int, any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if form.Get("grant_type") != "refresh_token" {
		t.Errorf("grant_type %q", form.Get("grant_type"))
	}
	if id, secret, ok := basicCreds(t, r); !ok || id != "xero-client" || secret != "xero-secret" {
		t.Errorf("client authentication is not the Basic header with the stored client")
	}
	if form.Get("refresh_token") != e.valid {
		return 400, map[string]string{"error": "invalid_grant"}
	}
	e.n++
	e.valid = "rt-" + itoa(int64(e.n)) + "-rotated"
	return 200, map[string]any{"access_token": "xero-at-" + itoa(int64(e.n)), "expires_in": 1800, "refresh_token": e.valid}
}

func openStore(t *testing.T, path string) *secretstore.FileStore {
	t.Helper()
	s, err := secretstore.OpenFile(path, testkeys.Fixed(7))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func resolveRequest(t *testing.T, s *secretstore.FileStore, grantID string) mint.Request {
	t.Helper()
	res, err := s.Resolve(context.Background(), grantID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return mint.Request{SecretID: res.Secret.ID, Version: res.Secret.Version, Spec: res.Secret.Spec, Fields: res.Fields}
}

func TestRefreshTokenRotationSurvivesRestart(t *testing.T) {
	ep := &rotatingEndpoint{valid: "rt-0-original"}
	te := newTokenEndpoint(t, ep.check)
	path := filepath.Join(t.TempDir(), "grants.json")
	store := openStore(t, path)
	spec := inject.Spec{Type: inject.TypeOAuth2RefreshToken, Mint: &inject.MintSpec{TokenURL: te.srv.URL + "/connect/token"}}
	g, err := store.Add(context.Background(), secretstore.NewSecret{Spec: spec,
		Fields: inject.Fields{"client_id": "xero-client", "client_secret": "xero-secret", "refresh_token": "rt-0-original"},
		Policy: policy.Spec{Destinations: []string{"api.xero.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	m := newMinter(t, te, nil, store)
	tok, err := m.Token(context.Background(), resolveRequest(t, store, g.ID))
	if err != nil || tok.Value() != "xero-at-1" {
		t.Fatalf("first mint: %v", err)
	}
	// The rotated token is in the file, sealed: a new store and minter
	// (a restarted proxy) refresh with it.
	store2 := openStore(t, path)
	req := resolveRequest(t, store2, g.ID)
	if req.Version != 2 || req.Fields["refresh_token"] != "rt-1-rotated" {
		t.Fatalf("after rotation the store holds version %d", req.Version)
	}
	m2 := newMinter(t, te, nil, store2)
	tok, err = m2.Token(context.Background(), req)
	if err != nil || tok.Value() != "xero-at-2" {
		t.Fatalf("mint after restart: %v", err)
	}
	if req := resolveRequest(t, openStore(t, path), g.ID); req.Fields["refresh_token"] != "rt-2-rotated" || req.Version != 3 {
		t.Fatal("the second rotation was not stored")
	}

	// The endpoint revokes the refresh token: the grant's credential is
	// unavailable with the reason, and the store is left as it was.
	ep.mu.Lock()
	ep.valid = "revoked-everything"
	ep.mu.Unlock()
	m3 := newMinter(t, te, nil, store2)
	_, err = m3.Token(context.Background(), resolveRequest(t, store2, g.ID))
	var me *mint.Error
	if !errors.As(err, &me) || me.Reason != mint.ReasonRevoked || me.Code != "invalid_grant" {
		t.Fatalf("revoked refresh token: %v", err)
	}
}

func TestReplaceFieldsRefusesAStaleVersion(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "grants.json"))
	spec := inject.Spec{Type: inject.TypeOAuth2RefreshToken, Mint: &inject.MintSpec{TokenURL: "https://identity.xero.com/connect/token"}}
	g, err := store.Add(context.Background(), secretstore.NewSecret{Spec: spec,
		Fields: inject.Fields{"client_id": "c", "refresh_token": "rt-one-1234"},
		Policy: policy.Spec{Destinations: []string{"api.xero.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	req := resolveRequest(t, store, g.ID)
	if err := store.Rotate(context.Background(), g.ID, inject.Fields{"client_id": "c", "refresh_token": "rt-admin-5678"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReplaceFields(context.Background(), req.SecretID, req.Version, inject.Fields{"client_id": "c", "refresh_token": "rt-late"}); !errors.Is(err, secretstore.ErrVersionChanged) {
		t.Fatalf("stale replace: %v", err)
	}
	if got := resolveRequest(t, store, g.ID).Fields["refresh_token"]; got != "rt-admin-5678" {
		t.Fatal("a stale replace overwrote the admin's rotation")
	}
}

// verifyJWT parses and checks a signed JWT with the public key, returning
// its header and claims.
func verifyJWT(t *testing.T, raw string, key any, alg string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{alg}), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
	if err != nil || !tok.Valid {
		t.Fatalf("JWT does not verify: %v", err)
	}
	return tok.Header, claims
}

func TestGoogleServiceAccount(t *testing.T) {
	key, keyPEM := rsaKeyPEM(t)
	saJSON, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "bot@proj.iam.gserviceaccount.com",
		"private_key_id": "kid-123", "private_key": keyPEM, "token_uri": "https://attacker.example/token"})
	cases := []struct {
		name     string
		ms       inject.MintSpec
		wantType string
	}{
		{"access token for scopes", inject.MintSpec{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}}, "access"},
		{"ID token for an audience", inject.MintSpec{Audience: "https://run.example.app"}, "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tokenURL string
			te := newTokenEndpoint(t, func(t *testing.T, r *http.Request, form url.Values) (int, any) {
				if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
					t.Errorf("grant_type %q", form.Get("grant_type"))
				}
				h, c := verifyJWT(t, form.Get("assertion"), &key.PublicKey, "RS256")
				if h["kid"] != "kid-123" || c["iss"] != "bot@proj.iam.gserviceaccount.com" || c["aud"] != tokenURL {
					t.Errorf("assertion header %v claims %v", h, c)
				}
				exp, _ := c.GetExpirationTime()
				iat, _ := c.GetIssuedAt()
				if exp == nil || iat == nil || exp.Sub(iat.Time) > time.Hour {
					t.Errorf("assertion lifetime")
				}
				switch tc.wantType {
				case "access":
					if c["scope"] != tc.ms.Scopes[0] || c["target_audience"] != nil {
						t.Errorf("scope claim %v", c["scope"])
					}
					return 200, nil
				default:
					if c["target_audience"] != tc.ms.Audience || c["scope"] != nil {
						t.Errorf("target_audience %v", c["target_audience"])
					}
					idt, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("google-signs-this-key"))
					return 200, map[string]any{"id_token": idt}
				}
			})
			tokenURL = te.srv.URL + "/token"
			tc.ms.TokenURL = tokenURL
			m := newMinter(t, te, nil, nil)
			tok, err := m.Token(context.Background(), mint.Request{SecretID: "g", Version: 1,
				Spec: inject.Spec{Type: inject.TypeGoogleServiceAccount, Mint: &tc.ms}, Fields: inject.Fields{"service_account_json": string(saJSON)}})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantType == "id" && strings.Count(tok.Value(), ".") != 2 {
				t.Fatal("not the ID token")
			}
		})
	}
}

func TestGitHubApp(t *testing.T) {
	key, keyPEM := rsaKeyPEM(t)
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/app/installations/4242/access_tokens" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if r.Header.Get("Accept") != "application/vnd.github+json" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		_, c := verifyJWT(t, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), &key.PublicKey, "RS256")
		exp, _ := c.GetExpirationTime()
		iat, _ := c.GetIssuedAt()
		if c["iss"] != "12345" || exp == nil || iat == nil || exp.Sub(iat.Time) > 10*time.Minute || time.Until(exp.Time) > 10*time.Minute {
			t.Errorf("app JWT claims %v", c)
		}
		body, _ := io.ReadAll(r.Body)
		if string(body) != `{"repositories":["alter"],"permissions":{"contents":"read"}}` {
			t.Errorf("body %s", body)
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": "ghs_installationtoken123", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	}))
	defer api.Close()
	m, err := mint.New(mint.Options{Transport: api.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	ms := &inject.MintSpec{TokenURL: api.URL, AppID: "12345", InstallationID: "4242",
		Repositories: []string{"alter"}, Permissions: map[string]string{"contents": "read"}}
	tok, err := m.Token(context.Background(), mint.Request{SecretID: "gh", Version: 1,
		Spec: inject.Spec{Type: inject.TypeGitHubApp, Mint: ms}, Fields: inject.Fields{"private_key": keyPEM}})
	if err != nil || tok.Value() != "ghs_installationtoken123" {
		t.Fatalf("installation token: %v", err)
	}
}

func TestSignedJWT(t *testing.T) {
	rk, rsaPEM := rsaKeyPEM(t)
	ek, ecPEM := ecKeyPEM(t)
	hsKey := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name   string
		ms     inject.MintSpec
		key    string
		verify any
	}{
		{"HS256 hex (Ghost)", inject.MintSpec{Algorithm: "HS256", KeyEncoding: "hex", KeyID: "ghost-id", Audience: "/admin/"}, hsKey, mustHex(hsKey)},
		{"RS256 (Snowflake)", inject.MintSpec{Algorithm: "RS256", Issuer: "ACC.USER.SHA256:abc", Subject: "ACC.USER", Lifetime: 3600}, rsaPEM, &rk.PublicKey},
		{"ES256 (App Store Connect)", inject.MintSpec{Algorithm: "ES256", KeyID: "2X9R4HXF34", Issuer: "57246542-96fe", Audience: "appstoreconnect-v1", Lifetime: 1200}, ecPEM, &ek.PublicKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mint.New(mint.Options{Transport: http.NewFileTransport(http.Dir(t.TempDir()))}) // never used: nothing is fetched
			if err != nil {
				t.Fatal(err)
			}
			req := mint.Request{SecretID: "j", Version: 1, Spec: inject.Spec{Type: inject.TypeJWT, Mint: &tc.ms}, Fields: inject.Fields{"key": tc.key}}
			tok, err := m.Token(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			h, c := verifyJWT(t, tok.Value(), tc.verify, tc.ms.Algorithm)
			if tc.ms.KeyID != "" && h["kid"] != tc.ms.KeyID {
				t.Errorf("kid %v", h["kid"])
			}
			for k, want := range map[string]string{"iss": tc.ms.Issuer, "sub": tc.ms.Subject, "aud": tc.ms.Audience} {
				if got, _ := c[k].(string); got != want {
					t.Errorf("%s = %v, want %q", k, c[k], want)
				}
			}
			exp, _ := c.GetExpirationTime()
			iat, _ := c.GetIssuedAt()
			lifetime := time.Duration(max(tc.ms.Lifetime, inject.DefaultJWTLifetime*boolInt(tc.ms.Lifetime == 0))) * time.Second
			if exp.Sub(iat.Time) != lifetime {
				t.Errorf("lifetime %v, want %v", exp.Sub(iat.Time), lifetime)
			}
			again, _ := m.Token(context.Background(), req)
			if again.Value() != tok.Value() {
				t.Error("a JWT is signed anew for every request without per_request")
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestPerRequestJWT(t *testing.T) {
	m, err := mint.New(mint.Options{Transport: http.NewFileTransport(http.Dir(t.TempDir()))})
	if err != nil {
		t.Fatal(err)
	}
	req := mint.Request{SecretID: "j", Version: 1, Fields: inject.Fields{"key": "0123456789abcdef0123"},
		Spec: inject.Spec{Type: inject.TypeJWT, Mint: &inject.MintSpec{Algorithm: "HS256", PerRequest: true}}}
	a, err := m.Token(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Token(context.Background(), req)
	if a.Value() == b.Value() {
		t.Fatal("per_request signed one JWT for two requests")
	}
	_, c := verifyJWT(t, b.Value(), []byte("0123456789abcdef0123"), "HS256")
	if jti, _ := c["jti"].(string); len(jti) != 32 {
		t.Fatalf("jti %v", c["jti"])
	}
}

// TestRotationWithoutARotator: a store that cannot keep a rotated refresh
// token (nil Rotator): the new one is used for the next refresh from
// memory, since the endpoint no longer takes the stored one.
func TestRotationWithoutARotator(t *testing.T) {
	ep := &rotatingEndpoint{valid: "rt-0-original"}
	te := newTokenEndpoint(t, ep.check)
	clock := testclock.New()
	m := newMinter(t, te, clock, nil)
	req := mint.Request{SecretID: "x", Version: 1,
		Spec:   inject.Spec{Type: inject.TypeOAuth2RefreshToken, Mint: &inject.MintSpec{TokenURL: te.srv.URL}},
		Fields: inject.Fields{"client_id": "xero-client", "client_secret": "xero-secret", "refresh_token": "rt-0-original"}}
	for i, want := range []string{"xero-at-1", "xero-at-2", "xero-at-3"} {
		tok, err := m.Token(context.Background(), req)
		if err != nil || tok.Value() != want {
			t.Fatalf("refresh %d: %v", i, err)
		}
		clock.Advance(time.Hour)
	}
}
