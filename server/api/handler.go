package api

import (
	"context"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/mint"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// Options configure the API.
type Options struct {
	Store storage.Storage
	// Logger gets one line per request; nil logs nothing.
	Logger *zap.Logger
	// KeepAlive is the event stream's comment interval (default 15 s).
	KeepAlive time.Duration
	// MaxWait bounds a long poll's wait (default and at most 60 s).
	MaxWait time.Duration
	// MaxWaitsPerToken, MaxWaitsPerApp and MaxWaits cap the open long
	// polls and event streams of one token, of one app's tokens together
	// and of the whole server (defaults DefaultMaxWaitsPerToken,
	// DefaultMaxWaitsPerApp, DefaultMaxWaits; see waitlimit.go).
	MaxWaitsPerToken, MaxWaitsPerApp, MaxWaits int
	// AuditRecordRate and AuditByteRate are what one sidecar token may
	// ship each second (after a burst of ten seconds' worth): defaults
	// DefaultAuditRecordRate, DefaultAuditByteRate.
	AuditRecordRate, AuditByteRate float64
	// PoliciesRate is how many /v1/sidecar/policies calls one sidecar
	// token may make each second, after a burst of PoliciesBurst
	// (defaults DefaultPoliciesRate, DefaultPoliciesBurst).
	PoliciesRate, PoliciesBurst float64
	// SidecarApproval makes every sidecar token created through the API
	// wait for a second admin token's approval (POST
	// /v1/tokens/{id}/approve) before it authenticates: the server setting
	// tokens.sidecar_approval.
	SidecarApproval bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MintTransport carries the server's token requests for minted
	// credentials (mint.go); nil: guardedTransport(MintTrust).
	MintTransport http.RoundTripper
	// MintTrust opens pinned names, private ranges and CAs to the
	// default transport (server.yaml's mint); zero: public addresses
	// only, system roots.
	MintTrust MintTrust
	// ForwardTargets are the names of server.yaml's audit.forward
	// targets, for GET /v1/audit/forwarding.
	ForwardTargets []string
	// ObserveRequest, when set, is told of every answered request: the
	// pattern of the route it matched ("GET /v1/grants/{id}", "" for
	// none; never the path, which holds ids), its status and how long it
	// took. For metrics.
	ObserveRequest func(route string, status int, elapsed time.Duration)
}

// Defaults of Options.
const (
	DefaultKeepAlive = 15 * time.Second
	DefaultMaxWait   = 60 * time.Second
	// A busy sidecar writes two records per request; 500 a second is a
	// few hundred requests a second, and a backlog after an outage drains
	// at that pace.
	DefaultAuditRecordRate = 500
	DefaultAuditByteRate   = 1 << 20
	// A sidecar loads its policies at start and once per change batch;
	// the pods sharing a token share this.
	DefaultPoliciesRate  = 20
	DefaultPoliciesBurst = 100
)

type handler struct {
	store     storage.Storage
	log       *zap.Logger
	keepAlive time.Duration
	maxWait   time.Duration
	now       func() time.Time
	waits     *waitLimiter
	// sidecarApproval: see Options.SidecarApproval.
	sidecarApproval bool
	// Per-token budgets (budget.go).
	auditRecords, auditBytes, policyCalls *budget
	// stopped ends long polls and event streams (on shutdown); see Handler.
	stopped context.Context
	// minter mints tokens for minted credentials (mint.go).
	minter *mint.Minter
	// forwardTargets: see Options.ForwardTargets.
	forwardTargets []string
	// ready answers /readyz and Handler.Ready (ready.go).
	ready *sharedCheck
}

// Handler is the API. Close ends open long polls and event streams so a
// graceful shutdown does not wait for them.
type Handler struct {
	http.Handler
	stop  context.CancelFunc
	waits *waitLimiter
	ready *sharedCheck
}

// Close ends open long polls and event streams; other requests finish.
func (h *Handler) Close() { h.stop() }

// New returns the API over o.Store.
func New(o Options) *Handler {
	h := &handler{store: o.Store, log: o.Logger, keepAlive: o.KeepAlive, maxWait: o.MaxWait, now: o.Now, sidecarApproval: o.SidecarApproval,
		forwardTargets: o.ForwardTargets}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.keepAlive <= 0 {
		h.keepAlive = DefaultKeepAlive
	}
	if h.maxWait <= 0 || h.maxWait > DefaultMaxWait {
		h.maxWait = DefaultMaxWait
	}
	if h.now == nil {
		h.now = time.Now
	}
	perToken, perApp, total := o.MaxWaitsPerToken, o.MaxWaitsPerApp, o.MaxWaits
	if perToken <= 0 {
		perToken = DefaultMaxWaitsPerToken
	}
	if perApp <= 0 {
		perApp = DefaultMaxWaitsPerApp
	}
	if total <= 0 {
		total = DefaultMaxWaits
	}
	h.waits = newWaitLimiter(perToken, perApp, total)
	def := func(v, d float64) float64 {
		if v <= 0 {
			return d
		}
		return v
	}
	recRate, byteRate := def(o.AuditRecordRate, DefaultAuditRecordRate), def(o.AuditByteRate, DefaultAuditByteRate)
	h.auditRecords = newBudget(recRate, 10*recRate, h.now)
	h.auditBytes = newBudget(byteRate, 10*byteRate, h.now)
	h.policyCalls = newBudget(def(o.PoliciesRate, DefaultPoliciesRate), def(o.PoliciesBurst, DefaultPoliciesBurst), h.now)
	m, err := newMinter(o, h.log)
	if err != nil {
		panic("api: " + err.Error()) // only without a transport, which newMinter always gives
	}
	h.minter = m
	h.ready = h.newReadyCheck()
	ctx, cancel := context.WithCancel(context.Background())
	h.stopped = ctx
	return &Handler{Handler: accessLog(h.log, o.ObserveRequest, h.routes()), stop: cancel, waits: h.waits, ready: h.ready}
}

type route struct {
	method, path, kind string // kind: the token kind, "" for none
	fn                 http.HandlerFunc
}

func (h *handler) routes() http.Handler {
	admin, sidecar := wire.KindAdmin, wire.KindSidecar
	table := []route{
		{"GET", "/healthz", "", h.healthz},
		{"GET", "/readyz", "", h.readyz},

		{"POST", "/v1/secrets", admin, h.addSecret},
		{"GET", "/v1/grants", admin, h.listGrants},
		{"GET", "/v1/grants/{id}", admin, h.getGrant},
		{"POST", "/v1/grants/{id}/clone", admin, h.cloneGrant},
		{"POST", "/v1/grants/{id}/revoke", admin, h.revokeGrant},
		{"POST", "/v1/grants/{id}/rotate", admin, h.rotateGrant},
		{"PUT", "/v1/grants/{id}/policy", admin, h.setPolicy},
		{"GET", "/v1/providers", admin, h.listProviders},
		{"GET", "/v1/providers/{name}", admin, h.getProvider},
		{"GET", "/v1/audit", admin, h.queryAudit},
		{"GET", "/v1/audit/forwarding", admin, h.forwarding},
		{"POST", "/v1/tokens", admin, h.createToken},
		{"GET", "/v1/tokens", admin, h.listTokens},
		{"POST", "/v1/tokens/{id}/revoke", admin, h.revokeToken},
		{"POST", "/v1/tokens/{id}/approve", admin, h.approveToken},
		{"GET", "/v1/approvals", admin, h.listApprovals},
		{"GET", "/v1/approvals/{id}", admin, h.getApproval},
		{"POST", "/v1/approvals/{id}/decide", admin, h.decideApproval},
		{"POST", "/v1/profiles", admin, h.createProfile},
		{"GET", "/v1/profiles", admin, h.listProfiles},
		{"GET", "/v1/profiles/{name}", admin, h.getProfile},
		{"PATCH", "/v1/profiles/{name}", admin, h.updateProfile},
		{"POST", "/v1/profiles/{name}/revoke", admin, h.revokeProfile},
		{"POST", "/v1/profiles/{name}/rotate-token", admin, h.rotateProfileToken},

		{"GET", "/v1/sidecar/grants/{id}", sidecar, h.resolve},
		{"POST", "/v1/sidecar/grants/{id}/token", sidecar, h.mintToken},
		{"GET", "/v1/sidecar/policies", sidecar, h.policies},
		{"GET", "/v1/sidecar/changes", sidecar, h.changes},
		{"GET", "/v1/sidecar/events", sidecar, h.events},
		{"POST", "/v1/sidecar/audit", sidecar, h.ingestAudit},
		{"GET", "/v1/sidecar/approvals", sidecar, h.sidecarListApprovals},
		{"POST", "/v1/sidecar/approvals", sidecar, h.createApproval},
		{"POST", "/v1/sidecar/find-approval", sidecar, h.findApproval},
		{"GET", "/v1/sidecar/approvals/{id}", sidecar, h.sidecarGetApproval},
		{"POST", "/v1/sidecar/approvals/{id}/use", sidecar, h.useApproval},
		{"GET", "/v1/sidecar/approvals/{id}/wait", sidecar, h.waitApproval},
		{"POST", "/v1/sidecar/profiles/resolve", sidecar, h.resolveProfile},
		{"POST", "/v1/sidecar/uses", sidecar, h.uses},
	}
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range table {
		fn := rt.fn
		if rt.kind != "" {
			fn = h.requireKind(rt.kind, fn)
		}
		pattern := rt.method + " " + rt.path
		mux.HandleFunc(pattern, withRoute(pattern, fn))
		if _, seen := allowed[rt.path]; !seen {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// A known path with another method: 405 in our error shape (the mux's
	// own answer is plain text). Patterns with a method take precedence.
	for _, p := range paths {
		allow := strings.Join(allowed[p], ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, r, errMethod)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, r, errNoRoute) })
	return canonical(mux)
}

// canonical answers a path that is not in its clean form ("//v1/grants",
// "/v1/a/../grants") with 404 in the API's error shape. The mux would
// redirect it with a text/html body that no client of this API reads; no
// client of ours sends such a path.
func canonical(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath() // "%2f" in a path segment is no separator
		if c := path.Clean(p); p == "" || (c != p && c+"/" != p) {
			writeError(w, r, errNoRoute)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
