package inject

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Credential types.
const (
	TypeBearer   = "bearer"
	TypeAPIKey   = "api_key"
	TypeBasic    = "basic"
	TypeCustom   = "custom"
	TypeAWSSigV4 = "aws_sigv4"
)

// Types lists the credential types this build can inject.
func Types() []string {
	return []string{TypeBearer, TypeAPIKey, TypeBasic, TypeCustom, TypeAWSSigV4,
		TypeOAuth2ClientCredentials, TypeOAuth2RefreshToken, TypeGoogleServiceAccount, TypeGitHubApp, TypeJWT}
}

// Spec is how a credential is injected. It holds no secret and is stored
// beside the sealed fields (integrity-protected, not encrypted). Which
// members apply depends on Type; Compile refuses members a type does not use.
type Spec struct {
	Type string `json:"type"`

	// bearer and api_key: the header to set (the type's default when
	// empty) and its value template (the type's default when empty).
	Header string `json:"header,omitempty"`
	Format string `json:"format,omitempty"`

	// custom: the secret field names, then any number of rules using them.
	Fields   []string       `json:"fields,omitempty"`
	Headers  []Rule         `json:"headers,omitempty"`  // header name + value template
	Query    []Rule         `json:"query,omitempty"`    // query parameter name + value template
	Basic    string         `json:"basic,omitempty"`    // "user:password" template sent as Basic auth
	Path     string         `json:"path,omitempty"`     // first path segment template, e.g. "bot{token}"
	Defaults []StaticHeader `json:"defaults,omitempty"` // fixed headers set only when the client sent none

	// aws_sigv4: region and service, inferred from the host when empty;
	// UnsignedPayload signs "UNSIGNED-PAYLOAD" instead of hashing the body
	// (S3 accepts it, and the body then streams).
	Region          string `json:"region,omitempty"`
	Service         string `json:"service,omitempty"`
	UnsignedPayload bool   `json:"unsigned_payload,omitempty"`

	// Minted types (mintspec.go): how the short-lived token is obtained.
	// Header and Format then say where the minted {token} goes.
	Mint *MintSpec `json:"mint,omitempty"`
}

// Rule sets one header or query parameter from a template.
type Rule struct {
	Name   string `json:"name"`
	Format string `json:"format"`
}

// StaticHeader is a fixed, non-secret header value (for example an API
// version the upstream requires).
type StaticHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ErrInvalidSpec is wrapped by every error about a Spec.
var ErrInvalidSpec = errors.New("invalid injection spec")

// ErrInvalidFields is wrapped by every error about secret values. Such errors
// name fields, never values.
var ErrInvalidFields = errors.New("invalid secret")

// Field names of the built-in types.
var (
	bearerFields = []string{"token"}
	apiKeyFields = []string{"api_key"}
	basicFields  = []string{"username", "password"}
	awsFields    = []string{"access_key_id", "secret_access_key", "session_token"}
	awsOptional  = map[string]bool{"session_token": true}
)

// FieldNames returns the secret field names the spec wants, in the order a
// person is asked for them, and which of them may be left out.
func (s Spec) FieldNames() (names []string, optional map[string]bool, err error) {
	switch s.Type {
	case TypeBearer:
		return bearerFields, nil, nil
	case TypeAPIKey:
		return apiKeyFields, nil, nil
	case TypeBasic:
		return basicFields, nil, nil
	case TypeAWSSigV4:
		return awsFields, awsOptional, nil
	case TypeOAuth2ClientCredentials:
		return clientCredentialsFields, nil, nil
	case TypeOAuth2RefreshToken:
		return refreshFields, refreshOptional, nil
	case TypeGoogleServiceAccount:
		return googleFields, nil, nil
	case TypeGitHubApp:
		return githubAppFields, nil, nil
	case TypeJWT:
		return jwtFields, nil, nil
	case TypeCustom:
		if len(s.Fields) == 0 {
			return nil, nil, fmt.Errorf("%w: a custom credential names its fields (e.g. token, api_key)", ErrInvalidSpec)
		}
		return s.Fields, nil, nil
	}
	return nil, nil, unknownType(s.Type)
}

func unknownType(t string) error {
	return fmt.Errorf("%w: unknown credential type %q (known: %s)", ErrInvalidSpec, t, strings.Join(Types(), ", "))
}

// reservedHeaders may never be chosen as an injection target: they frame the
// message, steer the proxy, or are removed before injection.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true, "Proxy-Connection": true,
	"Proxy-Authorization": true, "Proxy-Authenticate": true, "Content-Type": true,
}

// checkHeaderName validates a header an injector will set.
func checkHeaderName(name string) (string, error) {
	if !httpguts.ValidHeaderFieldName(name) {
		return "", fmt.Errorf("%w: %q is not a valid header name", ErrInvalidSpec, name)
	}
	canon := http.CanonicalHeaderKey(name)
	if reservedHeaders[canon] || strings.HasPrefix(canon, "X-Alter-") {
		return "", fmt.Errorf("%w: header %s cannot carry a credential", ErrInvalidSpec, canon)
	}
	return canon, nil
}

// checkFieldName validates a custom field name: it appears in templates as
// {name}, so it is restricted to a simple identifier.
func checkFieldName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: field name %q must be 1 to 64 characters", ErrInvalidSpec, name)
	}
	for _, c := range name {
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			return fmt.Errorf("%w: field name %q may hold only a-z, 0-9 and _", ErrInvalidSpec, name)
		}
	}
	return nil
}
