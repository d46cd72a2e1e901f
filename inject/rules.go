package inject

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// queryStep sets one query parameter. The client's other parameters are
// kept byte for byte; any parameter of the same name is replaced.
type queryStep struct {
	name string
	tmpl template
}

func newQueryStep(r Rule, fields []string) (queryStep, error) {
	if r.Name == "" || strings.ContainsAny(r.Name, "&=#?+% \t") || !validLiteral(r.Name) {
		return queryStep{}, fmt.Errorf("%w: %q is not a plain query parameter name", ErrInvalidSpec, r.Name)
	}
	t, err := parseTemplate(r.Format, fields)
	if err != nil {
		return queryStep{}, fmt.Errorf("%w: query %s: format %q: %v", ErrInvalidSpec, r.Name, r.Format, err)
	}
	return queryStep{name: r.Name, tmpl: t}, nil
}

func (q queryStep) apply(u *url.URL, f Fields) {
	var kept []string
	if u.RawQuery != "" {
		for _, pair := range strings.Split(u.RawQuery, "&") {
			key, _, _ := strings.Cut(pair, "=")
			if k, err := url.QueryUnescape(key); err == nil && k == q.name {
				continue
			}
			if key == q.name {
				continue
			}
			kept = append(kept, pair)
		}
	}
	kept = append(kept, q.name+"="+url.QueryEscape(q.tmpl.render(f)))
	u.RawQuery = strings.Join(kept, "&")
}

// pathStep puts a credential in the first path segment, as Telegram's
// /bot{token}/METHOD does. When the client's first segment starts with the
// template's literal prefix ("bot", so "/bot/getMe" or "/botPLACEHOLDER/getMe")
// that segment is replaced; otherwise the segment is inserted in front
// ("/getMe" becomes "/bot<token>/getMe"). The audit record keeps the
// client's path, which never held the token.
type pathStep struct {
	prefix string // literal text before the first placeholder
	tmpl   template
}

func newPathStep(format string, fields []string) (*pathStep, error) {
	if strings.ContainsAny(format, "/?#%\\") {
		return nil, fmt.Errorf("%w: path %q is one path segment: no '/', '?', '#', '%%' or '\\'", ErrInvalidSpec, format)
	}
	t, err := parseTemplate(format, fields)
	if err != nil {
		return nil, fmt.Errorf("%w: path %q: %v", ErrInvalidSpec, format, err)
	}
	prefix := ""
	if len(t.parts) > 0 && t.parts[0].field == "" {
		prefix = t.parts[0].literal
	}
	return &pathStep{prefix: prefix, tmpl: t}, nil
}

func (p *pathStep) apply(u *url.URL, f Fields) {
	segment := url.PathEscape(p.tmpl.render(f))
	escaped := u.EscapedPath()
	rest := strings.TrimPrefix(escaped, "/")
	first, tail, hasTail := strings.Cut(rest, "/")
	var out string
	switch {
	case p.prefix != "" && strings.HasPrefix(first, p.prefix) && (hasTail || first != ""):
		out = "/" + segment
		if hasTail {
			out += "/" + tail
		}
	case rest == "":
		out = "/" + segment
	default:
		out = "/" + segment + "/" + rest
	}
	if unescaped, err := url.PathUnescape(out); err == nil {
		u.Path, u.RawPath = unescaped, out
	}
}

func basicValue(userPass string) string {
	return base64.StdEncoding.EncodeToString([]byte(userPass))
}

// validLiteral reports whether s is printable text that can sit in a
// header value (tab allowed, no other control characters).
func validLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
