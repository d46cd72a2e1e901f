package inject

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Credential types.
const (
	TypeBearer = "bearer"
	TypeAPIKey = "api_key"
	TypeBasic  = "basic"
)

// Types lists the credential types this build can inject.
func Types() []string { return []string{TypeBearer, TypeAPIKey, TypeBasic} }

// Spec is how a credential is injected. It holds no secret and is stored
// beside the sealed fields (integrity-protected, not encrypted).
type Spec struct {
	Type   string `json:"type"`
	Header string `json:"header,omitempty"` // header to set; the type's default when empty
	Format string `json:"format,omitempty"` // template with {field} placeholders; the type's default when empty
}

// ErrInvalidSpec is wrapped by every error about a Spec.
var ErrInvalidSpec = errors.New("invalid injection spec")

// ErrInvalidFields is wrapped by every error about secret values. Such errors
// name fields, never values.
var ErrInvalidFields = errors.New("invalid secret")

// typeInfo is what a credential type needs and injects by default.
type typeInfo struct {
	fields        []string
	defaultHeader string
	defaultFormat string
	formatAllowed bool
}

var types = map[string]typeInfo{
	TypeBearer: {fields: []string{"token"}, defaultHeader: "Authorization", defaultFormat: "Bearer {token}", formatAllowed: true},
	TypeAPIKey: {fields: []string{"api_key"}, defaultFormat: "{api_key}", formatAllowed: true},
	TypeBasic:  {fields: []string{"username", "password"}, defaultHeader: "Authorization"},
}

// reservedHeaders may never be chosen as an injection target: they frame the
// message, steer the proxy, or are removed before injection.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true, "Proxy-Connection": true,
	"Proxy-Authorization": true, "Proxy-Authenticate": true, "Content-Type": true,
}

// Fields returns the secret field names the spec's type requires, in the
// order a person is asked for them.
func (s Spec) Fields() ([]string, error) {
	ti, ok := types[s.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unknown credential type %q (known: %s)", ErrInvalidSpec, s.Type, strings.Join(Types(), ", "))
	}
	return append([]string(nil), ti.fields...), nil
}

// Injector is a compiled Spec: it applies a credential to requests.
type Injector struct {
	typ    string
	header string // canonical header name
	tmpl   template
}

// Compile validates the spec and returns its compiled form.
func Compile(s Spec) (*Injector, error) {
	ti, ok := types[s.Type]
	if !ok {
		return nil, fmt.Errorf("%w: unknown credential type %q (known: %s)", ErrInvalidSpec, s.Type, strings.Join(Types(), ", "))
	}
	header := s.Header
	if header == "" {
		header = ti.defaultHeader
	}
	if header == "" {
		return nil, fmt.Errorf("%w: type %s needs a header name (--header, e.g. X-API-Key)", ErrInvalidSpec, s.Type)
	}
	if !httpguts.ValidHeaderFieldName(header) {
		return nil, fmt.Errorf("%w: %q is not a valid header name", ErrInvalidSpec, header)
	}
	canon := http.CanonicalHeaderKey(header)
	if reservedHeaders[canon] || strings.HasPrefix(canon, "X-Alter-") {
		return nil, fmt.Errorf("%w: header %s cannot carry a credential", ErrInvalidSpec, canon)
	}
	format := s.Format
	if format != "" && !ti.formatAllowed {
		return nil, fmt.Errorf("%w: type %s does not take a format", ErrInvalidSpec, s.Type)
	}
	if format == "" {
		format = ti.defaultFormat
	}
	in := &Injector{typ: s.Type, header: canon}
	if ti.formatAllowed {
		t, err := parseTemplate(format, ti.fields)
		if err != nil {
			return nil, fmt.Errorf("%w: format %q: %v", ErrInvalidSpec, format, err)
		}
		in.tmpl = t
	}
	return in, nil
}

// Header is the header the injector sets.
func (in *Injector) Header() string { return in.header }

// CheckFields validates secret values for this injector: every required
// field present and non-empty, no unknown fields, nothing that could break a
// header line. Errors name fields only.
func (in *Injector) CheckFields(f Fields) error {
	want := types[in.typ].fields
	for _, name := range want {
		v, ok := f[name]
		if !ok {
			return fmt.Errorf("%w: missing field %q (type %s wants: %s)", ErrInvalidFields, name, in.typ, strings.Join(want, ", "))
		}
		if err := checkValue(name, v); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidFields, err)
		}
	}
	for name := range f {
		if !contains(want, name) {
			return fmt.Errorf("%w: unexpected field %q (type %s wants: %s)", ErrInvalidFields, name, in.typ, strings.Join(want, ", "))
		}
	}
	if in.typ == TypeBasic && strings.Contains(f["username"], ":") {
		return fmt.Errorf("%w: field \"username\" may not contain ':' (RFC 7617)", ErrInvalidFields)
	}
	return nil
}

// Apply sets the credential on an outbound request, replacing any header of
// the same name the client sent. The request must be the proxy's own copy.
func (in *Injector) Apply(req *http.Request, f Fields) {
	var value string
	if in.typ == TypeBasic {
		value = "Basic " + base64.StdEncoding.EncodeToString([]byte(f["username"]+":"+f["password"]))
	} else {
		value = in.tmpl.render(f)
	}
	// Delete every spelling first: a non-canonical key would otherwise
	// survive beside ours and reach the upstream twice.
	for k := range req.Header {
		if strings.EqualFold(k, in.header) {
			delete(req.Header, k)
		}
	}
	req.Header[in.header] = []string{value}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
