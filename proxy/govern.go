package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/errcode"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/ratelimit"
	"github.com/alter-sidecar/alter/secretstore"
)

// A grant's governing rules, applied after its policy allowed the request
// and before anything is injected: an approval rule holds the request for
// a person (approval.go's model, Options.Approvals' store), and rates and
// quotas count it (Options.Limiter). A grant with neither costs two
// boolean checks on the header path.

// DefaultApprovalHold is how long a request waits for a decision when
// Options.ApprovalHold is zero; DefaultApprovalTTL how long a pending
// approval stays decidable.
const (
	DefaultApprovalHold = 60 * time.Second
	DefaultApprovalTTL  = time.Hour
)

var (
	errApprovalsUnavailable = failure{status: http.StatusServiceUnavailable, code: CodeStoreUnavailable, rule: policy.RuleApproval,
		message: "the grant requires approval, and this proxy has no approval store"}
	errTooManyPending = failure{status: http.StatusTooManyRequests, code: errcode.RateLimited, rule: policy.RuleApproval, retryAfter: 60,
		message: "too many approvals are pending for this grant; decide or let some expire first"}
	errApprovalElsewhere = badRequest("X-Alter-Approval names an approval for another request (grant, method, URL, body and client must be the same)")
	errApprovalUnknown   = badRequest("X-Alter-Approval names no approval this proxy knows")
	errApprovalHeader    = badRequest("X-Alter-Approval must be one approval id")
)

// govern applies approval and limits. It returns the answer to send
// instead of forwarding (a refusal, a 202), or nil to go on.
func (ex *exchange) govern(res *secretstore.Resolved) (*http.Response, bool) {
	pol := res.Policy
	needs, prefix := false, ""
	if pol.HasApproval() {
		path := ex.in.URL.EscapedPath()
		needs, prefix = pol.RequiresApproval(ex.in.Method, path)
		if alt, ok := withoutPathParams(path); !needs && ok {
			// Servers that drop path parameters read /v1/refunds;x as
			// /v1/refunds: what needs approval there needs it here.
			needs, prefix = pol.RequiresApproval(ex.in.Method, alt)
		}
	}
	if !needs {
		if f := ex.takeLimits(res); f != nil {
			return ex.deny(*f), false
		}
		return nil, true
	}
	return ex.approve(res, prefix)
}

// withoutPathParams is path with each segment's parameters (from ';',
// sent as is or as %3B) dropped, and whether there were any.
func withoutPathParams(path string) (string, bool) {
	if !strings.Contains(path, ";") && !strings.Contains(strings.ToUpper(path), "%3B") {
		return path, false
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		cut := len(seg)
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			cut = j
		}
		if j := strings.Index(strings.ToUpper(seg), "%3B"); j >= 0 && j < cut {
			cut = j
		}
		segs[i] = seg[:cut]
	}
	return strings.Join(segs, "/"), true
}

// takeLimits counts the request against the grant's limits and its
// ancestors'. nil: within them.
func (ex *exchange) takeLimits(res *secretstore.Resolved) *failure {
	if !res.Policy.HasLimits() {
		return nil
	}
	limits := res.Policy.Limits()
	if len(limits) != len(res.Chain) {
		// The store handed out a policy and a chain that do not belong
		// together: count nothing, forward nothing.
		ex.p.log.Error("grant limits and chain disagree", zap.String("request_id", ex.id))
		return &errInternal
	}
	uses := make([]ratelimit.Use, 0, len(limits))
	for i, l := range limits {
		if l.Any() {
			uses = append(uses, ratelimit.Use{GrantID: res.Chain[i], Actor: actorOf(ex.in), Limits: l})
		}
	}
	v, err := ex.p.limiter.Take(ex.in.Context(), uses, ex.start)
	if err != nil {
		ex.p.log.Warn("rate limit could not be checked", zap.String("request_id", ex.id), zap.Error(err))
		return &errStoreUnavailable
	}
	if v.OK {
		return nil
	}
	ex.p.opts.Metrics.rateLimited()
	msg := "the grant's limit " + v.Limit + " is used up"
	if v.GrantID != res.Grant.ID {
		msg = "a parent grant's limit " + v.Limit + " is used up"
	}
	return &failure{status: http.StatusTooManyRequests, code: errcode.RateLimited, rule: policy.RuleRateLimit,
		message: msg, retryAfter: int(v.RetryAfter / time.Second)}
}

// approve finds or creates the approval for a request that needs one, and
// holds the request until it is decided, the hold ends, or (with Prefer:
// respond-async) answers 202 at once.
func (ex *exchange) approve(res *secretstore.Resolved, prefix string) (*http.Response, bool) {
	p := ex.p
	store := p.opts.Approvals
	if store == nil {
		return ex.deny(errApprovalsUnavailable), false
	}
	body, f := ex.bufferBody()
	if f != nil {
		return ex.deny(*f), false
	}
	req := ex.approvalRequest(res, body, prefix)
	ctx := ex.in.Context()
	// respond-async is asked of this proxy, which answers it: the upstream
	// must not see it (an API that honours it would answer 202 itself).
	async := dropRespondAsync(ex.in.Header)

	a, found, f := ex.namedOrFound(store, req)
	if f != nil {
		return ex.deny(*f), false
	}
	if found {
		ex.recordApproval(a)
	}
	if found && a.Lets(req, ex.start) {
		return ex.release(res, store, a)
	}
	if found && a.StatusAt(ex.start) == approval.StatusDenied {
		p.opts.Metrics.approval("denied")
		return ex.deny(deniedFailure(a)), false
	}
	if !found || a.StatusAt(ex.start) != approval.StatusPending {
		var err error
		if a, err = store.Create(ctx, req, ex.start, p.approvalTTL); err != nil {
			if errors.Is(err, approval.ErrTooManyPending) {
				return ex.deny(errTooManyPending), false
			}
			p.log.Warn("approval could not be created", zap.String("request_id", ex.id), zap.Error(err))
			return ex.deny(errStoreUnavailable), false
		}
		p.opts.Metrics.approval("created")
		if p.opts.Notify != nil {
			p.opts.Notify(a)
		}
	}
	ex.record.ApprovalID = a.ID
	if async {
		p.opts.Metrics.approval("async")
		return ex.deny(failure{status: http.StatusAccepted, code: errcode.ApprovalPending, rule: policy.RuleApproval,
			message: "the request waits for approval; retry it, or send X-Alter-Approval, once it is approved", held: held(a)}), false
	}
	wctx, cancel := context.WithTimeout(ctx, p.approvalHold)
	defer cancel()
	decided, err := store.Wait(wctx, a.ID)
	switch {
	case err == nil && decided.Lets(req, p.now()):
		return ex.release(res, store, decided)
	case err == nil && decided.Status == approval.StatusDenied:
		ex.recordApproval(decided)
		p.opts.Metrics.approval("denied")
		return ex.deny(deniedFailure(decided)), false
	case err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
		p.log.Warn("approval could not be read", zap.String("request_id", ex.id), zap.Error(err))
		return ex.deny(errStoreUnavailable), false
	}
	p.opts.Metrics.approval("pending_timeout")
	return ex.deny(failure{status: http.StatusForbidden, code: errcode.ApprovalPending, rule: policy.RuleApproval,
		message: "the request was not approved in time; retry it, or send X-Alter-Approval, once it is approved", held: held(a)}), false
}

// release lets an approved request go: its limits are counted first (a
// request over its limit keeps its approval for a retry), then a
// one-request approval is used up.
func (ex *exchange) release(res *secretstore.Resolved, store approval.Store, a approval.Approval) (*http.Response, bool) {
	ex.recordApproval(a)
	if f := ex.takeLimits(res); f != nil {
		return ex.deny(*f), false
	}
	if err := store.Use(ex.in.Context(), a.ID, ex.id, ex.p.now()); err != nil {
		if errors.Is(err, approval.ErrUsed) || errors.Is(err, approval.ErrDecided) {
			ex.p.opts.Metrics.approval("already_used")
			return ex.deny(failure{status: http.StatusForbidden, code: errcode.ApprovalPending, rule: policy.RuleApproval,
				message: "the approval was already used by another request; retry to ask again", held: held(a)}), false
		}
		ex.p.log.Warn("approval could not be used", zap.String("request_id", ex.id), zap.Error(err))
		return ex.deny(errStoreUnavailable), false
	}
	ex.p.opts.Metrics.approval("approved")
	return nil, true
}

// recordApproval names the approval, and its decision when there is one,
// in the request's audit record: who let it through or refused it, and why.
func (ex *exchange) recordApproval(a approval.Approval) {
	ex.record.ApprovalID = a.ID
	if d := a.Decision; d != nil {
		ex.record.ApprovalBy, ex.record.ApprovalNote = d.By, d.Note
	}
}

// namedOrFound is the approval the request names in X-Alter-Approval (which
// must be for this request), or the one the store finds for it.
func (ex *exchange) namedOrFound(store approval.Store, req approval.Request) (approval.Approval, bool, *failure) {
	vals := headerValues(ex.in.Header, errcode.HeaderApproval)
	if len(vals) == 0 {
		a, ok, err := store.Find(ex.in.Context(), req, ex.start)
		if err != nil {
			ex.p.log.Warn("approvals could not be read", zap.String("request_id", ex.id), zap.Error(err))
			return a, false, &errStoreUnavailable
		}
		return a, ok, nil
	}
	id := strings.TrimSpace(vals[0])
	if u, err := uuid.Parse(id); len(vals) != 1 || err != nil || len(id) != 36 {
		return approval.Approval{}, false, &errApprovalHeader
	} else {
		id = u.String()
	}
	a, err := store.Get(ex.in.Context(), id)
	switch {
	case errors.Is(err, approval.ErrNotFound):
		return a, false, &errApprovalUnknown
	case err != nil:
		ex.p.log.Warn("approvals could not be read", zap.String("request_id", ex.id), zap.Error(err))
		return a, false, &errStoreUnavailable
	}
	if !a.Lets(req, ex.start) && (a.GrantID != req.GrantID || a.Match != req.Match || a.Actor != req.Actor) {
		return a, false, &errApprovalElsewhere
	}
	return a, true, nil
}

// bufferBody reads the body a held request will forward, so its digest is
// known and it can be sent once approved. Bounded by MaxSignedBody.
func (ex *exchange) bufferBody() ([]byte, *failure) {
	in := ex.in.Body
	if in == nil || in == http.NoBody {
		return nil, nil
	}
	max := ex.p.opts.MaxSignedBody
	body, err := io.ReadAll(io.LimitReader(in, max+1))
	if err != nil {
		return nil, &errBadBody
	}
	if int64(len(body)) > max {
		f := errBodyTooLarge
		f.message = "the request body is larger than the proxy holds for an approval (max_signed_body)"
		return nil, &f
	}
	_ = in.Close()
	ex.in.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// approvalRequest describes the request for the people deciding it.
func (ex *exchange) approvalRequest(res *secretstore.Resolved, body []byte, prefix string) approval.Request {
	t := ex.target
	u := t.scheme + "://" + t.host + ":" + strconv.Itoa(t.port) + ex.in.URL.EscapedPath()
	if ex.in.URL.RawQuery != "" {
		u += "?" + ex.in.URL.RawQuery
	}
	return approval.Request{
		GrantID: res.Grant.ID, Profile: ex.record.Profile, Actor: actorOf(ex.in),
		Method: ex.in.Method, Scheme: t.scheme, Host: t.host, Port: t.port,
		// People read these: the path as sent (percent-encoded, so no
		// control character or markup a decoded path could carry) and the
		// reason as the audit record keeps it (escaped, bounded).
		Path: ex.in.URL.EscapedPath(), QueryKeys: ex.record.QueryKeys, Reason: audit.Sanitize(ex.record.Reason, audit.MaxReasonBytes),
		Preview:   preview(ex.in.Header.Get("Content-Type"), body, res.EchoForms()),
		Match:     approval.MatchKey(res.Grant.ID, ex.in.Method, u, body),
		Prefix:    prefix,
		RequestID: ex.id,
	}
}

// preview is the start of a text or JSON body for the people deciding: at
// most approval.PreviewBytes, cut on a character boundary, and nothing at
// all when the body is binary or holds any form of the credential.
func preview(contentType string, body []byte, secrets []string) string {
	if len(body) == 0 {
		return ""
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	textual := strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/x-www-form-urlencoded"
	if !textual || !utf8.Valid(body) {
		return ""
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(body, []byte(s)) {
			return ""
		}
	}
	cut := body
	if len(cut) > approval.PreviewBytes {
		cut = cut[:approval.PreviewBytes]
		for len(cut) > 0 && !utf8.Valid(cut) {
			cut = cut[:len(cut)-1]
		}
	}
	return string(cut)
}

// dropRespondAsync removes the respond-async preference (RFC 7240) from
// every Prefer header, under any spelling of the name, keeping the other
// preferences as they were sent; it reports whether there was one.
func dropRespondAsync(h http.Header) bool {
	found := false
	for k, vs := range h {
		if !strings.EqualFold(k, "Prefer") {
			continue
		}
		var kept []string
		for _, v := range vs {
			var parts []string
			for _, pref := range strings.Split(v, ",") {
				name, _, _ := strings.Cut(strings.TrimSpace(pref), ";")
				if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
					found = true
					continue
				}
				parts = append(parts, pref)
			}
			if v := strings.TrimSpace(strings.Join(parts, ",")); v != "" {
				kept = append(kept, v)
			}
		}
		if len(kept) == 0 {
			delete(h, k)
		} else {
			h[k] = kept
		}
	}
	return found
}

// headerValues collects a header's values under any spelling of its name:
// the header map may hold keys that are not canonical (see readMarker).
func headerValues(h http.Header, name string) []string {
	var out []string
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	return out
}

func held(a approval.Approval) *heldApproval {
	exp := a.ExpiresAt
	return &heldApproval{ID: a.ID, Status: approval.StatusPending, ExpiresAt: &exp}
}

func deniedFailure(a approval.Approval) failure {
	h := &heldApproval{ID: a.ID, Status: approval.StatusDenied}
	if a.Decision != nil {
		h.Note = a.Decision.Note
	}
	return failure{status: http.StatusForbidden, code: errcode.ApprovalDenied, rule: policy.RuleApproval,
		message: "a person denied this request", held: h}
}
