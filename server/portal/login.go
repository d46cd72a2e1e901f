package portal

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/server/storage"
)

// Login takes an admin token (the same alt_a_... tokens the API takes) or
// a username and password. A failure says only that the login failed, not
// which part was wrong, counts against the client address's limit (and a
// password login against the account's), and re-shows the form with every
// secret input empty.

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
	// The attempt counts before anything is checked: concurrent guesses
	// from one address get the limiter's budget, not one hash each.
	releaseAddr, ok := p.limiter.reserve(addrKey(p.clientAddr(r)))
	if !ok {
		p.tooManyLogins(w, r, "Too many failed logins from your address. Wait a minute, then try again.")
		return
	}
	defer func() {
		if releaseAddr != nil {
			releaseAddr()
		}
	}()
	if !p.checkLoginCSRF(r) {
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
		releaseUser, ok := p.accounts.reserve(data.Username)
		if !ok {
			p.tooManyLogins(w, r, "Too many failed logins for this account. Wait a minute, then try again.")
			return
		}
		done, ok := p.hashSlot(r)
		if !ok {
			releaseUser()
			p.tooManyLogins(w, r, "The server is busy checking other logins. Try again in a moment.")
			return
		}
		name, err = p.cfg.Backend.CheckPassword(r.Context(), data.Username, r.PostFormValue("password"))
		done()
		if err == nil {
			releaseUser()
		}
	default:
		p.errorPage(w, r, http.StatusBadRequest, "Choose how to log in.")
		return
	}
	if data.TokenError != "" || data.PasswordError != "" {
		// Nothing was checked: no attempt spent.
		data.CSRF = p.loginToken(w, r)
		p.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Data: data})
		return
	}
	loginEvent := storage.ServerEvent{Event: audit.EventLogin, SourceIP: p.clientAddr(r), Time: p.now(),
		Detail: map[string]string{"method": r.PostFormValue("method")}}
	switch {
	case err == nil:
		// A login that cannot be recorded does not happen.
		loginEvent.Actor = PortalActor(name)
		if err := p.cfg.Backend.RecordEvent(r.Context(), loginEvent); err != nil {
			p.log.Error("record login", zapErr(err))
			p.errorPage(w, r, http.StatusServiceUnavailable, msgUnavailable)
			return
		}
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
		releaseAddr = nil // the failure stays counted
		// Who was claimed: the user name typed, never a token or password.
		loginEvent.Actor, loginEvent.Outcome, loginEvent.Decision = PortalActor("token"), audit.OutcomeFailed, audit.DecisionDeny
		loginEvent.Error = "bad_credentials"
		if data.Username != "" {
			loginEvent.Actor = PortalActor(data.Username)
		}
		if err := p.cfg.Backend.RecordEvent(r.Context(), loginEvent); err != nil {
			p.log.Error("record failed login", zapErr(err))
		}
		if r.PostFormValue("method") == "token" {
			data.TokenError = "That token was not accepted."
		} else {
			data.PasswordError = "That username and password were not accepted."
		}
	default:
		releaseAddr = nil // a malformed stored hash is no reason to allow guessing
		p.log.Error("check login", zapErr(err))
		p.errorPage(w, r, http.StatusServiceUnavailable, msgUnavailable)
		return
	}
	data.CSRF = p.loginToken(w, r)
	p.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Data: data})
}

// tooManyLogins answers 429 with Retry-After.
func (p *Portal) tooManyLogins(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Retry-After", "60")
	p.errorPage(w, r, http.StatusTooManyRequests, msg)
}

// hashWait is how long a password login waits for a free hash slot
// before it is refused with 429.
const hashWait = 250 * time.Millisecond

// hashSlot takes one of the slots that bound concurrent password hashes
// (each argon2id check holds 19 MiB for about 30 ms): without the bound,
// a few hundred concurrent logins for unknown users take gigabytes before
// any limiter has seen a failure. ok is false when no slot came free
// within hashWait; done gives the slot back.
func (p *Portal) hashSlot(r *http.Request) (done func(), ok bool) {
	release := func() { <-p.hashes }
	select {
	case p.hashes <- struct{}{}:
		return release, true
	default:
	}
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case p.hashes <- struct{}{}:
		return release, true
	case <-t.C:
	case <-r.Context().Done():
	}
	return nil, false
}

func (p *Portal) logout(w http.ResponseWriter, r *http.Request) {
	if s, err := p.session(r); err == nil {
		ev := storage.ServerEvent{Event: audit.EventLogout, Actor: PortalActor(s.User), SourceIP: p.clientAddr(r), Time: p.now()}
		if err := p.cfg.Backend.RecordEvent(r.Context(), ev); err != nil {
			p.log.Error("record logout", zapErr(err))
		}
	}
	if err := p.endSession(w, r); err != nil {
		p.log.Error("end session", zapErr(err))
		p.errorPage(w, r, http.StatusServiceUnavailable, msgUnavailable)
		return
	}
	http.Redirect(w, r, Prefix+"/login?out=1", http.StatusSeeOther)
}
