package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// AuthClient is an application allowed to use a shared proxy. Its secret (a
// Basic password or a Bearer token) is known here only by its SHA-256.
type AuthClient struct {
	Name   string
	Digest [sha256.Size]byte
	// Profile, if set, names the profile whose grants the client's
	// requests use when they name none (see credential.go).
	Profile string
}

// ParseDigest reads a hex SHA-256 digest as `alter auth hash` prints it.
func ParseDigest(s string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != sha256.Size {
		return d, fmt.Errorf("not a hex SHA-256 digest (64 hex digits; alter auth hash makes one)")
	}
	copy(d[:], b)
	return d, nil
}

// clientAuth checks Proxy-Authorization against the configured clients.
type clientAuth struct {
	clients []AuthClient
}

// authenticate returns the client. Basic credentials name the client; a
// Bearer token is compared with every client's digest. Every comparison is
// constant-time and all digests are compared, so timing tells nothing
// about which part of a guess was right.
func (a *clientAuth) authenticate(h http.Header) (AuthClient, bool) {
	v := h.Get("Proxy-Authorization")
	scheme, cred, _ := strings.Cut(v, " ")
	cred = strings.TrimSpace(cred)
	var user, secret string
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return AuthClient{}, false
		}
		var ok bool
		if user, secret, ok = strings.Cut(string(raw), ":"); !ok {
			return AuthClient{}, false
		}
	case "bearer":
		secret = cred
	default:
		return AuthClient{}, false
	}
	if secret == "" {
		return AuthClient{}, false
	}
	sum := sha256.Sum256([]byte(secret))
	var found AuthClient
	match := 0
	for _, c := range a.clients {
		nameOK := user == "" || subtle.ConstantTimeCompare([]byte(user), []byte(c.Name)) == 1
		eq := subtle.ConstantTimeCompare(sum[:], c.Digest[:])
		if eq == 1 && nameOK && match == 0 {
			found, match = c, 1
		}
	}
	return found, match == 1
}

type actorKey struct{}

// withActor records the authenticated client on the request's context.
func withActor(r *http.Request, name string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), actorKey{}, name))
}

func actorOf(r *http.Request) string {
	name, _ := r.Context().Value(actorKey{}).(string)
	return name
}

// proxyAuthRequired answers a request without valid proxy credentials.
func proxyAuthRequired(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Proxy-Authenticate", `Basic realm="alter"`)
	w.Header().Add("Proxy-Authenticate", `Bearer realm="alter"`)
	errProxyAuth.write(w, r)
}
