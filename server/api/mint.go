package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/mint"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// Server-side minting. For a grant whose credential is minted, a sidecar
// never receives the long-lived secret (resolve withholds its fields): it
// asks POST /v1/sidecar/grants/{id}/token, and the server mints (caching
// the token until shortly before it expires, one token request per secret
// however many sidecars ask, and sealing a rotated refresh token back into
// the database, version-checked) and answers with the short-lived token.

// eventMint is the server audit event of a token handed to a sidecar.
const eventMint = "mint"

// newMinter builds the server's minter. Token requests go through
// o.MintTransport, or by default through guardedTransport(o.MintTrust).
func newMinter(o Options, log *zap.Logger) (*mint.Minter, error) {
	tr := o.MintTransport
	if tr == nil {
		tr = guardedTransport(o.MintTrust)
	}
	rot, _ := o.Store.(mint.Rotator)
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return mint.New(mint.Options{Transport: tr, Rotator: rot, Now: now, Log: log})
}

// MintTrust is what the operator opens for the server's token requests
// beyond public addresses and the system roots (server.yaml's mint).
type MintTrust struct {
	// Resolve pins normalised host:port names to ip:port; a pinned address
	// is dialled whatever its range (the operator chose it).
	Resolve map[string]string
	// AllowPrivate lists internal ranges token endpoints may be on.
	AllowPrivate []netip.Prefix
	// RootCAs verifies token endpoints; nil: the system roots.
	RootCAs *x509.CertPool
}

// guardedTransport reaches token endpoints on public addresses only (the
// sidecar's SSRF rule for grants: no loopback, private, link-local or CGNAT
// address) unless t pins the name or allows the range, over verified TLS
// and no environment proxy: a token endpoint's name that resolves inside
// the server's network gets no client secret unless the operator said so.
func guardedTransport(t MintTrust) http.RoundTripper {
	rules := policy.DialRules{AllowPrivate: t.AllowPrivate}
	guarded := &net.Dialer{Timeout: 10 * time.Second, ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return errors.New("refused to dial an unparseable address")
		}
		if v := rules.CheckDial(ap, true); !v.Allowed {
			return errors.New("refused to dial a " + v.Class + " address")
		}
		return nil
	}}
	pinned := &net.Dialer{Timeout: 10 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := t.Resolve[policy.PinKey(addr)]; ok {
			return pinned.DialContext(ctx, network, to)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	return &http.Transport{Proxy: nil, DialContext: dial, TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: t.RootCAs},
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4}
}

// errNotMinted refuses a token for a grant whose credential is injected as
// stored (resolve is the call for those).
var errNotMinted = badRequest("the grant's credential is not a minted type; resolve it instead")

// mintToken answers with a minted token for a grant of the token's app.
// Like resolve, every call is in the audit trail before the answer goes.
func (h *handler) mintToken(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	id := r.PathValue("id")
	var out wire.MintedToken
	res, err := h.store.ResolveFor(r.Context(), tok.App, id, h.now())
	if err == nil {
		err = h.mintFor(r.Context(), res, &out)
	}
	ev := storage.ServerEvent{Event: eventMint, Actor: storage.TokenActor(tok), ActorID: storage.TokenActorID(tok.ID), TokenID: tok.ID, App: tok.App, GrantID: id, Time: h.now()}
	if err != nil {
		ev.Decision, ev.Error = audit.DecisionDeny, fromError(err).code
	}
	if aerr := h.store.RecordServerEvent(r.Context(), ev); aerr != nil {
		fail(w, r, errStoreUnavailable)
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// mintFor mints for a resolved grant. A failure is 502
// credential_unavailable with the reason as the message.
func (h *handler) mintFor(ctx context.Context, res *storage.Resolution, out *wire.MintedToken) error {
	if _, ok := res.Injector.Mint(); !ok {
		return errNotMinted
	}
	t, err := h.minter.Token(ctx, mint.Request{SecretID: res.Secret.ID, Version: res.Secret.Version, Spec: res.Secret.Spec, Fields: res.Fields})
	if err != nil {
		reason := mint.ReasonUnreachable
		var me *mint.Error
		if errors.As(err, &me) {
			reason = me.Reason
		}
		return &apiError{status: http.StatusBadGateway, code: wire.CodeCredentialUnavailable, message: reason, detail: err}
	}
	out.Token, out.ExpiresAt = t.Value(), t.Expiry
	return nil
}
