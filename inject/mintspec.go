package inject

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Minted credential types: the stored secret is not what reaches the API.
// The proxy (package mint) exchanges it for a short-lived token, or signs
// one, and injects that token; the long-lived secret goes only to the token
// endpoint fixed by the spec, never to the API and never to the application.
const (
	TypeOAuth2ClientCredentials = "oauth2_client_credentials"
	TypeOAuth2RefreshToken      = "oauth2_refresh_token"
	TypeGoogleServiceAccount    = "google_service_account"
	TypeGitHubApp               = "github_app"
	TypeJWT                     = "jwt"
)

// MintedField is the one field a minted credential's injector reads at
// request time: the minted token, never a stored value.
const MintedField = "token"

// MintSpec is how a minted credential is obtained. It holds no secret; like
// the rest of the Spec it is stored beside the sealed fields and MAC'd, so
// where the long-lived secret is sent is fixed when the secret is added.
type MintSpec struct {
	// oauth2_*: the token endpoint (https). google_service_account: the
	// token endpoint (default GoogleTokenURL; the key file's token_uri is
	// not used). github_app: the API base URL (default GitHubAPIURL).
	TokenURL string   `json:"token_url,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	// Audience: oauth2_client_credentials sends it as "audience" (Auth0);
	// google_service_account asks for an ID token for it instead of an
	// access token; jwt puts it in the aud claim.
	Audience string `json:"audience,omitempty"`
	// Resource is the RFC 8707 resource indicator (oauth2_client_credentials).
	Resource string `json:"resource,omitempty"`
	// ClientAuth is where the client id and secret go: "header" (HTTP Basic,
	// RFC 6749 section 2.3.1, the default) or "body" (client_secret_post).
	ClientAuth string `json:"client_auth,omitempty"`
	// GrantType overrides client_credentials for endpoints that use the same
	// exchange under another name (Zoom's account_credentials).
	GrantType string `json:"grant_type,omitempty"`
	// Params are further non-secret token request parameters (Zoom's
	// account_id).
	Params map[string]string `json:"params,omitempty"`

	// github_app: the app's id (or client id), the installation, and the
	// optional narrowing of the installation token.
	AppID          string            `json:"app_id,omitempty"`
	InstallationID string            `json:"installation_id,omitempty"`
	Repositories   []string          `json:"repositories,omitempty"`
	Permissions    map[string]string `json:"permissions,omitempty"`

	// jwt: the signing algorithm (HS256, RS256, ES256), the key id put in
	// the header, the claims, the lifetime in seconds (default 300), and
	// whether the key field is hex or base64 (HS256 only; default raw).
	// PerRequest signs a new JWT for every request instead of reusing one
	// until shortly before it expires.
	Algorithm   string `json:"algorithm,omitempty"`
	KeyID       string `json:"key_id,omitempty"`
	Issuer      string `json:"issuer,omitempty"`
	Subject     string `json:"subject,omitempty"`
	Lifetime    int    `json:"lifetime_seconds,omitempty"`
	KeyEncoding string `json:"key_encoding,omitempty"`
	PerRequest  bool   `json:"per_request,omitempty"`
}

// Default endpoints.
const (
	GoogleTokenURL = "https://oauth2.googleapis.com/token"
	GitHubAPIURL   = "https://api.github.com"
)

// JWT limits: a signed token that lives long is a long-lived secret again.
const (
	DefaultJWTLifetime = 300
	MaxJWTLifetime     = 3600
)

// Field names of the minted types, and the fields holding multi-line text
// (PEM keys, a JSON key file), which never go on a header line.
var (
	clientCredentialsFields = []string{"client_id", "client_secret"}
	refreshFields           = []string{"client_id", "client_secret", "refresh_token"}
	refreshOptional         = map[string]bool{"client_secret": true}
	googleFields            = []string{"service_account_json"}
	githubAppFields         = []string{"private_key"}
	jwtFields               = []string{"key"}
	multiLineFields         = map[string]bool{"service_account_json": true, "private_key": true, "key": true}
)

// IsMinted reports whether t is a minted credential type.
func IsMinted(t string) bool {
	switch t {
	case TypeOAuth2ClientCredentials, TypeOAuth2RefreshToken, TypeGoogleServiceAccount, TypeGitHubApp, TypeJWT:
		return true
	}
	return false
}

var (
	numericRE   = regexp.MustCompile(`^[0-9]{1,20}$`)
	appIDRE     = regexp.MustCompile(`^([0-9]{1,20}|Iv[0-9A-Za-z.]{1,60})$`)
	repoRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	permNameRE  = regexp.MustCompile(`^[a-z_]{1,64}$`)
	paramNameRE = regexp.MustCompile(`^[a-z_]{1,64}$`)
)

// compileMint checks a minted type's spec and sets up its injection: the
// header (default Authorization) and format (default "Bearer {token}")
// with {token} the minted token.
func (in *Injector) compileMint(s Spec) error {
	if s.Mint == nil {
		return fmt.Errorf("%w: type %s needs its mint settings (token_url, ...)", ErrInvalidSpec, s.Type)
	}
	m := *s.Mint
	if err := m.check(s.Type); err != nil {
		return err
	}
	in.mint = &m
	in.multiLine = multiLineFields
	t, err := parseTemplate(orDefault(s.Format, "Bearer {token}"), []string{MintedField})
	if err != nil {
		return fmt.Errorf("%w: format %q: %v", ErrInvalidSpec, s.Format, err)
	}
	if len(t.parts) == 0 || !templateUses(t, MintedField) {
		return fmt.Errorf("%w: format %q must contain {token}", ErrInvalidSpec, s.Format)
	}
	canon, err := checkHeaderName(orDefault(s.Header, "Authorization"))
	if err != nil {
		return err
	}
	in.headers = []headerStep{{name: canon, tmpl: t}}
	return nil
}

func templateUses(t template, field string) bool {
	for _, p := range t.parts {
		if p.field == field {
			return true
		}
	}
	return false
}

// used lists the MintSpec members each type reads; check refuses the rest.
var mintMembers = map[string][]string{
	TypeOAuth2ClientCredentials: {"token_url", "scopes", "audience", "resource", "client_auth", "grant_type", "params"},
	TypeOAuth2RefreshToken:      {"token_url", "client_auth"},
	TypeGoogleServiceAccount:    {"token_url", "scopes", "audience", "subject"},
	TypeGitHubApp:               {"token_url", "app_id", "installation_id", "repositories", "permissions"},
	TypeJWT:                     {"algorithm", "key_id", "issuer", "subject", "audience", "lifetime_seconds", "key_encoding", "per_request"},
}

func (m MintSpec) set() map[string]bool {
	return map[string]bool{
		"token_url": m.TokenURL != "", "scopes": len(m.Scopes) > 0, "audience": m.Audience != "",
		"resource": m.Resource != "", "client_auth": m.ClientAuth != "", "grant_type": m.GrantType != "",
		"params": len(m.Params) > 0, "app_id": m.AppID != "", "installation_id": m.InstallationID != "",
		"repositories": len(m.Repositories) > 0, "permissions": len(m.Permissions) > 0,
		"algorithm": m.Algorithm != "", "key_id": m.KeyID != "", "issuer": m.Issuer != "",
		"subject": m.Subject != "", "lifetime_seconds": m.Lifetime != 0, "key_encoding": m.KeyEncoding != "",
		"per_request": m.PerRequest,
	}
}

// check validates the members of a minted type.
func (m MintSpec) check(typ string) error {
	set := m.set()
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if set[k] && !slices.Contains(mintMembers[typ], k) {
			return fmt.Errorf("%w: type %s does not take %q", ErrInvalidSpec, typ, k)
		}
	}
	for what, v := range map[string]string{"audience": m.Audience, "resource": m.Resource, "issuer": m.Issuer, "subject": m.Subject, "key_id": m.KeyID, "grant_type": m.GrantType} {
		if !validLiteral(v) || len(v) > 1024 {
			return fmt.Errorf("%w: %s must be printable text of at most 1024 bytes", ErrInvalidSpec, what)
		}
	}
	for i, sc := range m.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t") || !validLiteral(sc) {
			return fmt.Errorf("%w: scopes[%d] %q must be one non-empty scope without spaces", ErrInvalidSpec, i, sc)
		}
	}
	for k, v := range m.Params {
		if !paramNameRE.MatchString(k) || !validLiteral(v) || v == "" {
			return fmt.Errorf("%w: params: %q must be a lower-case name with a printable value", ErrInvalidSpec, k)
		}
		switch k {
		case "grant_type", "scope", "client_id", "client_secret", "refresh_token", "assertion", "audience", "resource":
			return fmt.Errorf("%w: params: %q is set by the type, not as a parameter", ErrInvalidSpec, k)
		}
		if credentialName(k) {
			// The spec is stored unsealed and given on the command line
			// (visible in ps): a secret belongs in the fields, on stdin.
			return fmt.Errorf("%w: params: %q names a credential; parameters are not secret (a secret goes in the fields, on stdin)", ErrInvalidSpec, k)
		}
	}
	switch m.ClientAuth {
	case "", "header", "body":
	default:
		return fmt.Errorf("%w: client_auth %q: want header or body", ErrInvalidSpec, m.ClientAuth)
	}
	switch typ {
	case TypeOAuth2ClientCredentials, TypeOAuth2RefreshToken:
		if m.TokenURL == "" {
			return fmt.Errorf("%w: type %s needs token_url (--param token_url=https://...)", ErrInvalidSpec, typ)
		}
		return checkTokenURL("token_url", m.TokenURL)
	case TypeGoogleServiceAccount:
		if m.TokenURL != "" {
			return checkTokenURL("token_url", m.TokenURL)
		}
		if len(m.Scopes) == 0 && m.Audience == "" {
			return fmt.Errorf("%w: type %s needs scopes (an access token) or an audience (an ID token)", ErrInvalidSpec, typ)
		}
		if len(m.Scopes) > 0 && m.Audience != "" {
			return fmt.Errorf("%w: type %s takes scopes (an access token) or an audience (an ID token), not both", ErrInvalidSpec, typ)
		}
	case TypeGitHubApp:
		return m.checkGitHub()
	case TypeJWT:
		return m.checkJWT()
	}
	return nil
}

func (m MintSpec) checkGitHub() error {
	if m.TokenURL != "" {
		if err := checkTokenURL("token_url", m.TokenURL); err != nil {
			return err
		}
	}
	if !appIDRE.MatchString(m.AppID) {
		return fmt.Errorf("%w: github_app needs app_id (the app's numeric id or its client id Iv...)", ErrInvalidSpec)
	}
	if !numericRE.MatchString(m.InstallationID) {
		return fmt.Errorf("%w: github_app needs installation_id (a number)", ErrInvalidSpec)
	}
	for i, r := range m.Repositories {
		if !repoRE.MatchString(r) {
			return fmt.Errorf("%w: repositories[%d] %q: want a repository name (no owner)", ErrInvalidSpec, i, r)
		}
	}
	for k, v := range m.Permissions {
		if !permNameRE.MatchString(k) || (v != "read" && v != "write" && v != "admin") {
			return fmt.Errorf("%w: permissions: %q=%q: want a permission name and read, write or admin", ErrInvalidSpec, k, v)
		}
	}
	return nil
}

func (m MintSpec) checkJWT() error {
	switch m.Algorithm {
	case "HS256", "RS256", "ES256":
	default:
		return fmt.Errorf("%w: jwt needs algorithm HS256, RS256 or ES256, not %q", ErrInvalidSpec, m.Algorithm)
	}
	if m.Lifetime < 0 || m.Lifetime > MaxJWTLifetime {
		return fmt.Errorf("%w: jwt lifetime_seconds %d: want 1 to %d", ErrInvalidSpec, m.Lifetime, MaxJWTLifetime)
	}
	switch m.KeyEncoding {
	case "":
	case "hex", "base64":
		if m.Algorithm != "HS256" {
			return fmt.Errorf("%w: key_encoding applies to HS256 only", ErrInvalidSpec)
		}
	default:
		return fmt.Errorf("%w: key_encoding %q: want hex or base64", ErrInvalidSpec, m.KeyEncoding)
	}
	return nil
}

// credentialName reports whether a token request parameter's name says it
// carries a secret (password, client_assertion, subject_token, code, ...).
func credentialName(k string) bool {
	for _, w := range []string{"secret", "password", "passwd", "token", "assertion", "key", "code", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// checkTokenURL accepts an https URL with a host and nothing that could
// carry credentials or be read two ways (user info, fragment).
func checkTokenURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" || !validLiteral(raw) {
		return fmt.Errorf("%w: %s %q must be an https URL with a host and no user info or fragment", ErrInvalidSpec, what, raw)
	}
	return nil
}

// Mint returns the minted credential's settings; ok is false for a type
// whose stored fields are injected as they are.
func (in *Injector) Mint() (m MintSpec, ok bool) {
	if in.mint == nil {
		return MintSpec{}, false
	}
	return *in.mint, true
}
