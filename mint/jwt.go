package mint

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/alter-sidecar/alter/inject"
)

// signJWT signs a short-lived JWT with the stored key (App Store Connect,
// Ghost, Snowflake key-pair, Zoom SDK style): iss, sub, aud from the spec,
// iat now, exp after the lifetime; kid in the header when set.
func (m *Minter) signJWT(r Request, now time.Time) (string, time.Duration, error) {
	s := r.Spec.Mint
	key, err := inject.JWTKey(*s, r.Fields["key"])
	if err != nil {
		return "", 0, &Error{Reason: ReasonInvalid, err: err}
	}
	lifetime := time.Duration(s.Lifetime) * time.Second
	if lifetime == 0 {
		lifetime = inject.DefaultJWTLifetime * time.Second
	}
	// A map, so aud is one string as App Store Connect and Ghost expect
	// (RegisteredClaims writes an array).
	claims := jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(lifetime).Unix()}
	for k, v := range map[string]string{"iss": s.Issuer, "sub": s.Subject, "aud": s.Audience} {
		if v != "" {
			claims[k] = v
		}
	}
	if s.PerRequest {
		// Two requests in one second would otherwise carry the same JWT.
		jti := make([]byte, 16)
		if _, err := rand.Read(jti); err != nil {
			return "", 0, &Error{Reason: ReasonInvalid, err: err}
		}
		claims["jti"] = hex.EncodeToString(jti)
	}
	var method jwt.SigningMethod
	switch s.Algorithm {
	case "HS256":
		method = jwt.SigningMethodHS256
	case "RS256":
		method = jwt.SigningMethodRS256
	default:
		method = jwt.SigningMethodES256
	}
	t := jwt.NewWithClaims(method, claims)
	if s.KeyID != "" {
		t.Header["kid"] = s.KeyID
	}
	signed, err := t.SignedString(key)
	if err != nil {
		return "", 0, &Error{Reason: ReasonInvalid, err: err}
	}
	return signed, lifetime, nil
}
