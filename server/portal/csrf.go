package portal

import (
	"crypto/subtle"
	"net/http"
)

// CSRF. Every state-changing request is a POST carrying a token in the
// form field "csrf":
//   - after login, the session's synchronizer token (Session.CSRF, random,
//     kept server-side with the session): a page of another origin can
//     neither read it nor guess it;
//   - on the login form, which has no session yet, a double-submit token:
//     a random value set both as an HttpOnly, SameSite=Strict cookie scoped
//     to the login path and as the hidden field. This stops another site
//     from logging a browser in to an account of the attacker's choosing.
//
// Comparisons are constant-time. SameSite=Strict cookies and the Origin
// check (headers.go) are further layers, not the defence itself. Read-only
// GET forms (the audit filters, the provider choice) carry no token: it
// would leak into URLs and history, and they change nothing.

const (
	fieldCSRF   = "csrf"
	cookieLogin = "alter_portal_login"
)

// sameToken compares two tokens in constant time; an empty one never
// matches.
func sameToken(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// checkCSRF reports whether a POST carries the session's token.
func checkCSRF(r *http.Request, s Session) bool {
	return sameToken(r.PostFormValue(fieldCSRF), s.CSRF)
}

// loginToken returns the login form's token, setting a fresh cookie.
func (p *Portal) loginToken(w http.ResponseWriter, r *http.Request) string {
	t := newToken()
	p.setCookie(w, r, cookieLogin, t, Prefix+"/login", 3600)
	return t
}

// checkLoginCSRF reports whether the login POST's field matches its cookie.
func (p *Portal) checkLoginCSRF(r *http.Request) bool {
	c, err := p.cookie(r, cookieLogin)
	if err != nil {
		return false
	}
	return sameToken(r.PostFormValue(fieldCSRF), c.Value)
}
