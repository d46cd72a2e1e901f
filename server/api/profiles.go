package api

import (
	"net/http"

	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// The profile endpoints (server/API.md, "Profiles"). Admins manage
// profiles by name; a profile's token is in two answers only (create and
// rotate-token), and the server keeps only its SHA-256. A sidecar looks a
// profile up by that SHA-256 (or by name, for a proxy_auth client's
// profile), always within its own app: it never sends the token, so a
// profile token never crosses the network between sidecar and server.

// errProfileUnavailable is the one answer for an unknown, revoked or
// other app's profile, whatever the reason; its code is grant_unavailable,
// which clients already treat as a verdict, never as an outage.
var errProfileUnavailable = &apiError{status: http.StatusForbidden, code: wire.CodeGrantUnavailable, message: "the profile is unknown or revoked"}

func (h *handler) createProfile(w http.ResponseWriter, r *http.Request) {
	var np wire.NewProfile
	if e := decode(w, r, &np); e != nil {
		writeError(w, r, e)
		return
	}
	pi, tok, err := h.store.CreateProfile(r.Context(), np.App, secretstore.NewProfile{Name: np.Name, Grants: np.Grants, DenyUnmatched: np.DenyUnmatched})
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wire.ProfileToken{Profile: &pi, Token: tok.Reveal()})
}

func (h *handler) listProfiles(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.ListProfiles(r.Context(), r.URL.Query().Get("app"))
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Profiles{Profiles: list})
}

func (h *handler) getProfile(w http.ResponseWriter, r *http.Request) {
	h.answerProfile(w, r, r.PathValue("name"))
}

func (h *handler) answerProfile(w http.ResponseWriter, r *http.Request, name string) {
	pi, err := h.store.GetProfile(r.Context(), name)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pi)
}

func (h *handler) updateProfile(w http.ResponseWriter, r *http.Request) {
	var c wire.ProfileChange
	if e := decode(w, r, &c); e != nil {
		writeError(w, r, e)
		return
	}
	if c.Grants == nil && c.DenyUnmatched == nil {
		writeError(w, r, badRequest("grants or deny_unmatched: nothing to change"))
		return
	}
	pi, err := h.store.UpdateProfile(r.Context(), r.PathValue("name"), secretstore.ProfileChange{Grants: c.Grants, DenyUnmatched: c.DenyUnmatched})
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pi)
}

func (h *handler) revokeProfile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := h.store.RevokeProfile(r.Context(), name); err != nil {
		fail(w, r, err)
		return
	}
	h.answerProfile(w, r, name)
}

func (h *handler) rotateProfileToken(w http.ResponseWriter, r *http.Request) {
	tok, err := h.store.RotateProfileToken(r.Context(), r.PathValue("name"))
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.ProfileToken{Token: tok.Reveal()})
}

// resolveProfile answers a sidecar with the binding of one of its app's
// profiles. Every refusal for a profile the app cannot use is the same
// answer. The binding holds no secret (each grant it picks is resolved,
// and audited, as usual), so the lookup itself is not audited.
func (h *handler) resolveProfile(w http.ResponseWriter, r *http.Request) {
	var q wire.ProfileLookup
	if e := decode(w, r, &q); e != nil {
		writeError(w, r, e)
		return
	}
	tok := tokenFrom(r.Context())
	var b *wire.ProfileBinding
	var err error
	switch {
	case (q.TokenSHA256 == "") == (q.Name == ""):
		writeError(w, r, badRequest("token_sha256 or name: exactly one is required"))
		return
	case q.TokenSHA256 != "":
		b, err = h.store.ResolveProfileToken(r.Context(), tok.App, q.TokenSHA256)
	default:
		b, err = h.store.ResolveProfileName(r.Context(), tok.App, q.Name)
	}
	if err != nil {
		if e := fromError(err); e.code == wire.CodeGrantUnavailable {
			writeError(w, r, errProfileUnavailable)
			return
		}
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
