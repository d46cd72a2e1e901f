package policy

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Actors are the proxy clients allowed to use a grant, named as in the
// proxy's proxy_auth.clients. The proxy puts the name of the client that
// authenticated the request in Input.Actor; a proxy that does not
// authenticate clients leaves it empty, and an empty actor matches no list:
// a grant limited to actors is unusable through such a proxy (fail closed).
// Names are compared exactly, as the proxy compares them when it
// authenticates a client.

// maxActorLen bounds a client name, in bytes.
const maxActorLen = 200

// parseActor validates one client name: non-empty, valid UTF-8, at most
// maxActorLen bytes, and without control characters, white space or ':'
// (which ends the name in a Basic Proxy-Authorization). It is not trimmed:
// " ops" is refused rather than silently becoming "ops".
func parseActor(s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("empty client name")
	case len(s) > maxActorLen:
		return "", fmt.Errorf("client name %.20q... is longer than %d bytes", s, maxActorLen)
	case !utf8.ValidString(s):
		return "", fmt.Errorf("client name %q is not valid UTF-8", s)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) || r == ':' }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return "", fmt.Errorf("client name %q contains %q (names have no spaces, control characters or ':')", s, r)
	}
	return s, nil
}

// allowsActor reports whether the authenticated client is in the list. An
// empty list allows any client, and requests from no client at all; with a
// list, an empty actor (no client authentication) is denied.
func (p *Policy) allowsActor(actor string) bool {
	if len(p.actors) == 0 {
		return true
	}
	return actor != "" && slices.Contains(p.actors, actor)
}
