package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// target is where a request is going, as the proxy established it: from the
// CONNECT authority inside a tunnel, from the absolute URL otherwise.
type target struct {
	scheme string
	host   string // normalised
	port   int
}

// exchange takes one request, plain (tun is nil) or read inside a
// terminated tunnel, through the proxy and returns the response to send.
func (p *Proxy) exchange(req *http.Request, tun *tunnel) (resp *http.Response) {
	ex := &exchange{p: p, in: req, tunnel: tun, start: p.now(), id: newRequestID()}
	defer func() {
		// A bug must cost one request, not the connection or the process,
		// and must not print request state (the panic value is not logged:
		// it could hold anything the code had in hand).
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			p.log.Error("internal error while handling a request", zap.String("request_id", ex.id))
			if ex.record.GrantID != "" {
				resp = ex.deny(errInternal) // a grant use is audited even when it fails
			} else {
				resp = errInternal.response(req, ex.id)
			}
		}
	}()
	actor := actorOf(req)
	if actor == "" {
		actor = p.opts.Identity
	}
	ex.record = audit.Record{
		Time: ex.start, RequestID: ex.id, Actor: actor,
		Method: req.Method, SourceIP: peerAddr(req.RemoteAddr).String(),
	}
	return ex.run()
}

// exchange is one request's trip through the proxy.
type exchange struct {
	p      *Proxy
	in     *http.Request
	tunnel *tunnel
	start  time.Time
	id     string
	record audit.Record
	target target
	sent   *countingReader // the request body as forwarded, for bytes_in
	// secrets are the forms of the injected credential to mask in the
	// response, should the upstream echo them (see scrub.go).
	secrets []string
	// upgrade is the protocol the request switches to (websocket.go), or "".
	upgrade string
}

func (ex *exchange) run() *http.Response {
	t, fail := ex.destination()
	ex.target = t
	ex.record.Scheme, ex.record.Host, ex.record.Port = t.scheme, t.host, t.port
	ex.record.Path, ex.record.QueryKeys = ex.in.URL.Path, queryKeys(ex.in.URL)

	if fail == nil && upgradesToH2C(ex.in.Header) {
		// h2c over a proxy is a known request-smuggling route (the upgraded
		// connection escapes per-request checks); it is refused outright.
		f := badRequest("Upgrade: h2c is not supported through this proxy")
		fail = &f
	}
	if fail == nil {
		ex.upgrade, fail = upgradeOf(ex.in)
	}
	grantID, hasMarker, markerErr := readMarker(ex.in.Header)
	inTrailer := trailerMarker(ex.in)
	if sel := selectorOf(ex.in); sel != nil {
		return ex.withCredentials(sel, grantID, hasMarker, markerErr, inTrailer, fail)
	}
	if !hasMarker && markerErr == nil && !inTrailer {
		if fail != nil {
			ex.p.opts.Metrics.request(audit.DecisionDeny, fail.status, fail.code)
			return fail.response(ex.in, "")
		}
		return ex.passthrough()
	}
	ex.record.GrantID = grantID
	ex.record.Reason = ex.in.Header.Get(HeaderReason)
	if f := firstFailure(markerRefusal(fail, markerErr, inTrailer), ex.callContext()); f != nil {
		return ex.deny(*f)
	}
	if ex.in.URL.User != nil {
		return ex.deny(errUserInfo)
	}
	return ex.withGrant(grantID)
}

// errUserInfo refuses user information in the URL of a grant-bearing request.
var errUserInfo = badRequest("user information in the URL is not allowed with a grant")

// markerRefusal is why a request that carries a grant is refused before its
// grant is looked at: its target, or its marker, is wrong. nil if neither.
func markerRefusal(fail *failure, markerErr error, inTrailer bool) *failure {
	var f failure
	switch {
	case fail != nil:
		return fail
	case markerErr != nil:
		f = badRequest(markerErr.Error())
	case inTrailer:
		f = badRequest(errMarkerTrailer.Error())
	default:
		return nil
	}
	return &f
}

// withCredentials serves a request whose proxy credentials, or whose
// tunnel's, select grants (credential.go): the header's grant wins, else
// the binding's grant for the target, else passthrough; a profile that
// denies unmatched targets refuses any request none of its grants reaches.
func (ex *exchange) withCredentials(sel *selector, grantID string, hasMarker bool, markerErr error, inTrailer bool, fail *failure) *http.Response {
	ex.record.GrantID = grantID
	if !hasMarker {
		ex.record.GrantID = sel.grantID
	}
	ex.record.Reason = ex.in.Header.Get(HeaderReason)
	ctxFail := ex.callContext() // refuses a grant use only, not a passthrough
	b, f := ex.p.bind(ex.in.Context(), sel, ex.start, ex.id)
	if b != nil {
		ex.record.Profile = b.Name
	}
	if f == nil {
		f = markerRefusal(fail, markerErr, inTrailer)
	}
	if f != nil {
		return ex.deny(*f)
	}
	id, f := ex.p.selectGrant(b, ex.target, ex.id)
	if f != nil {
		return ex.deny(*f)
	}
	if hasMarker {
		id = grantID
	}
	if id == "" {
		ex.record = audit.Record{} // nothing of ours is used: not a grant use
		return ex.passthrough()
	}
	ex.record.GrantID = id
	if ctxFail != nil {
		return ex.deny(*ctxFail)
	}
	if ex.in.URL.User != nil {
		return ex.deny(errUserInfo)
	}
	return ex.withGrant(id)
}

// destination establishes the request's target. Inside a tunnel it is the
// CONNECT authority, and an inner Host or absolute URL naming anything else
// is refused: goproxy would otherwise send the request, and the credential,
// to the inner host.
func (ex *exchange) destination() (target, *failure) {
	u := ex.in.URL
	scheme := u.Scheme
	if scheme != "http" && scheme != "https" {
		f := badRequest("only http and https URLs can be proxied")
		return target{scheme: scheme}, &f
	}
	host, port, err := policy.NormalizeAuthority(scheme, u.Host)
	if err != nil {
		f := badRequest("the request's host is not a valid host name")
		return target{scheme: scheme}, &f
	}
	if ex.tunnel == nil {
		return target{scheme, host, port}, nil
	}
	t := target{scheme, ex.tunnel.host, ex.tunnel.port}
	if host != ex.tunnel.host || port != ex.tunnel.port {
		f := badRequest("the request names a host other than the one this tunnel was opened to")
		return t, &f
	}
	if ex.in.Host != "" {
		if h, p, err := policy.NormalizeAuthority(scheme, ex.in.Host); err != nil || h != t.host || p != t.port {
			f := badRequest("the Host header names a host other than the one this tunnel was opened to")
			return t, &f
		}
	}
	return t, nil
}

// withGrant resolves the grant, asks the policy, injects and forwards.
func (ex *exchange) withGrant(grantID string) *http.Response {
	p := ex.p
	res, err := p.opts.Store.Resolve(ex.in.Context(), grantID, ex.start)
	switch {
	case errors.Is(err, secretstore.ErrGrantUnavailable):
		return ex.deny(errGrantUnavailable)
	case err != nil:
		p.log.Warn("store lookup failed", zap.String("request_id", ex.id), zap.Error(err))
		return ex.deny(errStoreUnavailable)
	}
	ex.record.ParentGrantID = res.Grant.Parent
	ex.record.SecretName = res.Grant.Name
	ex.record.Provider = res.Secret.Provider

	d := res.Policy.Decide(policy.Input{
		Scheme: ex.target.scheme, Host: ex.target.host, Port: ex.target.port,
		Method: ex.in.Method, Path: ex.in.URL.EscapedPath(), Now: ex.start,
		SourceIP: peerAddr(ex.in.RemoteAddr), Actor: actorOf(ex.in),
	})
	if !d.Allowed {
		ex.record.Rule = d.Rule
		return ex.deny(policyDenied(d.Rule, d.Reason))
	}
	if res.Policy.HasApproval() || res.Policy.HasLimits() {
		if resp, goOn := ex.govern(res); !goOn {
			return resp
		}
	}

	fields, fail := ex.credential(res) // mint.go: stored or minted
	if fail != nil {
		return ex.deny(*fail)
	}
	env := inject.Env{Now: ex.start, MaxSignedBody: p.opts.MaxSignedBody, Upgrade: ex.upgrade}
	if p.opts.ScrubEcho == ScrubBody && len(ex.secrets) > 0 {
		// Compressed bodies cannot be scanned for an echoed secret.
		env.Strip = []string{"Accept-Encoding"}
	}
	var body io.ReadCloser
	if in := ex.in.Body; in != nil && in != http.NoBody {
		ex.sent = &countingReader{rc: in}
		body = ex.sent
	}
	out, err := res.Injector.Outbound(ex.in, d.Target, body, fields, env)
	if err != nil {
		switch {
		case errors.Is(err, inject.ErrBodyTooLarge):
			return ex.deny(errBodyTooLarge)
		case errors.Is(err, inject.ErrBadRequest):
			return ex.deny(badRequest(err.Error()))
		}
		p.log.Error("credential injection failed", zap.String("request_id", ex.id), zap.String("grant_id", grantID), zap.Error(err))
		return ex.deny(errInternal)
	}
	ex.record.Decision = audit.DecisionAllow
	if p.opts.AuditFirst {
		// Durable audit: the grant use is on disk before any byte leaves.
		rec := ex.record
		rec.Phase = audit.PhaseRequest
		if !ex.writeAudit(rec) {
			return ex.auditUnavailable()
		}
	}
	rt := p.grantRT
	if ex.upgrade != "" {
		rt = p.grantTr // net/http's Transport hands over a switched connection; h1 refuses 101
	}
	sent := time.Now()
	resp, err := rt.RoundTrip(out)
	p.opts.Metrics.upstream("grant", time.Since(sent))
	if bodyErr := ex.sent.failed(); bodyErr != nil {
		// The client's body broke off (a malformed chunk, a hang-up) while
		// it was being sent: the upstream got a truncated request, and
		// whatever it answered after that is not an answer to what the
		// client meant to send. An answer that arrived before the body
		// failed has already gone back by the time the failure is seen.
		if resp != nil {
			_ = resp.Body.Close()
		}
		p.log.Info("request body failed while forwarding", zap.String("request_id", ex.id), zap.Error(bodyErr))
		return ex.finish(errBadBody.response(ex.in, ex.id), errBadBody.code)
	}
	if err != nil {
		f := classify(err)
		if f.code == CodePolicyDenied {
			ex.record.Decision, ex.record.Rule = audit.DecisionDeny, policy.RuleDestination
		}
		p.log.Info("upstream request failed", zap.String("request_id", ex.id), zap.String("host", ex.target.host), zap.Error(redactURLError(err)))
		return ex.finish(f.response(ex.in, ex.id), f.code)
	}
	if f := ex.checkSwitch(resp); f != nil {
		p.log.Info("upstream switched protocols unasked", zap.String("request_id", ex.id), zap.String("host", ex.target.host))
		return ex.finish(f.response(ex.in, ex.id), f.code)
	}
	return ex.finish(ex.cleanResponse(resp), "")
}

// passthrough forwards a request that carries no grant, unchanged except for
// the proxy's own and hop-by-hop headers.
func (ex *exchange) passthrough() *http.Response {
	m := ex.p.opts.Metrics
	if !ex.p.passthrough {
		m.request(audit.DecisionDeny, errPassthrough.status, errPassthrough.code)
		return errPassthrough.response(ex.in, "")
	}
	in := ex.in
	out := in.Clone(in.Context())
	hostport := net.JoinHostPort(ex.target.host, strconv.Itoa(ex.target.port))
	out.URL.Host = hostport
	out.URL.User = nil
	out.RequestURI = ""
	out.Close = false
	if out.Host == "" {
		out.Host = in.URL.Host
	}
	inject.RemoveHopByHop(out.Header)
	inject.RemoveAlterHeaders(out.Header)
	if ex.upgrade != "" {
		inject.SetUpgrade(out.Header, ex.upgrade)
	}
	sent := time.Now()
	resp, err := ex.p.passTr.RoundTrip(out)
	m.upstream("passthrough", time.Since(sent))
	if err != nil {
		ex.p.log.Debug("passthrough request failed", zap.String("host", ex.target.host), zap.Error(redactURLError(err)))
		f := classify(err)
		m.request("passthrough", f.status, f.code)
		return f.response(in, "")
	}
	if f := ex.checkSwitch(resp); f != nil {
		m.request("passthrough", f.status, f.code)
		return f.response(in, "")
	}
	m.request("passthrough", resp.StatusCode, "")
	return ex.cleanResponse(resp)
}

// cleanResponse removes hop-by-hop headers and anything that imitates the
// proxy's own X-Alter-* headers from an upstream response.
func (ex *exchange) cleanResponse(resp *http.Response) *http.Response {
	inject.RemoveHopByHop(resp.Header)
	inject.RemoveAlterHeaders(resp.Header)
	switched := resp.StatusCode == http.StatusSwitchingProtocols // checkSwitch passed it
	if switched {
		inject.SetUpgrade(resp.Header, ex.upgrade)
	}
	if len(ex.secrets) > 0 {
		scrubHeaders(resp.Header, ex.secrets)
		// A switched connection's bytes are frames, relayed as they are.
		if ex.p.opts.ScrubEcho == ScrubBody && !switched {
			if resp.Header.Get("Content-Encoding") != "" {
				ex.p.log.Debug("compressed response to a grant request: not scanned for an echoed secret", zap.String("request_id", ex.id))
			}
			resp.Body = newScrubber(resp.Body, ex.secrets)
		}
	}
	if resp.Trailer != nil {
		// The names come from the upstream's Trailer field and are
		// announced to the client before the body: only valid names, and
		// none that echo the credential (an upstream can announce
		// "Trailer: <Authorization>").
		for k := range resp.Trailer {
			if !httpguts.ValidHeaderFieldName(k) {
				delete(resp.Trailer, k)
			}
		}
		scrubHeaders(resp.Trailer, ex.secrets)
		// Trailer values arrive only at the end of the body, and net/http
		// fills in whatever the upstream sent, announced or not; so they are
		// filtered again when the body ends.
		inject.RemoveAlterHeaders(resp.Trailer)
		resp.Body = &trailerFilter{ReadCloser: resp.Body, trailer: resp.Trailer, secrets: ex.secrets}
	}
	resp.Request = ex.in
	return resp
}

// deny answers a refused grant-bearing request and records it.
func (ex *exchange) deny(f failure) *http.Response {
	ex.record.Decision = audit.DecisionDeny
	if f.rule != "" {
		ex.record.Rule = f.rule
	}
	if ex.p.opts.AuditFirst {
		// A durable audit log must hold the denial before the client hears
		// of it; if it cannot, the client is told the log is unavailable.
		rec := ex.record
		rec.Phase, rec.Status, rec.ErrorCode = audit.PhaseResponse, f.status, f.code
		rec.Latency = ex.p.now().Sub(ex.start)
		if !ex.writeAudit(rec) {
			return ex.auditUnavailable()
		}
		ex.p.opts.Metrics.request(audit.DecisionDeny, f.status, f.code)
		resp := f.response(ex.in, ex.id)
		return resp
	}
	return ex.finish(f.response(ex.in, ex.id), f.code)
}

// writeAudit writes rec and reports whether it was written.
func (ex *exchange) writeAudit(rec audit.Record) bool {
	if err := ex.p.opts.Audit.Write(rec); err != nil {
		ex.p.opts.Metrics.auditError()
		ex.p.log.Error("audit record could not be written", zap.String("request_id", ex.id), zap.Error(err))
		return false
	}
	return true
}

// auditUnavailable answers a request the durable audit log could not record.
func (ex *exchange) auditUnavailable() *http.Response {
	ex.p.opts.Metrics.request(audit.DecisionDeny, errAuditUnavailable.status, errAuditUnavailable.code)
	return errAuditUnavailable.response(ex.in, ex.id)
}
