package inject

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Injector is a compiled Spec: it applies a credential to requests. It is
// immutable and shared by every request that uses the secret.
type Injector struct {
	typ      string
	fields   []string
	optional map[string]bool
	headers  []headerStep
	basic    *template // "user:password"
	query    []queryStep
	path     *pathStep
	defaults []StaticHeader // canonical names
	sigv4    *sigv4Step
	// mint is set for a minted type (mintspec.go): headers then render the
	// minted token, and multiLine names stored fields that may hold
	// newlines (they go to a token endpoint or a signer, never a header).
	mint      *MintSpec
	multiLine map[string]bool
}

type headerStep struct {
	name string // canonical
	tmpl template
}

// Env is what Apply needs besides the request and the secret.
type Env struct {
	Now time.Time
	// MaxSignedBody bounds how much of a body is held in memory to hash it
	// for a signature; a larger body fails with ErrBodyTooLarge.
	MaxSignedBody int64
	// Strip lists further headers Outbound removes before injecting
	// (Accept-Encoding, when the proxy must scan the answer for an echo).
	Strip []string
	// Upgrade, when set (UpgradeWebSocket), is the protocol the request
	// switches to: Outbound announces it again after removing the
	// hop-by-hop headers, before the credential goes in.
	Upgrade string
}

// Compile validates the spec and returns its compiled form. Errors wrap
// ErrInvalidSpec and say what is wrong and where.
func Compile(s Spec) (*Injector, error) {
	names, optional, err := s.FieldNames()
	if err != nil {
		return nil, err
	}
	in := &Injector{typ: s.Type, fields: append([]string(nil), names...), optional: optional}
	if err := s.checkMembers(); err != nil {
		return nil, err
	}
	switch s.Type {
	case TypeBearer:
		err = in.addHeader(orDefault(s.Header, "Authorization"), orDefault(s.Format, "Bearer {token}"))
	case TypeAPIKey:
		if s.Header == "" {
			return nil, fmt.Errorf("%w: type api_key needs a header name (--header, e.g. X-API-Key)", ErrInvalidSpec)
		}
		err = in.addHeader(s.Header, orDefault(s.Format, "{api_key}"))
	case TypeBasic:
		err = in.setBasic("{username}:{password}")
	case TypeCustom:
		err = in.compileCustom(s)
	case TypeAWSSigV4:
		in.sigv4, err = newSigV4Step(s)
	default:
		err = in.compileMint(s)
	}
	if err != nil {
		return nil, err
	}
	return in, nil
}

// checkMembers refuses Spec members the type would silently ignore: a
// stored spec says exactly what will be injected.
func (s Spec) checkMembers() error {
	used := map[string]bool{}
	switch s.Type {
	case TypeBearer, TypeAPIKey:
		used["header"], used["format"] = true, true
	case TypeCustom:
		used["fields"], used["headers"], used["query"], used["basic"], used["path"], used["defaults"] = true, true, true, true, true, true
	case TypeAWSSigV4:
		used["region"], used["service"], used["unsigned_payload"] = true, true, true
	default:
		if IsMinted(s.Type) {
			used["header"], used["format"], used["mint"] = true, true, true
		}
	}
	set := map[string]bool{
		"header": s.Header != "", "format": s.Format != "", "fields": len(s.Fields) > 0, "headers": len(s.Headers) > 0,
		"query": len(s.Query) > 0, "basic": s.Basic != "", "path": s.Path != "", "defaults": len(s.Defaults) > 0,
		"region": s.Region != "", "service": s.Service != "", "unsigned_payload": s.UnsignedPayload,
		"mint": s.Mint != nil,
	}
	for _, k := range []string{"header", "format", "fields", "headers", "query", "basic", "path", "defaults", "region", "service", "unsigned_payload", "mint"} {
		if set[k] && !used[k] {
			return fmt.Errorf("%w: type %s does not take %q", ErrInvalidSpec, s.Type, k)
		}
	}
	return nil
}

func (in *Injector) compileCustom(s Spec) error {
	seen := map[string]bool{}
	for _, f := range s.Fields {
		if err := checkFieldName(f); err != nil {
			return err
		}
		if seen[f] {
			return fmt.Errorf("%w: field %q listed twice", ErrInvalidSpec, f)
		}
		seen[f] = true
	}
	for i, r := range s.Headers {
		if err := in.addHeader(r.Name, r.Format); err != nil {
			return fmt.Errorf("headers[%d]: %w", i, err)
		}
	}
	for i, r := range s.Query {
		q, err := newQueryStep(r, in.fields)
		if err != nil {
			return fmt.Errorf("query[%d]: %w", i, err)
		}
		in.query = append(in.query, q)
	}
	if s.Basic != "" {
		if err := in.setBasic(s.Basic); err != nil {
			return err
		}
	}
	if s.Path != "" {
		p, err := newPathStep(s.Path, in.fields)
		if err != nil {
			return err
		}
		in.path = p
	}
	for i, d := range s.Defaults {
		canon, err := checkHeaderName(d.Name)
		if err != nil {
			return fmt.Errorf("defaults[%d]: %w", i, err)
		}
		if d.Value == "" || !validLiteral(d.Value) || strings.ContainsAny(d.Value, "{}") {
			return fmt.Errorf("%w: defaults[%d]: value of %s must be non-empty, printable text without {}", ErrInvalidSpec, i, canon)
		}
		in.defaults = append(in.defaults, StaticHeader{Name: canon, Value: d.Value})
	}
	if len(in.headers) == 0 && in.basic == nil && len(in.query) == 0 && in.path == nil {
		return fmt.Errorf("%w: a custom credential needs at least one header, query, basic or path rule", ErrInvalidSpec)
	}
	return in.checkEveryFieldUsed()
}

func (in *Injector) addHeader(name, format string) error {
	canon, err := checkHeaderName(name)
	if err != nil {
		return err
	}
	for _, h := range in.headers {
		if h.name == canon {
			return fmt.Errorf("%w: header %s set twice", ErrInvalidSpec, canon)
		}
	}
	if canon == "Authorization" && in.basic != nil {
		return fmt.Errorf("%w: Authorization is already set by the basic rule", ErrInvalidSpec)
	}
	t, err := parseTemplate(format, in.fields)
	if err != nil {
		return fmt.Errorf("%w: header %s: format %q: %v", ErrInvalidSpec, canon, format, err)
	}
	in.headers = append(in.headers, headerStep{name: canon, tmpl: t})
	return nil
}

func (in *Injector) setBasic(format string) error {
	for _, h := range in.headers {
		if h.name == "Authorization" {
			return fmt.Errorf("%w: Authorization is already set by a header rule", ErrInvalidSpec)
		}
	}
	if !strings.Contains(format, ":") {
		return fmt.Errorf("%w: basic %q must be user:password (with a ':')", ErrInvalidSpec, format)
	}
	t, err := parseTemplate(format, in.fields)
	if err != nil {
		return fmt.Errorf("%w: basic %q: %v", ErrInvalidSpec, format, err)
	}
	in.basic = &t
	return nil
}

// checkEveryFieldUsed refuses a custom spec that asks for a secret value it
// would never send: the user would store it for nothing.
func (in *Injector) checkEveryFieldUsed() error {
	used := map[string]bool{}
	mark := func(t template) {
		for _, p := range t.parts {
			used[p.field] = true
		}
	}
	for _, h := range in.headers {
		mark(h.tmpl)
	}
	for _, q := range in.query {
		mark(q.tmpl)
	}
	if in.basic != nil {
		mark(*in.basic)
	}
	if in.path != nil {
		mark(in.path.tmpl)
	}
	for _, f := range in.fields {
		if !used[f] {
			return fmt.Errorf("%w: field %q is used by no rule", ErrInvalidSpec, f)
		}
	}
	return nil
}

// Headers lists the headers the injector sets (for documentation and tests).
func (in *Injector) Headers() []string {
	var out []string
	for _, h := range in.headers {
		out = append(out, h.name)
	}
	if in.basic != nil || in.sigv4 != nil {
		out = append(out, "Authorization")
	}
	return out
}

// Type is the credential type.
func (in *Injector) Type() string { return in.typ }

// CheckFields validates secret values for this injector: every required
// field present and non-empty, no unknown fields, nothing that could break a
// header line. Errors name fields only.
func (in *Injector) CheckFields(f Fields) error {
	for _, name := range in.fields {
		v, ok := f[name]
		if !ok {
			if in.optional[name] {
				continue
			}
			return fmt.Errorf("%w: missing field %q (type %s wants: %s)", ErrInvalidFields, name, in.typ, in.wants())
		}
		check := checkValue
		if in.multiLine[name] {
			check = checkMultiLine
		}
		if err := check(name, v); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidFields, err)
		}
	}
	for name := range f {
		if !contains(in.fields, name) {
			return fmt.Errorf("%w: unexpected field %q (type %s wants: %s)", ErrInvalidFields, name, in.typ, in.wants())
		}
	}
	if in.typ == TypeBasic && strings.Contains(f["username"], ":") {
		return fmt.Errorf("%w: field \"username\" may not contain ':' (RFC 7617)", ErrInvalidFields)
	}
	if in.mint != nil {
		return in.checkMintFields(f)
	}
	return nil
}

func (in *Injector) wants() string {
	var out []string
	for _, f := range in.fields {
		if in.optional[f] {
			f += " (optional)"
		}
		out = append(out, f)
	}
	return strings.Join(out, ", ")
}

// Apply sets the credential on an outbound request: the proxy's own copy,
// after it removed hop-by-hop and X-Alter-* headers. Injected headers
// replace any the client sent under any spelling; defaults are set only
// where the client sent nothing; a signature comes last, so nothing changes
// the request after it is signed.
func (in *Injector) Apply(req *http.Request, f Fields, env Env) error {
	if in.mint != nil {
		// A minted type injects the minted token only: handed the stored
		// fields by mistake, it would send an empty credential.
		if len(f) != 1 || checkValue(MintedField, f[MintedField]) != nil {
			return ErrNotMinted
		}
	}
	for _, h := range in.headers {
		setHeader(req.Header, h.name, h.tmpl.render(f))
	}
	if in.basic != nil {
		setHeader(req.Header, "Authorization", "Basic "+basicValue(in.basic.render(f)))
	}
	for _, q := range in.query {
		q.apply(req.URL, f)
	}
	if in.path != nil {
		in.path.apply(req.URL, f)
	}
	for _, d := range in.defaults {
		if !hasHeader(req.Header, d.Name) {
			req.Header[d.Name] = []string{d.Value}
		}
	}
	if in.sigv4 != nil {
		return in.sigv4.apply(req, f, env)
	}
	return nil
}

// setHeader replaces every spelling of name with one value: a
// non-canonical key would otherwise survive beside ours and reach the
// upstream twice.
func setHeader(h http.Header, name, value string) {
	for k := range h {
		if strings.EqualFold(k, name) {
			delete(h, k)
		}
	}
	h[name] = []string{value}
}

func hasHeader(h http.Header, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
