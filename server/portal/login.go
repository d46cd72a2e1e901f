package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/alter-sidecar/alter/server/storage"
)

// Login takes an admin token (the same alt_a_... tokens the API takes) or
// a username and password. A failure says only that the login failed, not
// which part was wrong, counts against the client address's limit, and
// re-shows the form with every secret input empty.

type loginData struct {
	CSRF     string
	Username string // filled back: not secret
	// Errors, shown next to the form they belong to.
	TokenError, PasswordError string
}

func (p *Portal) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := p.session(r); err == nil {
		http.Redirect(w, r, Prefix+"/grants", http.StatusSeeOther)
		return
	}
	v := view{Title: "Log in", Data: loginData{CSRF: p.loginToken(w, r)}}
	if r.URL.Query().Get("out") == "1" {
		v.Notice = "You have logged out."
	}
	p.render(w, r, http.StatusOK, "login", v)
}

func (p *Portal) login(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	if !p.limiter.allow(addr) {
		w.Header().Set("Retry-After", "60")
		p.errorPage(w, r, http.StatusTooManyRequests, "Too many failed logins from your address. Wait a minute, then try again.")
		return
	}
	if !checkLoginCSRF(r) {
		p.errorPage(w, r, http.StatusForbidden, "The login form was missing its security token or it did not match. Reload the login page and try again.")
		return
	}
	var (
		name string
		err  error
		data = loginData{}
	)
	switch r.PostFormValue("method") {
	case "token":
		token := strings.TrimSpace(r.PostFormValue("token"))
		if token == "" {
			data.TokenError = "Enter an admin token."
			break
		}
		if name, err = p.cfg.Backend.CheckAdminToken(r.Context(), token); err == nil {
			// The subject storage's RevokeToken ends the sessions of.
			name = storage.TokenSessionSubject(name)
		}
	case "password":
		data.Username = strings.TrimSpace(r.PostFormValue("username"))
		if data.Username == "" || r.PostFormValue("password") == "" {
			data.PasswordError = "Enter your username and password."
			break
		}
		name, err = p.cfg.Backend.CheckPassword(r.Context(), data.Username, r.PostFormValue("password"))
	default:
		p.errorPage(w, r, http.StatusBadRequest, "Choose how to log in.")
		return
	}
	if data.TokenError == "" && data.PasswordError == "" {
		switch {
		case err == nil:
			_ = p.endSession(w, r) // a session from before login is never reused
			if err := p.startSession(w, r, name); err != nil {
				p.log.Error("create session", zapErr(err))
				p.errorPage(w, r, http.StatusServiceUnavailable, msgUnavailable)
				return
			}
			setUser(r, name)
			p.setCookie(w, r, cookieLogin, "", Prefix+"/login", -1)
			http.Redirect(w, r, Prefix+"/grants", http.StatusSeeOther)
			return
		case errors.Is(err, ErrBadCredentials):
			p.limiter.failed(addr)
			if r.PostFormValue("method") == "token" {
				data.TokenError = "That token was not accepted."
			} else {
				data.PasswordError = "That username and password were not accepted."
			}
		default:
			p.limiter.failed(addr) // a malformed stored hash is no reason to allow guessing
			p.log.Error("check login", zapErr(err))
			p.errorPage(w, r, http.StatusServiceUnavailable, msgUnavailable)
			return
		}
	}
	data.CSRF = p.loginToken(w, r)
	p.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Data: data})
}

func (p *Portal) logout(w http.ResponseWriter, r *http.Request) {
	if err := p.endSession(w, r); err != nil {
		p.log.Error("end session", zapErr(err))
		p.errorPage(w, r, http.StatusServiceUnavailable, msgUnavailable)
		return
	}
	http.Redirect(w, r, Prefix+"/login?out=1", http.StatusSeeOther)
}
