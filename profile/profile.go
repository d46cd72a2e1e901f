// Package profile is the profile domain model both kinds of store can
// share: a named set of grants that an application selects with one
// token, the token itself (random, shown once, stored only as its SHA-256),
// and the rule that picks, for each request, the one grant of the set
// whose destinations reach the request's target (Binding.Select). Grants
// of a profile may not overlap (CheckOverlap), so the choice never depends
// on an order. It imports only policy.
package profile

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Profile is a profile's metadata. It never holds the token.
type Profile struct {
	ID     string   `json:"id"`   // UUID v4
	Name   string   `json:"name"` // unique in a store; what proxy_auth clients and the CLI name
	Grants []string `json:"grants"`
	// DenyUnmatched makes the profile an egress allowlist: a request or
	// CONNECT to a target none of its grants reaches is refused.
	DenyUnmatched bool      `json:"deny_unmatched"`
	Revoked       bool      `json:"revoked"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Errors stores wrap.
var (
	// ErrNotFound: an administrative call named a profile that does not exist.
	ErrNotFound = errors.New("profile not found")
	// ErrOverlap: two grants of a profile reach a common target.
	ErrOverlap = errors.New("grants of a profile overlap")
	// ErrAmbiguous: at request time, more than one grant reaches the
	// target. CheckOverlap prevents it when profiles and grant policies are
	// written; a store that finds it anyway must fail closed.
	ErrAmbiguous = errors.New("more than one grant of the profile reaches the target")
)

// MaxGrants bounds a profile's grants: a profile is picked through on every
// request, and overlap checks are quadratic in destinations.
const MaxGrants = 64

// CheckName refuses a profile name that could not be written in a config
// file, a command line or a log line unambiguously: 1 to 64 characters,
// lower-case letters, digits, '.', '_' and '-', starting with a letter or a
// digit. A profile token given as a name is refused without being repeated
// in the error, which is printed on terminals and in logs.
func CheckName(name string) error {
	if LooksLikeToken(name) {
		return fmt.Errorf("a profile token was given where a profile name goes (the token goes in the proxy password, $ALTER_PROFILE_TOKEN or --profile-token-file)")
	}
	if name == "" || len(name) > 64 {
		return fmt.Errorf("profile name must be 1 to 64 characters")
	}
	for i, c := range name {
		ok := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok && strings.HasPrefix(name, TokenPrefix) {
			return fmt.Errorf("profile name %s…: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", TokenPrefix)
		}
		if !ok {
			return fmt.Errorf("profile name %q: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", name)
		}
	}
	return nil
}
