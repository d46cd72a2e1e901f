package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/mint"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/proxy/internal/h1"
	"github.com/alter-sidecar/alter/ratelimit"
	"github.com/alter-sidecar/alter/secretstore"
)

// LeafSource hands out leaf certificates for the hosts the proxy terminates.
type LeafSource interface {
	Get(host string) (*tls.Certificate, error)
}

// MITMMode chooses which CONNECT tunnels the proxy terminates.
type MITMMode struct {
	All   bool     // every tunnel
	Hosts []string // these hosts (normalised), in addition to Auto
	Auto  bool     // the hosts some usable grant may reach
}

// DefaultMaxSignedBody is the default bound on a body buffered for signing.
const DefaultMaxSignedBody = 10 << 20

// Options wire a Proxy.
type Options struct {
	Store       secretstore.Resolver
	Leaves      LeafSource
	Audit       audit.Sink
	Log         *zap.Logger
	MITM        MITMMode
	Passthrough bool // forward requests that carry no grant
	Upstream    UpstreamOptions
	// MaxSignedBody bounds the body held in memory to sign it (SigV4).
	MaxSignedBody int64
	// AuditFirst makes the audit log part of the request path (durable
	// audit): an allowed request is recorded before it is forwarded and
	// its outcome after; a denial is recorded before it is answered. When a
	// record cannot be written the client gets 503 audit_unavailable and
	// nothing is sent upstream.
	AuditFirst bool
	// ScrubEcho chooses where an echoed credential is masked in responses
	// to grant-bearing requests: ScrubHeaders (the default) or ScrubBody
	// (headers and body). See scrub.go.
	ScrubEcho string
	// Metrics, if set, count requests, latencies and tunnels.
	Metrics *Metrics
	// Timeouts for slow or idle clients; zero fields take DefaultTimeouts.
	Timeouts Timeouts
	// Clients, when set, must authenticate with Proxy-Authorization; the
	// client's name becomes the audit actor.
	Clients []AuthClient
	// Profiles, if set, resolves profile tokens and the profiles proxy_auth
	// clients name (credential.go); nil: every profile token is unknown.
	Profiles secretstore.ProfileResolver
	// Approvals keeps approvals for grants that require them (govern.go);
	// nil: such grants' matching requests get 503 and go nowhere.
	Approvals approval.Store
	// ApprovalHold is how long a request waits for a decision before 403
	// approval_pending (DefaultApprovalHold when zero); ApprovalTTL how
	// long a pending approval stays decidable (DefaultApprovalTTL).
	ApprovalHold, ApprovalTTL time.Duration
	// Notify, if set, is told of each new pending approval; it must not
	// block (approval.Notifier queues).
	Notify func(approval.Approval)
	// Limiter counts grant uses against rates and quotas; nil: a fresh
	// in-process counter (ratelimit.Local).
	Limiter ratelimit.Counter
	// Identity is the actor recorded in audit records.
	Identity string
	// Now is the clock; tests replace it.
	Now func() time.Time
	// DisableFastPath sends every request through net/http's server
	// instead of the fast path (fastpath.go): for comparisons and tests.
	DisableFastPath bool

	onFastPath func(*http.Request) // tests: sees each request the fast path serves
}

// Proxy is an http.Handler that proxies requests and injects credentials.
type Proxy struct {
	opts                      Options
	gp                        *goproxy.ProxyHttpServer
	grantTr                   *http.Transport   // SSRF-guarded, for requests that carry a credential
	grantRT                   http.RoundTripper // an h1.Client, or grantTr (UpstreamOptions.HTTP2)
	passTr                    *http.Transport   // for requests that carry none
	passDial                  *dialer
	log                       *zap.Logger
	now                       func() time.Time
	mitmHosts                 map[string]bool
	passthrough               bool
	auth                      *clientAuth // nil: no client authentication
	tunnels                   tunnelServers
	fastPath                  bool     // !Options.DisableFastPath
	rawTunnels                sync.Map // *closeNotifyConn: open passthrough tunnels
	relays                    relaySet // open WebSockets (relay.go)
	limiter                   ratelimit.Counter
	approvalHold, approvalTTL time.Duration
	minter                    *mint.Minter // minted credentials (mint.go)
}

// CloseRawTunnels closes every open passthrough tunnel and WebSocket. Their
// bytes are opaque, so they cannot be drained; a config reload that changes
// who may use the proxy, or whether passthrough is allowed, ends them so no
// client keeps what the new config would refuse. A WebSocket whose handshake
// is still in flight does not open afterwards.
func (p *Proxy) CloseRawTunnels() {
	p.rawTunnels.Range(func(k, _ any) bool {
		_ = k.(*closeNotifyConn).Close()
		return true
	})
	p.relays.closeAll()
}

// New builds a proxy. It never uses goproxy's built-in CA or its default
// transport: both are replaced here.
func New(o Options) (*Proxy, error) {
	if o.Store == nil || o.Leaves == nil || o.Audit == nil {
		return nil, errors.New("proxy: Store, Leaves and Audit are required")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Timeouts = o.Timeouts.withDefaults()
	if o.MaxSignedBody <= 0 {
		o.MaxSignedBody = DefaultMaxSignedBody
	}
	// Passthrough requests and untouched tunnels share one dialer.
	passDial := newDialer(o.Upstream, false)
	grantDial := newDialer(o.Upstream, true)
	p := &Proxy{
		opts:         o,
		grantTr:      newTransport(o.Upstream, grantDial),
		passTr:       newTransport(o.Upstream, passDial),
		passDial:     passDial,
		log:          o.Log,
		now:          o.Now,
		mitmHosts:    map[string]bool{},
		passthrough:  o.Passthrough,
		fastPath:     !o.DisableFastPath,
		limiter:      o.Limiter,
		approvalHold: o.ApprovalHold,
		approvalTTL:  o.ApprovalTTL,
	}
	if p.limiter == nil {
		p.limiter = ratelimit.NewLocal()
	}
	if p.approvalHold <= 0 {
		p.approvalHold = DefaultApprovalHold
	}
	if p.approvalTTL <= 0 {
		p.approvalTTL = DefaultApprovalTTL
	}
	p.grantRT = p.grantTr
	if !o.Upstream.HTTP2 {
		p.grantRT = h1.New(h1.Options{Dial: grantDial.DialContext, RootCAs: o.Upstream.RootCAs,
			DialTimeout: o.Upstream.DialTimeout, HeaderTimeout: o.Upstream.ResponseHeaderTimeout})
	}
	m, err := newMinter(o, p.grantTr)
	if err != nil {
		return nil, err
	}
	p.minter = m
	if len(o.Clients) > 0 {
		p.auth = &clientAuth{clients: append([]AuthClient(nil), o.Clients...)}
	}
	for _, h := range o.MITM.Hosts {
		if n, err := policy.NormalizeHost(h); err == nil {
			p.mitmHosts[n] = true
		}
	}

	gp := goproxy.NewProxyHttpServer()
	gp.Logger = goproxyLogger{p.log}
	gp.Verbose = false
	gp.Tr = p.passTr // never used: goproxy only sees CONNECTs (see ServeHTTP)
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = func(req *http.Request, network, addr string) (net.Conn, error) {
		c, err := p.passDial.DialContext(req.Context(), network, addr)
		if err != nil {
			return nil, err
		}
		p.opts.Metrics.tunnel("passthrough", 1)
		cc := &closeNotifyConn{Conn: c}
		cc.onClose = func() {
			p.opts.Metrics.tunnel("passthrough", -1)
			p.rawTunnels.Delete(cc)
		}
		p.rawTunnels.Store(cc, struct{}{})
		return cc, nil
	}
	gp.NonproxyHandler = http.HandlerFunc(p.serveNonProxy)
	// goproxy's own answer to a failed tunnel dial repeats the dial error,
	// addresses included; ours says only what kind of failure it was.
	gp.ConnectionErrHandler = func(w io.Writer, ctx *goproxy.ProxyCtx, err error) {
		p.log.Debug("passthrough tunnel failed", zap.Error(err))
		f := classify(err)
		resp := f.response(ctx.Req, "")
		resp.Close = true
		_ = resp.Write(w)
	}
	gp.OnRequest().HandleConnectFunc(p.handleConnect)
	p.gp = gp
	return p, nil
}

// ServeHTTP implements http.Handler. Absolute-form requests and the CONNECTs
// the proxy must read are served here (see serveTunnel); goproxy tunnels
// the CONNECTs left untouched.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ambiguousFraming(r) {
		w.Header().Set("Connection", "close")
		badRequest("Content-Length together with Transfer-Encoding is ambiguous; send one").write(w, r)
		return
	}
	actor, sel, ok := p.credentials(r.Header)
	if !ok {
		proxyAuthRequired(w, r)
		return
	}
	if actor != "" {
		r = withActor(r, actor)
	}
	if sel != nil {
		r = r.WithContext(withSelector(r.Context(), sel))
	}
	if r.Method != http.MethodConnect {
		// Absolute-form requests are ours from end to end, as inside a
		// terminated tunnel: going through goproxy's handler would only
		// copy every response header once more.
		if !r.URL.IsAbs() {
			p.serveNonProxy(w, r)
			return
		}
		p.respond(w, p.exchange(r, nil))
		return
	}
	d, t, f := p.decideConnect(r)
	if d == connectTerminate {
		p.serveTunnel(w, r, t)
		return
	}
	// goproxy tunnels or refuses; handleConnect reads this decision rather
	// than working it out again.
	r = r.WithContext(context.WithValue(r.Context(), connectKey{}, connectResult{d, t, f}))
	p.gp.ServeHTTP(w, r)
}

// CloseIdleConnections closes pooled upstream connections.
func (p *Proxy) CloseIdleConnections() {
	p.grantTr.CloseIdleConnections()
	p.passTr.CloseIdleConnections()
	if h, ok := p.grantRT.(*h1.Client); ok {
		h.CloseIdleConnections()
	}
}

// serveNonProxy answers requests in origin form (GET /path), which are not
// proxy requests at all.
func (p *Proxy) serveNonProxy(w http.ResponseWriter, r *http.Request) {
	badRequest("this is a proxy: send absolute-form requests (GET http://host/path) or CONNECT").write(w, r)
}

// closeNotifyConn runs onClose once, when the connection is first closed.
type closeNotifyConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *closeNotifyConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

// CloseWrite and CloseRead keep half-close working: goproxy half-closes
// tunnels when both ends are TCP connections.
func (c *closeNotifyConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Conn.Close()
}

func (c *closeNotifyConn) CloseRead() error {
	if hc, ok := c.Conn.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return nil
}

// goproxyLogger routes goproxy's own warnings to our debug log. They can
// name hosts and paths, so they stay out of the default log level.
type goproxyLogger struct{ l *zap.Logger }

func (g goproxyLogger) Printf(format string, v ...any) {
	if ce := g.l.Check(zap.DebugLevel, "goproxy"); ce != nil {
		ce.Write(zap.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...))))
	}
}
