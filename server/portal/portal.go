// Package portal is the developer portal of `alter server`
// (ARCHITECTURE.md): server-rendered web pages under /portal where people log in,
// store secrets, look at grants and their policies, clone, rotate and revoke
// them, decide the requests that wait for approval, and read the audit
// trail.
//
// The pages are html/template with embedded assets and no build step. The
// only script is static/copy.js (the grant id's copy button), served from
// this origin so the Content-Security-Policy needs no 'unsafe-inline';
// every page works without it.
//
// Security rules, each enforced in one place:
//   - A secret value travels only in a POST body and goes straight to the
//     Backend: no page, URL, redirect or log line carries it, password
//     inputs are never filled back, and an error message that might quote
//     a submitted value is scrubbed first (scrub.go).
//   - Sessions (session.go): a random 32-byte id in an HttpOnly,
//     SameSite=Strict cookie (Secure, named __Host-..., over TLS or with
//     SecureCookies), stored server-side only as its SHA-256 digest, with
//     idle and absolute expiry.
//   - CSRF (csrf.go): every POST carries a synchronizer token tied to the
//     session, compared in constant time; the login form, which has no
//     session yet, uses a double-submit cookie. A cross-origin Origin
//     header is refused as well.
//   - Headers (headers.go): a strict CSP, nosniff, no referrer, no framing,
//     and Cache-Control: no-store on every page.
//   - Login (login.go, password.go, limiter.go): admin tokens or
//     username + argon2id hash. Attempts are counted before the hash runs
//     and limited per client address (IPv6 per /64; behind
//     Config.TrustedProxies, per forwarded client) and per account; at most
//     GOMAXPROCS hashes run at once, a login beyond that waits briefly and
//     then gets 429, so memory stays bounded however many logins arrive.
//     A login takes the same path whether or not the user exists.
//
// Files:
//
//	portal.go     Config, New and the routes
//	backend.go    Backend: what the portal needs from the control plane
//	storage.go    StorageBackend: a Backend over server/storage
//	session.go    server-side sessions and the session cookie
//	csrf.go       synchronizer and login tokens
//	guard.go      the login and CSRF gate in front of every page
//	headers.go    security headers, the request log line, the Origin check
//	login.go      login and logout
//	password.go   argon2id password hashes
//	limiter.go    login rate limiting
//	clientaddr.go the address a request is attributed to (trusted proxies)
//	pages.go      templates and rendering
//	grants.go     the grant list and detail, clone, rotate, revoke
//	form.go       forms described in Go, rendered by one template
//	addsecret.go  the "Add secret" form
//	audit.go      the audit page
//	approvals.go  the approvals list and page, approve and deny
//	errors.go     backend errors to pages and statuses
//	scrub.go      keeping submitted secret values out of messages
//	dbsession.go  DBSessions and DBUsers: sessions and users in the database
//
// Sessions live in the process's memory (MemorySessions) unless
// Config.Sessions says otherwise; `alter server` plugs in DBSessions, so a
// session made on one replica works on every other, and logging out,
// disabling a user or revoking an admin token ends it everywhere. The
// login rate limiter stays per process: N replicas allow N times the
// failed-login budget, which argon2id keeps slow to spend.
package portal

import (
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"go.uber.org/zap"
)

// Prefix is where the portal is mounted in the server's mux. Every route,
// link, redirect and cookie path starts with it.
const Prefix = "/portal"

// Config configures the portal.
type Config struct {
	// Backend is the control plane: grants, secrets, audit, logins.
	Backend Backend
	// Sessions stores sessions; nil means an in-memory store, which is
	// per process: with several replicas behind a load balancer, use a
	// shared store (or sticky sessions), or users are logged out when
	// their requests change replica.
	Sessions SessionStore
	// Log receives one line per request and the detail of internal
	// errors. Never a form value. Nil means no logging.
	Log *zap.Logger
	// SecureCookies marks cookies Secure even on plain HTTP requests: set
	// it when TLS ends at a proxy in front of the server. Requests that
	// arrive over TLS get Secure cookies regardless.
	SecureCookies bool
	// TrustedProxies are the addresses of proxies in front of the server
	// (a TLS-terminating load balancer). A request whose TCP peer is one
	// of them is attributed, for the login limiter and the log, to the
	// right-most X-Forwarded-For address that is not; any other request
	// to its TCP peer, whatever it sends in X-Forwarded-For. Empty: the
	// TCP peer always.
	TrustedProxies []netip.Prefix
	// MaxConcurrentHashes bounds password checks running at once (each
	// argon2id hash holds 19 MiB); 0 means GOMAXPROCS. Logins beyond it
	// wait briefly, then get 429.
	MaxConcurrentHashes int
	// IdleTimeout ends a session not used for this long (default 30m);
	// MaxAge ends every session this long after login (default 12h).
	IdleTimeout, MaxAge time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Portal is the portal's http.Handler.
type Portal struct {
	cfg      Config
	log      *zap.Logger
	sessions SessionStore
	limiter  *limiter // failed logins per client address (IPv6: per /64)
	accounts *limiter // failed password logins per username
	hashes   chan struct{}
	pages    *pages
	mux      *http.ServeMux
}

// New returns the portal. Mount it at Prefix + "/" in the server's mux,
// and at LinkPrefix for the links of approval notifications:
//
//	p := portal.New(cfg)
//	mux.Handle(portal.Prefix+"/", p)
//	mux.Handle(portal.LinkPrefix, p)
//
// It panics if cfg.Backend is nil or an embedded template does not parse
// (both are programming errors, caught by the package tests).
func New(cfg Config) *Portal {
	if cfg.Backend == nil {
		panic("portal: Config.Backend is nil")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	p := &Portal{cfg: cfg, log: cfg.Log, sessions: cfg.Sessions, pages: mustParsePages()}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.sessions == nil {
		p.sessions = NewMemorySessions(10000)
	}
	p.limiter = newLimiter(cfg.Now, loginFailures, time.Minute)
	p.accounts = newLimiter(cfg.Now, loginFailures, time.Minute)
	p.hashes = make(chan struct{}, cfg.MaxConcurrentHashes)
	p.mux = http.NewServeMux()
	p.routes()
	return p
}

func (p *Portal) routes() {
	m := p.mux
	m.Handle("GET "+Prefix+"/static/", staticHandler())
	m.HandleFunc("GET "+Prefix+"/login", p.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", p.login)

	// Everything below needs a session; POSTs also a CSRF token.
	m.Handle("GET "+Prefix+"/{$}", p.authed(http.RedirectHandler(Prefix+"/grants", http.StatusSeeOther).ServeHTTP))
	m.Handle("POST "+Prefix+"/logout", p.authed(p.logout))
	m.Handle("GET "+Prefix+"/grants", p.authed(p.grantList))
	m.Handle("GET "+Prefix+"/grants/{id}", p.authed(p.grantDetail))
	m.Handle("POST "+Prefix+"/grants/{id}/clone", p.authed(p.clone))
	m.Handle("POST "+Prefix+"/grants/{id}/rotate", p.authed(p.rotate))
	m.Handle("GET "+Prefix+"/grants/{id}/revoke", p.authed(p.revokeConfirm))
	m.Handle("POST "+Prefix+"/grants/{id}/revoke", p.authed(p.revoke))
	m.Handle("GET "+Prefix+"/secrets/new", p.authed(p.addSecretPage))
	m.Handle("POST "+Prefix+"/secrets", p.authed(p.addSecret))
	m.Handle("GET "+Prefix+"/audit", p.authed(p.auditPage))
	m.Handle("GET "+Prefix+"/approvals", p.authed(p.approvalsPage))
	m.Handle("GET "+Prefix+"/approvals/{id}", p.authed(p.approvalDetail))
	m.Handle("POST "+Prefix+"/approvals/{id}/decide", p.authed(p.decideApproval))
	m.HandleFunc("GET "+LinkPrefix+"{id}", p.approvalLink)
	m.Handle("GET "+Prefix+"/audit/export", p.authed(p.auditExport))
	m.HandleFunc(Prefix+"/", p.notFound)
}

// loginFailures is how many failed logins an address, or an account,
// may have in a minute.
const loginFailures = 10

// maxForm bounds a form body: the largest honest one (a custom secret with
// rules) is a few KiB.
const maxForm = 64 << 10

// ServeHTTP applies the headers and checks every answer needs, then routes.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.wrap(p.mux).ServeHTTP(w, r)
}
