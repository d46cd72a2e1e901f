package portal

import (
	"context"
	"errors"
	"net/http"

	"github.com/alter-sidecar/alter/server/storage"
)

// PortalActor is the audit actor of a portal session's user: "portal:"
// and the session's subject (a user name, or "token NAME" for a session
// opened with an admin token).
func PortalActor(user string) string { return "portal:" + user }

// authed is the gate in front of every page but login and the static
// files: no live session, a redirect to the login page (a GET) or 403 (a
// POST: its form cannot be replayed after login anyway); a POST without
// the session's CSRF token, 403. A session store that fails is a 503:
// the portal fails closed, it never serves a page it cannot attribute.
func (p *Portal) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := p.session(r)
		switch {
		case errors.Is(err, ErrNoSession):
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
				return
			}
			p.errorPage(w, r, http.StatusForbidden, "Your session has ended. Log in again, then repeat what you were doing.")
			return
		case err != nil:
			p.log.Error("session store", zapErr(err))
			p.errorPage(w, r, http.StatusServiceUnavailable, msgUnavailable)
			return
		}
		setUser(r, s.User)
		if r.Method == http.MethodPost && !checkCSRF(r, s) {
			p.errorPage(w, r, http.StatusForbidden, "The form was missing its security token or it did not match. Reload the page and try again.")
			return
		}
		// Every write the page makes is recorded as this user's.
		ctx := storage.ActingAs(context.WithValue(r.Context(), ctxKey{}, s), PortalActor(s.User))
		h(w, r.WithContext(ctx))
	})
}
