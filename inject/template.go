package inject

import (
	"fmt"
	"strings"
)

// template is a parsed format such as "Token token={token}". Placeholders
// are substituted verbatim: there is no escaping and no printf formatting,
// so a value can never change the shape of the template.
type template struct {
	parts []templatePart
	size  int // bytes of literal text, to size the output buffer
}

type templatePart struct {
	literal string
	field   string // set for a placeholder
}

// parseTemplate parses format, accepting only placeholders that name one of
// fields. Literal text must itself be valid in a header value.
func parseTemplate(format string, fields []string) (template, error) {
	var t template
	if strings.ContainsAny(format, "\r\n\x00") {
		return t, fmt.Errorf("contains a CR, LF or NUL byte")
	}
	rest := format
	used := false
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		closeBrace := strings.IndexByte(rest, '}')
		if closeBrace >= 0 && (open < 0 || closeBrace < open) {
			return t, fmt.Errorf("'}' without '{'")
		}
		if open < 0 {
			t.parts = append(t.parts, templatePart{literal: rest})
			t.size += len(rest)
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{literal: rest[:open]})
			t.size += open
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return t, fmt.Errorf("'{' without '}'")
		}
		name := rest[open+1 : open+end]
		if !contains(fields, name) {
			return t, fmt.Errorf("unknown placeholder {%s} (fields: %s)", name, braceList(fields))
		}
		t.parts = append(t.parts, templatePart{field: name})
		used = true
		rest = rest[open+end+1:]
	}
	for _, p := range t.parts {
		if !validLiteral(p.literal) {
			return t, fmt.Errorf("contains a control character")
		}
	}
	if !used {
		return t, fmt.Errorf("uses no placeholder, so no credential would be sent (fields: %s)", braceList(fields))
	}
	return t, nil
}

func braceList(fields []string) string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = "{" + f + "}"
	}
	return strings.Join(out, ", ")
}

// render substitutes the fields into the template.
func (t template) render(f Fields) string {
	var b strings.Builder
	b.Grow(t.size + 64)
	for _, p := range t.parts {
		if p.field != "" {
			b.WriteString(f[p.field])
		} else {
			b.WriteString(p.literal)
		}
	}
	return b.String()
}
