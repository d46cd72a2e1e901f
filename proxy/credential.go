package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
)

// Grants from the proxy credentials. A tool that can be pointed at a proxy
// (HTTPS_PROXY=http://alter:SECRET@127.0.0.1:8080) but cannot add a header
// selects its grants with the proxy URL's password:
//
//   - without proxy_auth, a Basic password (or a Bearer token) that is a
//     grant id selects that grant, and one that is a profile token
//     (alt_p_...) selects the profile's grants; a grant or token no store
//     knows, a revoked or expired one, and a malformed token are refused
//     with the unknown grant's answer (403 grant_unavailable) on the request
//     or the CONNECT, never tunnelled blind; any other password is not read;
//   - with proxy_auth, the password is the client's own secret, and a client
//     entry that names a profile selects that profile's grants.
//
// A plain request's credentials apply to it; a CONNECT's apply to every
// request inside the tunnel (a Proxy-Authorization sent inside a tunnel is
// not read: the tunnel's binding was made when it opened, and the header is
// stripped like any other). For each request, the one grant whose
// destinations reach the target is used, as if it had been named in
// X-Alter-Grant; an X-Alter-Grant header still wins for its request. A
// target no grant of the binding reaches is a request without a grant
// (passthrough), unless the profile denies unmatched targets: then it is
// refused with 403 destination_not_allowed, header or not, and nothing is
// dialled. The binding is resolved again for every request, so a revoked
// profile or grant stops a tunnel already open.
//
// The credential is never kept: a profile token is reduced to its digest at
// once, a grant id is the grant (recorded as the grant, as from the header),
// and the audit record names the profile, never its token.

// selector is what a request's proxy credentials named, before the store
// is asked. It holds no token: only a token's digest.
type selector struct {
	grantID  string         // a grant id
	digest   profile.Digest // or a profile token's digest (hasToken)
	hasToken bool
	name     string   // or a profile named by a proxy_auth client
	fail     *failure // or a credential that is refused outright
}

type selectorKey struct{}

// withSelector records the proxy credentials' choice on the request.
func withSelector(ctx context.Context, sel *selector) context.Context {
	if sel == nil {
		return ctx
	}
	return context.WithValue(ctx, selectorKey{}, sel)
}

func selectorOf(r *http.Request) *selector {
	sel, _ := r.Context().Value(selectorKey{}).(*selector)
	return sel
}

// credentials reads a request's Proxy-Authorization on the proxy listener:
// the authenticated client (with proxy_auth) and what the credentials
// select. ok is false when proxy_auth is configured and the request does
// not authenticate (407).
func (p *Proxy) credentials(h http.Header) (actor string, sel *selector, ok bool) {
	if p.auth != nil {
		c, ok := p.auth.authenticate(h)
		if !ok {
			return "", nil, false
		}
		if c.Profile != "" {
			sel = &selector{name: c.Profile}
		}
		return c.Name, sel, true
	}
	return "", selectorFrom(h), true
}

// errBadCredentials refuses a password that is meant as a profile token
// (it has the prefix) but is not one: the same answer as an unknown token.
var errBadCredentials = errGrantUnavailable

// selectorFrom reads Proxy-Authorization without proxy_auth. A password
// that is neither a grant id (a UUID) nor begins with the token prefix is
// not ours to read and selects nothing, as before proxy credentials existed
// (the header is stripped either way); nor does a user name without a
// password. Two headers that both select are refused.
func selectorFrom(h http.Header) *selector {
	var found *selector
	for _, v := range h.Values("Proxy-Authorization") {
		sel := parseCredential(v)
		if sel == nil {
			continue
		}
		if found != nil {
			f := badRequest("more than one Proxy-Authorization names a grant or profile")
			return &selector{fail: &f}
		}
		found = sel
	}
	return found
}

// parseCredential reads one Proxy-Authorization value: Basic (the password)
// or Bearer (the token).
func parseCredential(v string) *selector {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(v), " ")
	cred = strings.TrimSpace(cred)
	var secret string
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return nil
		}
		_, secret, _ = strings.Cut(string(raw), ":")
	case "bearer":
		secret = cred
	}
	switch {
	case strings.HasPrefix(secret, profile.TokenPrefix):
		if !profile.LooksLikeToken(secret) {
			return &selector{fail: &errBadCredentials}
		}
		return &selector{digest: profile.DigestOf(secret), hasToken: true}
	case len(secret) == 36:
		if u, err := uuid.Parse(secret); err == nil {
			return &selector{grantID: u.String()}
		}
	}
	return nil
}

// bind asks the store what sel selects now. The failure is the answer to
// give (grant_unavailable for unknown, revoked and expired alike,
// store_unavailable when the store cannot say).
func (p *Proxy) bind(ctx context.Context, sel *selector, now time.Time, requestID string) (*profile.Binding, *failure) {
	if sel.fail != nil {
		return nil, sel.fail
	}
	b, err := p.lookup(ctx, sel, now)
	if errors.Is(err, secretstore.ErrGrantUnavailable) {
		// A grant or profile stored a moment ago may not be in the
		// snapshot yet (the store polls): a store that can catch up on
		// demand does so (one stat when nothing changed), so a profile is
		// usable as soon as alter profile create returns.
		if f, ok := p.opts.Store.(refresher); ok {
			f.Refresh()
			b, err = p.lookup(ctx, sel, now)
		}
	}
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, secretstore.ErrGrantUnavailable):
		return nil, &errGrantUnavailable
	}
	p.log.Warn("store lookup for the proxy credentials failed", zap.String("request_id", requestID), zap.Error(err))
	return nil, &errStoreUnavailable
}

// lookup asks the store once.
func (p *Proxy) lookup(ctx context.Context, sel *selector, now time.Time) (*profile.Binding, error) {
	var b *profile.Binding
	var err error
	switch {
	case sel.grantID != "":
		var res *secretstore.Resolved
		if res, err = p.opts.Store.Resolve(ctx, sel.grantID, now); err == nil {
			b = profile.NewBinding("", false, []profile.Member{{GrantID: sel.grantID, Destinations: res.Policy.Destinations()}})
		}
	case p.opts.Profiles == nil:
		err = secretstore.ErrGrantUnavailable // a store without profiles knows no token
	case sel.hasToken:
		b, err = p.opts.Profiles.ResolveProfileToken(ctx, sel.digest, now)
	default:
		b, err = p.opts.Profiles.ResolveProfileName(ctx, sel.name, now)
	}
	return b, err
}

// selectGrant picks the binding's grant for a target: "" is none (the
// request is passed through), a failure is a refusal.
func (p *Proxy) selectGrant(b *profile.Binding, t target, requestID string) (grantID string, f *failure) {
	id, err := b.Select(t.scheme, t.host, t.port)
	if err != nil {
		p.log.Warn("grants of a profile overlap; refusing", zap.String("request_id", requestID), zap.String("profile", b.Name))
		return "", &errStoreUnavailable
	}
	if id == "" && b.DenyUnmatched {
		return "", &errDestinationNotAllowed
	}
	return id, nil
}

// auditConnectRefusal records a CONNECT refused because of its proxy
// credentials, as a grant use would be: the profile's egress allowlist
// refusing a host is what an operator reviews the log for.
func (p *Proxy) auditConnectRefusal(r *http.Request, t *tunnel, b *profile.Binding, f failure) {
	rec := audit.Record{
		Time: p.now(), RequestID: newRequestID(), Actor: actorOf(r), SourceIP: peerAddr(r.RemoteAddr).String(),
		Method: http.MethodConnect, Scheme: "https", Host: t.host, Port: t.port,
		Decision: audit.DecisionDeny, Rule: f.rule, ErrorCode: f.code, Status: f.status,
	}
	if rec.Actor == "" {
		rec.Actor = p.opts.Identity
	}
	if b != nil {
		rec.Profile = b.Name
	}
	if p.opts.AuditFirst {
		rec.Phase = audit.PhaseResponse
	}
	if err := p.opts.Audit.Write(rec); err != nil {
		p.opts.Metrics.auditError()
		p.log.Error("audit record could not be written", zap.String("request_id", rec.RequestID), zap.Error(err))
	}
	p.opts.Metrics.request(audit.DecisionDeny, f.status, f.code)
}
