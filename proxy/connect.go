package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/elazarl/goproxy"

	"github.com/alter-sidecar/alter/policy"
)

// tunnel is what the proxy remembers about a CONNECT it terminated. Every
// request read inside the tunnel is bound to this authority: it is where the
// request goes, whatever the inner Host header or URL says.
type tunnel struct {
	host  string // normalised
	port  int
	peer  string // the client's TCP address
	actor string // the authenticated client, if the proxy requires one
	// sel is what the CONNECT's proxy credentials selected, if anything:
	// every request inside uses it (credential.go).
	sel *selector
}

// authority is host:port in URL form (IPv6 in brackets).
func (t *tunnel) authority() string {
	return net.JoinHostPort(t.host, strconv.Itoa(t.port))
}

// connectDecision chooses, for one CONNECT, between terminating TLS (so the
// requests inside can carry a grant), tunnelling the bytes untouched, and
// refusing.
type connectDecision int

const (
	connectRefuse connectDecision = iota
	connectTerminate
	connectTunnel
)

func (p *Proxy) decideConnect(r *http.Request) (connectDecision, *tunnel, failure) {
	hostport := r.URL.Host
	if hostport == "" {
		hostport = r.Host
	}
	host, port, err := policy.NormalizeAuthority("https", hostport)
	if err != nil || !hasExplicitPort(hostport) {
		return connectRefuse, nil, badRequest("CONNECT needs a valid host:port")
	}
	t := &tunnel{host: host, port: port, peer: r.RemoteAddr, actor: actorOf(r), sel: selectorOf(r)}
	if t.sel != nil {
		// Proxy credentials are checked before the tunnel opens: an unknown
		// one is refused here, never tunnelled blind, and a host the
		// binding covers is terminated whatever mitm.hosts says.
		b, f := p.bind(r.Context(), t.sel, p.now(), "")
		switch {
		case f != nil:
			p.auditConnectRefusal(r, t, b, *f)
			return connectRefuse, t, *f
		case b.Covers(host, port):
			return connectTerminate, t, failure{}
		case b.DenyUnmatched:
			p.auditConnectRefusal(r, t, b, errDestinationNotAllowed)
			return connectRefuse, t, errDestinationNotAllowed
		}
	}
	if p.shouldTerminate(host, port) {
		return connectTerminate, t, failure{}
	}
	if !p.passthrough {
		// No grant can reach this host, so nothing inside the tunnel could
		// be allowed: an egress gate refuses it outright.
		return connectRefuse, t, errPassthrough
	}
	return connectTunnel, t, failure{}
}

// connectResult is ServeHTTP's decision for a CONNECT, handed to
// handleConnect through the request's context.
type connectResult struct {
	d connectDecision
	t *tunnel
	f failure
}

type connectKey struct{}

// handleConnect is goproxy's CONNECT hook. Tunnels the proxy terminates
// never reach it (ServeHTTP serves those itself); it tunnels or refuses.
func (p *Proxy) handleConnect(_ string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	res, ok := ctx.Req.Context().Value(connectKey{}).(connectResult)
	if !ok {
		res.d, res.t, res.f = p.decideConnect(ctx.Req)
	}
	d, t, f := res.d, res.t, res.f
	if d == connectTunnel {
		return &goproxy.ConnectAction{Action: goproxy.ConnectAccept}, t.authority()
	}
	if f.code == "" {
		f = badRequest("CONNECT could not be served")
	}
	ctx.Resp = f.response(ctx.Req, "")
	return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, ctx.Req.Host
}

// shouldTerminate applies mitm.hosts.
func (p *Proxy) shouldTerminate(host string, port int) bool {
	if p.opts.MITM.All || p.mitmHosts[host] {
		return true
	}
	if !p.opts.MITM.Auto {
		return false
	}
	if p.grantCovers(host, port) {
		return true
	}
	// About to tunnel blind or refuse: a grant stored a moment ago may not
	// be in the snapshot yet (the store polls). A store that can catch up
	// on demand does so now, so a request right after `secret add` is
	// intercepted instead of reaching the real host with its grant id.
	if f, ok := p.opts.Store.(refresher); ok {
		f.Refresh()
		return p.grantCovers(host, port)
	}
	return false
}

// refresher is a store that can catch up with changes on demand (the file
// store: one stat when nothing changed).
type refresher interface{ Refresh() }

func (p *Proxy) grantCovers(host string, port int) bool {
	for _, pol := range p.opts.Store.Policies() {
		if pol.CoversHost(host, port) {
			return true
		}
	}
	return false
}

// tlsConfigFor serves a leaf for the CONNECT authority, whatever name the
// client puts in its SNI: a client asking for another name gets a
// certificate it will reject, and the request never leaves the tunnel's host.
func (p *Proxy) tlsConfigFor(t *tunnel) (*tls.Config, error) {
	leaf, err := p.opts.Leaves.Get(t.host)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

func hasExplicitPort(hostport string) bool {
	_, port, err := net.SplitHostPort(hostport)
	return err == nil && port != ""
}

// peerAddr extracts the client's IP from a RemoteAddr.
func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
