package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/alter-sidecar/alter/server/storage"
)

// Authentication. Every /v1 request names a token in
// "Authorization: Bearer <token>"; the store checks it on every request,
// so revocation is immediate on every replica. A request without a
// usable token gets 401 before anything else happens (no body is read);
// a token of the wrong kind for the endpoint gets 403 forbidden.

type tokenKey struct{}

// tokenFrom returns the authenticated token of a request.
func tokenFrom(ctx context.Context) storage.Token {
	t, _ := ctx.Value(tokenKey{}).(storage.Token)
	return t
}

// bearer extracts the token; "" if the header is missing or malformed.
func bearer(r *http.Request) string {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "" // none, or ambiguous
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return ""
	}
	return tok
}

// requireKind wraps a handler: the request must carry a live token of kind.
func (h *handler) requireKind(kind string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" {
			writeError(w, r, withDetail(errUnauthorized, errNoBearer))
			return
		}
		t, err := h.store.AuthenticateToken(r.Context(), tok)
		if err != nil {
			fail(w, r, err)
			return
		}
		if info := infoFrom(r.Context()); info != nil {
			info.tokenID = t.ID
		}
		if t.Kind != kind {
			writeError(w, r, forbidden("this endpoint needs a "+kind+" token"))
			return
		}
		ctx := storage.ActingAsToken(context.WithValue(r.Context(), tokenKey{}, t), t)
		next(w, r.WithContext(ctx))
	}
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoBearer = constError("no Authorization: Bearer header (or more than one)")
