package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"
)

// Sessions. The browser holds a random 32-byte id; the server keeps only
// its SHA-256 digest, so a leaked session table (or a database dump, once
// sessions live there) lets nobody log in. A session ends on logout, after
// IdleTimeout without a request, and MaxAge after login, whichever is
// first; expiry is checked by the portal on every request, so a store only
// stores.

// cookieSession is the session cookie's name.
const cookieSession = "alter_portal_session"

// Session is one logged-in browser.
type Session struct {
	Digest    string // hex SHA-256 of the id; the id itself is never stored
	User      string // who logged in, as the log and the header show it
	CSRF      string // the synchronizer token of this session's forms
	CreatedAt time.Time
	LastSeen  time.Time
}

// ErrNoSession: the store has no session with that digest.
var ErrNoSession = errors.New("no such session")

// SessionStore keeps sessions by digest. Implementations are safe for
// concurrent use. Get returns an error wrapping ErrNoSession for an unknown
// digest; any other error makes the portal answer 503 (fail closed).
type SessionStore interface {
	Create(ctx context.Context, s Session) error
	Get(ctx context.Context, digest string) (Session, error)
	Touch(ctx context.Context, digest string, at time.Time) error
	Delete(ctx context.Context, digest string) error
}

// touchEvery limits LastSeen writes to one a minute per session: idle
// expiry does not need more precision, and a database store then writes
// rarely.
const touchEvery = time.Minute

// newToken returns 32 random bytes, base64url: session ids and CSRF tokens.
func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("portal: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// digest is how a session id is stored and looked up.
func digest(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

type ctxKey struct{}

// sessionOf returns the request's session; authed guarantees there is one.
func sessionOf(r *http.Request) Session {
	s, _ := r.Context().Value(ctxKey{}).(Session)
	return s
}

// startSession creates a session for user and sets its cookie. Login calls
// it with a fresh id every time, so an id planted before login (session
// fixation) is never the one that becomes authenticated.
func (p *Portal) startSession(w http.ResponseWriter, r *http.Request, user string) error {
	id := newToken()
	t := p.now()
	s := Session{Digest: digest(id), User: user, CSRF: newToken(), CreatedAt: t, LastSeen: t}
	if err := p.sessions.Create(r.Context(), s); err != nil {
		return err
	}
	p.setCookie(w, r, cookieSession, id, Prefix, 0)
	return nil
}

// session returns the request's live session, or ErrNoSession when there
// is none or it has expired (an expired one is deleted).
func (p *Portal) session(r *http.Request) (Session, error) {
	c, err := p.cookie(r, cookieSession)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return Session{}, ErrNoSession
	}
	d := digest(c.Value)
	s, err := p.sessions.Get(r.Context(), d)
	if err != nil {
		return Session{}, err
	}
	t := p.now()
	if t.Sub(s.LastSeen) >= p.cfg.IdleTimeout || t.Sub(s.CreatedAt) >= p.cfg.MaxAge {
		_ = p.sessions.Delete(r.Context(), d)
		return Session{}, ErrNoSession
	}
	if t.Sub(s.LastSeen) >= touchEvery {
		if err := p.sessions.Touch(r.Context(), d, t); err != nil {
			return Session{}, err
		}
		s.LastSeen = t
	}
	return s, nil
}

// endSession deletes the request's session and clears its cookie.
func (p *Portal) endSession(w http.ResponseWriter, r *http.Request) error {
	p.setCookie(w, r, cookieSession, "", Prefix, -1)
	if c, err := p.cookie(r, cookieSession); err == nil && c.Value != "" {
		return p.sessions.Delete(r.Context(), digest(c.Value))
	}
	return nil
}

// setCookie sets a portal cookie: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure over TLS or when
// configured, and scoped to path. maxAge 0 is a browser-session cookie
// (the server enforces expiry), -1 deletes.
//
// A Secure cookie is named with the __Host- prefix (see cookieName) and,
// as the prefix requires, scoped to "/" with no Domain: the browser then
// refuses one set over plain HTTP, or by a sibling subdomain, under that
// name, so a session cannot be planted (cookie tossing).
func (p *Portal) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	secure := p.secure(r)
	if secure {
		path = "/"
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.cookieName(r, name), Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure,
	})
}

// secure reports whether r's cookies are Secure ones.
func (p *Portal) secure(r *http.Request) bool { return r.TLS != nil || p.cfg.SecureCookies }

// hostPrefix is the cookie-name prefix browsers bind to this exact host
// and to Secure, Path=/ cookies.
const hostPrefix = "__Host-"

// cookieName is the name of the portal cookie base for r: with the
// __Host- prefix when cookies are Secure (plain-HTTP development on
// loopback cannot use it: browsers refuse __Host- cookies without Secure).
func (p *Portal) cookieName(r *http.Request, base string) string {
	if p.secure(r) {
		return hostPrefix + base
	}
	return base
}

// cookie reads the portal cookie base.
func (p *Portal) cookie(r *http.Request, base string) (*http.Cookie, error) {
	return r.Cookie(p.cookieName(r, base))
}

// MemorySessions is a SessionStore in this process's memory. It is lost on
// restart and not shared between replicas (see Config.Sessions). It holds
// at most max sessions; when full, the least recently used one is dropped.
type MemorySessions struct {
	mu  sync.Mutex
	max int
	m   map[string]Session
}

// NewMemorySessions returns an empty store holding at most max sessions.
func NewMemorySessions(max int) *MemorySessions {
	return &MemorySessions{max: max, m: map[string]Session{}}
}

// Create stores s.
func (m *MemorySessions) Create(_ context.Context, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= m.max {
		// O(n), but only at login (rate limited) on a full store.
		var oldest string
		for d, x := range m.m {
			if oldest == "" || x.LastSeen.Before(m.m[oldest].LastSeen) {
				oldest = d
			}
		}
		delete(m.m, oldest)
	}
	m.m[s.Digest] = s
	return nil
}

// Get returns the session with digest d.
func (m *MemorySessions) Get(_ context.Context, d string) (Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[d]
	if !ok {
		return Session{}, ErrNoSession
	}
	return s, nil
}

// Touch records a request at t.
func (m *MemorySessions) Touch(_ context.Context, d string, t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.m[d]; ok {
		s.LastSeen = t
		m.m[d] = s
	}
	return nil
}

// Delete removes the session; deleting an unknown one is not an error.
func (m *MemorySessions) Delete(_ context.Context, d string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, d)
	return nil
}
