// Package mint turns a stored long-lived secret (an OAuth2 client secret or
// refresh token, a service-account key, a GitHub App's private key, a JWT
// signing key) into the short-lived token the API takes, for the proxy to
// inject. The long-lived secret goes only to the token endpoint its stored
// spec names, over the client the proxy gives (its guarded dialer: pins,
// SSRF rules, verified TLS, upstream.proxy; no redirects); the minted token
// lives only here, in memory, until shortly before it expires.
//
// One token request is in flight per secret however many requests wait for
// it (singleflight), and a token is refreshed before it expires. A rotated
// refresh token is sealed back into the store (Rotator) before the token
// minted with it is used by anyone else; the old one stays stored until the
// new one is. A failed token request is not repeated at once: the
// credential's requests get the same error for a pause that grows with
// each failure in a row (backoff.go).
//
// Nothing here logs or returns a secret or a token in an error: errors are
// *Error values whose text is a reason and at most the token endpoint's
// OAuth2 error code.
package mint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/alter-sidecar/alter/inject"
)

// Rotator stores a secret's new values (a rotated refresh token). The
// store replaces the sealed value of secretID only if it is still at
// version, atomically, and returns the new version.
type Rotator interface {
	ReplaceFields(ctx context.Context, secretID string, version int, fields inject.Fields) (int, error)
}

// Options wire a Minter.
type Options struct {
	// Transport carries token requests: the proxy's guarded transport.
	// Required; http.DefaultTransport is never used.
	Transport http.RoundTripper
	// Rotator stores rotated refresh tokens; nil keeps them in memory only
	// (logged as a warning: a restart then needs a new refresh token).
	Rotator Rotator
	// Now is the clock for expiry; default time.Now.
	Now func() time.Time
	Log *zap.Logger
	// Timeout bounds one token request (default 10s).
	Timeout time.Duration
	// CacheSize bounds the tokens kept (default 10000).
	CacheSize int
}

// Request is one credential to mint for.
type Request struct {
	SecretID string
	Version  int
	Spec     inject.Spec
	Fields   inject.Fields // the stored secret values; never log
	// Fetch, when set, gets the token from elsewhere instead of the type's
	// flow (a remote store whose server keeps the secret and mints);
	// Fields are then unused. Its errors should be *Error.
	Fetch func(ctx context.Context) (token string, lifetime time.Duration, err error)
}

// Token is a minted token. It cannot be printed by accident.
type Token struct {
	value  string
	Expiry time.Time
}

// Value is the token itself: for the injector only.
func (t Token) Value() string { return t.value }

// String never prints the token.
func (t Token) String() string {
	return "Token{[redacted], expires " + t.Expiry.UTC().Format(time.RFC3339) + "}"
}

// GoString keeps %#v from printing the token.
func (t Token) GoString() string { return t.String() }

// Minter mints and caches tokens. It is safe for concurrent use.
type Minter struct {
	o      Options
	client *http.Client
	cache  *lru.Cache[string, *entry]
	flight singleflight.Group
	failed failures // recent failed token requests, not retried at once
}

// entry is a cached token and the secret versions it is valid for (the
// version it was minted from, and the one a rotation stored).
type entry struct {
	tok      Token
	minted   time.Time
	versions [2]int
	// refresh is a rotated refresh token that could not be stored (no
	// Rotator, or the store refused): used for the next refresh in place of
	// the stored one, which the endpoint no longer takes.
	refresh string
}

// New returns a Minter.
func New(o Options) (*Minter, error) {
	if o.Transport == nil {
		return nil, errors.New("mint: a Transport is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	cache, err := lru.New[string, *entry](o.CacheSize)
	if err != nil {
		return nil, err
	}
	client := &http.Client{
		Transport: o.Transport,
		Timeout:   o.Timeout,
		// A redirect would send the client secret or assertion to a host
		// the spec does not name: never followed (the 3xx is an error).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Minter{o: o, client: client, cache: cache}, nil
}

// Token returns a valid token for r, minting one if none is cached or the
// cached one is close to expiry. Errors are *Error.
//
// Waiters join the one token request in flight for the secret. A waiter
// for another version of the secret than the flight's (an admin rotated it
// meanwhile) does not take that answer, minted with the other version's
// values: it asks again in a flight of its own version.
func (m *Minter) Token(ctx context.Context, r Request) (Token, error) {
	if e, ok := m.fresh(r); ok {
		return e.tok, nil
	}
	if err, ok := m.failed.recent(r, m.o.Now()); ok {
		return Token{}, err
	}
	res, err := m.join(ctx, r.SecretID, r)
	if err == nil && !res.validFor(r.Version) {
		res, err = m.join(ctx, r.SecretID+"@"+strconv.Itoa(r.Version), r)
	}
	return res.tok, err
}

// flightResult is what a token request's waiters get: the token and the
// secret versions it was minted for (also with an error).
type flightResult struct {
	tok      Token
	versions [2]int
}

func (f flightResult) validFor(version int) bool {
	return f.versions[0] == version || f.versions[1] == version
}

// join waits for the flight key, starting it for r if none is in the air.
func (m *Minter) join(ctx context.Context, key string, r Request) (flightResult, error) {
	// The token request runs on its own context: the first waiter giving
	// up must not fail the others. Each waiter still stops at its own ctx.
	ch := m.flight.DoChan(key, func() (any, error) {
		if e, ok := m.fresh(r); ok {
			return flightResult{e.tok, e.versions}, nil // minted by the flight that just ended
		}
		if err, ok := m.failed.recent(r, m.o.Now()); ok {
			return flightResult{versions: [2]int{r.Version, r.Version}}, err // failed in the flight that just ended
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.o.Timeout)
		defer cancel()
		e, err := m.mint(fctx, r)
		return flightResult{e.tok, e.versions}, err
	})
	select {
	case res := <-ch:
		f := res.Val.(flightResult)
		if res.Err != nil {
			if !f.validFor(r.Version) {
				return m.join(ctx, r.SecretID+"@"+strconv.Itoa(r.Version), r) // another version's failure
			}
			return flightResult{}, res.Err
		}
		return f, nil
	case <-ctx.Done():
		return flightResult{}, &Error{Reason: ReasonTimeout, err: ctx.Err()}
	}
}

// fresh returns the cached token for r if it is not due for refresh.
func (m *Minter) fresh(r Request) (*entry, bool) {
	e, ok := m.cache.Get(r.SecretID)
	if !ok || (e.versions[0] != r.Version && e.versions[1] != r.Version) {
		return nil, false
	}
	if jwtPerRequest(r.Spec) {
		return nil, false
	}
	now := m.o.Now()
	return e, now.Before(e.tok.Expiry.Add(-refreshMargin(e.tok.Expiry.Sub(e.minted))))
}

// refreshMargin is how long before expiry a token is replaced: a fifth of
// its lifetime, at most a minute, so a request never carries a token that
// expires on the way.
func refreshMargin(lifetime time.Duration) time.Duration {
	return min(lifetime/5, time.Minute)
}

// defaultLifetime bounds a token whose endpoint gave no expires_in.
const defaultLifetime = 5 * time.Minute

// MaxLifetime bounds how long a token is cached whatever its endpoint says
// (x/oauth2 takes expires_in up to 68 years): a token the issuer withdraws
// early is replaced within a day rather than used until a restart.
const MaxLifetime = 24 * time.Hour

// mint asks the type's source for a token and caches it. The entry is
// returned also with an error, for the versions it was minted for.
func (m *Minter) mint(ctx context.Context, r Request) (*entry, error) {
	now := m.o.Now()
	e := &entry{minted: now, versions: [2]int{r.Version, r.Version}}
	if old, ok := m.cache.Get(r.SecretID); ok && old.versions[0] == r.Version {
		e.refresh = old.refresh
	}
	var (
		value    string
		lifetime time.Duration
		err      error
	)
	ctx = m.withClient(ctx)
	switch {
	case r.Fetch != nil:
		value, lifetime, err = r.Fetch(ctx)
	case r.Spec.Type == inject.TypeOAuth2ClientCredentials:
		value, lifetime, err = m.clientCredentials(ctx, r)
	case r.Spec.Type == inject.TypeOAuth2RefreshToken:
		value, lifetime, err = m.refreshToken(ctx, r, e)
	case r.Spec.Type == inject.TypeGoogleServiceAccount:
		value, lifetime, err = m.serviceAccount(ctx, r)
	case r.Spec.Type == inject.TypeGitHubApp:
		value, lifetime, err = m.githubApp(ctx, r, now)
	case r.Spec.Type == inject.TypeJWT:
		value, lifetime, err = m.signJWT(r, now)
	default:
		err = &Error{Reason: ReasonInvalid, err: fmt.Errorf("type %q is not minted", r.Spec.Type)}
	}
	if err == nil && inject.IsMinted(r.Spec.Type) && (value == "" || !printable(value)) {
		err = &Error{Reason: ReasonBadAnswer, err: errors.New("the minted token is empty or not printable")}
	}
	if err != nil {
		m.dropAfterFailure(r, e)
		var me *Error
		if !errors.As(err, &me) {
			err = classify(err)
		}
		m.failed.record(r, err, now) // the proxy logs the failure, once per request
		return e, err
	}
	m.failed.clear(r)
	lifetime = min(lifetime, MaxLifetime)
	if lifetime <= 0 {
		lifetime = defaultLifetime
	}
	e.tok = Token{value: value, Expiry: now.Add(lifetime)}
	m.cache.Add(r.SecretID, e)
	return e, nil
}

// dropAfterFailure drops the cached token of r's version after a failed mint. A
// rotated refresh token that only this process holds (the store could not
// keep it) is kept, with no token, for the next attempt: the stored one no
// longer works at the endpoint, so forgetting it after a passing failure
// would lose the credential. Another version's entry is left alone.
func (m *Minter) dropAfterFailure(r Request, e *entry) {
	old, ok := m.cache.Get(r.SecretID)
	if ok && old.versions[0] != r.Version && old.versions[1] != r.Version {
		return
	}
	if e.refresh != "" {
		m.cache.Add(r.SecretID, &entry{versions: e.versions, refresh: e.refresh})
		return
	}
	m.cache.Remove(r.SecretID)
}

func jwtPerRequest(s inject.Spec) bool {
	return s.Type == inject.TypeJWT && s.Mint != nil && s.Mint.PerRequest
}

// printable reports whether a token can go on a header line.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
