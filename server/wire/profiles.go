package wire

import "github.com/alter-sidecar/alter/secretstore"

// Profiles on the control plane (server/API.md, "Profiles"): the same
// model as the file store's (package profile), plus the app whose sidecars
// may use the profile. A profile's token is in exactly two answers, the
// one that creates it and the one that rotates it; a sidecar looks a
// profile up by the token's SHA-256, never by the token.

// NewProfile is the body of POST /v1/profiles.
type NewProfile struct {
	App           string   `json:"app"`
	Name          string   `json:"name"`
	Grants        []string `json:"grants"`
	DenyUnmatched bool     `json:"deny_unmatched,omitempty"`
}

// ProfileChange is the body of PATCH /v1/profiles/{name}: a field left out
// (null) is not changed. "grants" replaces the whole list.
type ProfileChange struct {
	Grants        []string `json:"grants"`
	DenyUnmatched *bool    `json:"deny_unmatched,omitempty"`
}

// ProfileInfo is secretstore.ProfileInfo plus the profile's app. It never
// holds the token or its digest.
type ProfileInfo struct {
	secretstore.ProfileInfo
	App string `json:"app"`
}

// Profiles is the answer to GET /v1/profiles.
type Profiles struct {
	Profiles []ProfileInfo `json:"profiles"`
}

// ProfileToken answers POST /v1/profiles (with Profile) and POST
// /v1/profiles/{name}/rotate-token: Token is shown this once.
type ProfileToken struct {
	Profile *ProfileInfo `json:"profile,omitempty"`
	Token   string       `json:"token"`
}

// String never shows the token.
func (t ProfileToken) String() string { return "wire.ProfileToken{token redacted}" }

// ProfileLookup is the body of POST /v1/sidecar/profiles/resolve: exactly
// one of TokenSHA256 (the hex SHA-256 of the token the client presented)
// and Name (a proxy_auth client's profile).
type ProfileLookup struct {
	TokenSHA256 string `json:"token_sha256,omitempty"`
	Name        string `json:"name,omitempty"`
}

// ProfileBinding is what a sidecar needs to pick a grant per request: the
// profile's grants with their own destinations (revoked and expired grants
// included, so their hosts get the grant's 403 rather than a passthrough;
// a grant no longer stored is left out). No secret is in it: each grant is
// resolved as usual when a request picks it.
type ProfileBinding struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	DenyUnmatched bool            `json:"deny_unmatched"`
	Members       []ProfileMember `json:"members"`
}

// ProfileMember is one grant of a ProfileBinding.
type ProfileMember struct {
	GrantID      string   `json:"grant_id"`
	Destinations []string `json:"destinations"`
}
