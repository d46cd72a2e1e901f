package inject

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCompileMinted(t *testing.T) {
	cc := func(m MintSpec) Spec { return Spec{Type: TypeOAuth2ClientCredentials, Mint: &m} }
	cases := []struct {
		name string
		spec Spec
		bad  string // substring of the error; "" = compiles
	}{
		{"client credentials", cc(MintSpec{TokenURL: "https://login.example.com/token", Scopes: []string{"a", "b"}}), ""},
		{"no mint settings", Spec{Type: TypeOAuth2ClientCredentials}, "needs its mint settings"},
		{"no token url", cc(MintSpec{}), "needs token_url"},
		{"http token url", cc(MintSpec{TokenURL: "http://login.example.com/token"}), "https URL"},
		{"user info in token url", cc(MintSpec{TokenURL: "https://u:p@login.example.com/token"}), "https URL"},
		{"bad client auth", cc(MintSpec{TokenURL: "https://a.example/t", ClientAuth: "both"}), "client_auth"},
		{"scope with space", cc(MintSpec{TokenURL: "https://a.example/t", Scopes: []string{"a b"}}), "scopes[0]"},
		{"param overriding the secret", cc(MintSpec{TokenURL: "https://a.example/t", Params: map[string]string{"client_secret": "x"}}), "set by the type"},
		{"password as a parameter", cc(MintSpec{TokenURL: "https://a.example/t", GrantType: "password", Params: map[string]string{"username": "u", "password": "x"}}), "names a credential"},
		{"assertion as a parameter", cc(MintSpec{TokenURL: "https://a.example/t", Params: map[string]string{"client_assertion": "x"}}), "names a credential"},
		{"code as a parameter", cc(MintSpec{TokenURL: "https://a.example/t", Params: map[string]string{"code_verifier": "x"}}), "names a credential"},
		{"account id parameter (Zoom)", cc(MintSpec{TokenURL: "https://a.example/t", Params: map[string]string{"account_id": "acc"}}), ""},
		{"member of another type", cc(MintSpec{TokenURL: "https://a.example/t", AppID: "1"}), `does not take "app_id"`},
		{"refresh", Spec{Type: TypeOAuth2RefreshToken, Mint: &MintSpec{TokenURL: "https://identity.xero.com/connect/token"}}, ""},
		{"google needs scopes or audience", Spec{Type: TypeGoogleServiceAccount, Mint: &MintSpec{}}, "needs scopes"},
		{"google both", Spec{Type: TypeGoogleServiceAccount, Mint: &MintSpec{Scopes: []string{"s"}, Audience: "a"}}, "not both"},
		{"github", Spec{Type: TypeGitHubApp, Mint: &MintSpec{AppID: "12", InstallationID: "34", Permissions: map[string]string{"contents": "read"}}}, ""},
		{"github bad permission", Spec{Type: TypeGitHubApp, Mint: &MintSpec{AppID: "12", InstallationID: "34", Permissions: map[string]string{"contents": "all"}}}, "permissions"},
		{"github no installation", Spec{Type: TypeGitHubApp, Mint: &MintSpec{AppID: "12"}}, "installation_id"},
		{"jwt", Spec{Type: TypeJWT, Header: "X-Token", Format: "Ghost {token}", Mint: &MintSpec{Algorithm: "HS256", KeyEncoding: "hex"}}, ""},
		{"jwt none", Spec{Type: TypeJWT, Mint: &MintSpec{Algorithm: "none"}}, "algorithm"},
		{"jwt too long", Spec{Type: TypeJWT, Mint: &MintSpec{Algorithm: "RS256", Lifetime: 86400}}, "lifetime"},
		{"format without token", Spec{Type: TypeJWT, Format: "Bearer", Mint: &MintSpec{Algorithm: "RS256"}}, "{token}"},
		{"format naming a stored field", Spec{Type: TypeOAuth2ClientCredentials, Format: "{client_secret}", Mint: &MintSpec{TokenURL: "https://a.example/t"}}, "unknown placeholder"},
		{"reserved header", Spec{Type: TypeJWT, Header: "Host", Mint: &MintSpec{Algorithm: "RS256"}}, "cannot carry"},
		{"mint on a plain type", Spec{Type: TypeBearer, Mint: &MintSpec{}}, `does not take "mint"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.spec)
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("Compile: %v", err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad) || !errors.Is(err, ErrInvalidSpec)):
				t.Fatalf("Compile error %v, want one containing %q", err, tc.bad)
			}
		})
	}
}

func TestMintedInjectorInjectsOnlyTheToken(t *testing.T) {
	in, err := Compile(Spec{Type: TypeOAuth2ClientCredentials, Mint: &MintSpec{TokenURL: "https://a.example/t"}})
	if err != nil {
		t.Fatal(err)
	}
	stored := Fields{"client_id": "id-1234567", "client_secret": "secret-123456"}
	if err := in.CheckFields(stored); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "https://api.example.com/", nil)
	if err := in.Apply(req, stored, Env{}); !errors.Is(err, ErrNotMinted) {
		t.Fatalf("Apply with the stored fields: %v", err)
	}
	if err := in.Apply(req, Fields{MintedField: "minted-token-abc"}, Env{}); err != nil || req.Header.Get("Authorization") != "Bearer minted-token-abc" {
		t.Fatalf("Apply: %v, %q", err, req.Header.Get("Authorization"))
	}
	forms := in.Secrets(Fields{MintedField: "minted-token-abc"})
	if len(forms) != 2 || forms[0] != "Bearer minted-token-abc" || forms[1] != "minted-token-abc" {
		t.Fatalf("echo forms %q", forms)
	}
}

func TestMintedFieldChecks(t *testing.T) {
	gh, _ := Compile(Spec{Type: TypeGitHubApp, Mint: &MintSpec{AppID: "1", InstallationID: "2"}})
	if err := gh.CheckFields(Fields{"private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"}); err == nil || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("a broken PEM key: %v", err)
	}
	g, _ := Compile(Spec{Type: TypeGoogleServiceAccount, Mint: &MintSpec{Scopes: []string{"s"}}})
	if err := g.CheckFields(Fields{"service_account_json": `{"type":"authorized_user","client_email":"x"}`}); err == nil || !strings.Contains(err.Error(), "service_account") {
		t.Fatalf("a user credential file: %v", err)
	}
	j, _ := Compile(Spec{Type: TypeJWT, Mint: &MintSpec{Algorithm: "HS256"}})
	if err := j.CheckFields(Fields{"key": "short"}); err == nil {
		t.Fatal("a 5-byte HS256 key was accepted")
	}
}
