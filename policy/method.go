package policy

import (
	"fmt"
	"strings"
)

// Methods are stored upper case and compared without regard to case: HTTP
// says methods are case-sensitive, but a policy that allowed "get" and let
// "GET" through (or the reverse) would surprise its author either way, and
// servers that treat "get" as GET exist.

// parseMethod validates one method name: an RFC 9110 token, returned upper
// case.
func parseMethod(s string) (string, error) {
	m := strings.TrimSpace(s)
	if m == "" {
		return "", fmt.Errorf("empty method")
	}
	if len(m) > 32 {
		return "", fmt.Errorf("method %q is longer than 32 characters", m)
	}
	for i := 0; i < len(m); i++ {
		if !isTokenChar(m[i]) {
			return "", fmt.Errorf("method %q contains %q (a method is a token such as GET or POST)", m, m[i])
		}
	}
	return strings.ToUpper(m), nil
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// allowsMethod reports whether the request method is in the list. An empty
// list allows any method.
func (p *Policy) allowsMethod(method string) bool {
	if len(p.methods) == 0 {
		return true
	}
	for _, m := range p.methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}
