package policy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Path prefixes. A prefix is compared with the request path on whole
// segments. The proxy forwards the path it received unchanged, so the
// policy must not judge a cleaned copy of it: a path that could mean two
// things (one to us, another to the upstream) is refused instead of being
// normalised. With path rules, these are refused:
//
//   - a path not starting with "/" (including "*" and the empty path's
//     absence is treated as "/");
//   - "." and ".." segments, also when percent-encoded ("%2e%2e") or next to
//     ";" parameters ("..;x", "x;.."), which servers treat differently;
//   - empty segments ("//"), except a single trailing slash;
//   - percent-encoded "/", "\" and "%" (%2F, %5C, %25: double encoding or a
//     slash that one server splits on and another does not);
//   - a backslash, a control character or a malformed escape;
//   - an escape inside the prefix itself ("/v%31/charges" for "/v1/charges"):
//     decoded, it is under the prefix; read as sent, by a server that does
//     not decode, it is not. The prefix must be spelled out as configured
//     (or in its plain escaped form, for characters that need escaping).
//
// Input.Path may be the decoded path (url.URL.Path) or the escaped one
// (url.URL.EscapedPath): escapes are decoded here once, so both give the
// same answer for ordinary paths, and a decoded path that still holds a
// '%' (it was double-encoded) is refused or checked again after decoding.

// errPathForm is the reason for a path refused for its spelling.
var errPathForm = errors.New("request path is not in canonical form")

// parsePrefix validates a configured prefix, returning it without a
// trailing slash ("/" stays "/").
func parsePrefix(s string) (string, error) {
	p := strings.TrimSpace(s)
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path prefix %q must start with /", p)
	}
	if strings.ContainsAny(p, "?#") {
		return "", fmt.Errorf("path prefix %q must not contain ? or #", p)
	}
	if strings.Contains(p, "%") {
		return "", fmt.Errorf("path prefix %q must be written decoded (no %%-escapes)", p)
	}
	clean, err := canonicalPath(p)
	if err != nil {
		return "", fmt.Errorf("path prefix %q: %v", p, err)
	}
	if clean != "/" {
		clean = strings.TrimSuffix(clean, "/")
	}
	return clean, nil
}

// canonicalPath decodes escapes and checks that the path means exactly what
// it says. It returns the decoded path.
func canonicalPath(p string) (string, error) {
	if p == "" {
		p = "/" // an absolute-form URL with no path asks for "/"
	}
	if p[0] != '/' {
		return "", errPathForm
	}
	dec, err := decodePath(p)
	if err != nil {
		return "", err
	}
	segs := strings.Split(dec[1:], "/")
	for i, seg := range segs {
		if seg == "" && i != len(segs)-1 {
			return "", errPathForm // "//"
		}
		// Servers disagree about ';' (path parameters): some drop what
		// follows it, some keep it. No piece may be a dot segment.
		for _, piece := range strings.Split(seg, ";") {
			if piece == "." || piece == ".." {
				return "", errPathForm
			}
		}
	}
	return dec, nil
}

// decodePath decodes %-escapes once, refusing encoded separators and
// double encoding, and anything no canonical path contains.
func decodePath(p string) (string, error) {
	if !strings.ContainsAny(p, "%\\") && !hasControl(p) {
		return p, nil
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", errPathForm
			}
			c = unhex(p[i+1])<<4 | unhex(p[i+2])
			if c == '/' || c == '\\' || c == '%' {
				return "", errPathForm
			}
			i += 2
		}
		if c == '\\' || c < 0x20 || c == 0x7f {
			return "", errPathForm
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// underPrefix reports whether path is prefix or below it, on a segment
// boundary. Both are canonical; prefix has no trailing slash unless "/".
func underPrefix(path, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return path == prefix || (strings.HasPrefix(path, prefix) && path[len(prefix)] == '/')
}

// checkPath returns "" when the request path is allowed, else the reason.
// With no prefixes every path is allowed and the path is not examined.
func (p *Policy) checkPath(path string) string {
	if len(p.prefixes) == 0 {
		return ""
	}
	clean, err := canonicalPath(path)
	if err != nil {
		return errPathForm.Error()
	}
	raw := path
	if raw == "" {
		raw = "/"
	}
	for _, pre := range p.prefixes {
		if underPrefix(clean, pre) && (underPrefix(raw, pre) || underPrefix(raw, escapePrefix(pre))) {
			return ""
		}
	}
	return "path not allowed for this grant"
}

// escapePrefix is how a prefix reads in an escaped path.
func escapePrefix(pre string) string {
	return (&url.URL{Path: pre}).EscapedPath()
}
