package mint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/alter-sidecar/alter/inject"
)

// githubApp mints an installation token: a JWT signed with the app's key
// (RS256, iss = the app id, iat a minute back for clock drift, exp nine
// minutes on: GitHub takes at most ten) authenticates
// POST {api}/app/installations/{id}/access_tokens, whose body may narrow
// the token to repositories and permissions. The token lives an hour.
// (x/oauth2 has no GitHub App flow; this is GitHub's REST API, not OAuth2.)
func (m *Minter) githubApp(ctx context.Context, r Request, now time.Time) (string, time.Duration, error) {
	s := r.Spec.Mint
	key, err := inject.ParseSigningKey(r.Fields["private_key"])
	if err != nil {
		return "", 0, &Error{Reason: ReasonInvalid, err: err}
	}
	claims := jwt.RegisteredClaims{
		Issuer:    s.AppID,
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		return "", 0, &Error{Reason: ReasonInvalid, err: err}
	}
	var body struct {
		Repositories []string          `json:"repositories,omitempty"`
		Permissions  map[string]string `json:"permissions,omitempty"`
	}
	body.Repositories, body.Permissions = s.Repositories, s.Permissions
	payload, err := json.Marshal(body)
	if err != nil {
		return "", 0, &Error{Reason: ReasonInvalid, err: err}
	}
	base := strings.TrimSuffix(s.TokenURL, "/")
	if base == "" {
		base = inject.GitHubAPIURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/app/installations/"+s.InstallationID+"/access_tokens", bytes.NewReader(payload))
	if err != nil {
		return "", 0, &Error{Reason: ReasonInvalid, err: err}
	}
	req.Header.Set("Authorization", "Bearer "+assertion)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return "", 0, classify(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, classify(err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", 0, &Error{Reason: ReasonRejected, Status: resp.StatusCode, err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.Token == "" {
		return "", 0, &Error{Reason: ReasonBadAnswer, err: errors.New("not an installation token")}
	}
	// expires_at is GitHub's wall clock; an hour is what it grants.
	lifetime := time.Until(out.ExpiresAt)
	if out.ExpiresAt.IsZero() || lifetime > time.Hour {
		lifetime = time.Hour
	}
	return out.Token, lifetime, nil
}
