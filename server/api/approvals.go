package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/server/wire"
)

// Approvals (server/API.md, "Approvals"). The sidecar endpoints are an
// approval.Store for the sidecar's proxy, scoped to its token's app: a
// sidecar sees, makes and uses only approvals of its app's grants. The
// admin endpoints list and decide; the decider is the admin token's name,
// never a name the caller sends, and the server's clock says when. The
// rules (who may decide, once, in time) are the approval package's, applied
// by storage in one write transaction.

var (
	errApprovalNotFound = notFound("approval not found")
	errSelfApproval     = &apiError{status: http.StatusForbidden, code: wire.CodeSelfApproval, message: "nobody approves their own request"}
	errTooManyPending   = &apiError{status: http.StatusTooManyRequests, code: wire.CodeTooManyPending, message: "too many approvals are pending for this grant"}
)

// approvalError maps the approval package's errors, then storage's.
func approvalError(err error) *apiError {
	switch {
	case errors.Is(err, approval.ErrNotFound):
		return errApprovalNotFound
	case errors.Is(err, approval.ErrSelfApproval):
		return errSelfApproval
	case errors.Is(err, approval.ErrTooManyPending):
		return errTooManyPending
	case errors.Is(err, approval.ErrUsed):
		return &apiError{status: http.StatusConflict, code: wire.CodeApprovalUsed, message: "the approval was already used by another request"}
	case errors.Is(err, approval.ErrDecided):
		return &apiError{status: http.StatusConflict, code: wire.CodeApprovalDecided, message: err.Error()}
	}
	return fromError(err)
}

func (h *handler) sidecarApprovals(r *http.Request) approval.Store {
	return h.store.Approvals(tokenFrom(r.Context()).App)
}

// clientNow is the sidecar's clock, which its proxy decides holds by.
func clientNow(t time.Time) *apiError {
	if t.IsZero() {
		return badRequest("now: required (the sidecar's clock, RFC 3339)")
	}
	return nil
}

// filterFrom reads ?grant= and ?status= (omitted: every status).
func filterFrom(r *http.Request) (approval.Filter, *apiError) {
	q := r.URL.Query()
	f := approval.Filter{GrantID: q.Get("grant"), Status: q.Get("status")}
	switch f.Status {
	case "", approval.StatusPending, approval.StatusApproved, approval.StatusDenied, approval.StatusExpired, approval.StatusUsed:
		return f, nil
	}
	return f, badRequest("status: want pending, approved, denied, expired or used")
}

func (h *handler) list(w http.ResponseWriter, r *http.Request, s approval.Store, now time.Time) {
	f, e := filterFrom(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	list, err := s.List(r.Context(), f, now)
	if err != nil {
		writeError(w, r, approvalError(err))
		return
	}
	if list == nil {
		list = []approval.Approval{}
	}
	writeJSON(w, http.StatusOK, wire.Approvals{Approvals: list})
}

func (h *handler) sidecarListApprovals(w http.ResponseWriter, r *http.Request) {
	now, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("now"))
	if err != nil {
		writeError(w, r, badRequest("now: required (the sidecar's clock, RFC 3339)"))
		return
	}
	h.list(w, r, h.sidecarApprovals(r), now)
}

func (h *handler) findApproval(w http.ResponseWriter, r *http.Request) {
	var req wire.ApprovalFind
	if e := decode(w, r, &req); e != nil {
		writeError(w, r, e)
		return
	}
	if e := clientNow(req.Now); e != nil {
		writeError(w, r, e)
		return
	}
	a, ok, err := h.sidecarApprovals(r).Find(r.Context(), req.Request, req.Now)
	if err != nil {
		writeError(w, r, approvalError(err))
		return
	}
	out := wire.ApprovalFound{Found: ok}
	if ok {
		out.Approval = &a
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) createApproval(w http.ResponseWriter, r *http.Request) {
	var req wire.ApprovalCreate
	if e := decode(w, r, &req); e != nil {
		writeError(w, r, e)
		return
	}
	if e := clientNow(req.Now); e != nil {
		writeError(w, r, e)
		return
	}
	ttl, err := time.ParseDuration(req.TTL)
	if err != nil || ttl < time.Second || ttl > approval.MaxFor {
		writeError(w, r, badRequest(`ttl: want a Go duration from 1s to 720h, such as "1h"`))
		return
	}
	a, err := h.sidecarApprovals(r).Create(r.Context(), req.Request, req.Now, ttl)
	if err != nil {
		writeError(w, r, approvalError(err))
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

func (h *handler) useApproval(w http.ResponseWriter, r *http.Request) {
	var req wire.ApprovalUse
	if e := decode(w, r, &req); e != nil {
		writeError(w, r, e)
		return
	}
	if e := clientNow(req.Now); e != nil {
		writeError(w, r, e)
		return
	}
	if err := h.sidecarApprovals(r).Use(r.Context(), r.PathValue("id"), req.RequestID, req.Now); err != nil {
		writeError(w, r, approvalError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) getApprovalOf(w http.ResponseWriter, r *http.Request, s approval.Store) {
	a, err := s.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, approvalError(err))
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *handler) sidecarGetApproval(w http.ResponseWriter, r *http.Request) {
	h.getApprovalOf(w, r, h.sidecarApprovals(r))
}

// waitApproval is a long poll: it answers once the approval is no longer
// pending, or after ?wait (default 25s, at most the API's MaxWait) with
// it still pending. It holds a change-wait slot (waitlimit.go) and wakes
// on the change a decision makes on any replica.
func (h *handler) waitApproval(w http.ResponseWriter, r *http.Request) {
	wait := 25 * time.Second
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			writeError(w, r, badRequest(`wait: want a Go duration such as "25s" (at most 60s)`))
			return
		}
		wait = d
	}
	wait = min(wait, h.maxWait)
	release, ok := h.startWait(w, r)
	if !ok {
		return
	}
	defer release()
	ctx, cancel := h.untilStopped(r.Context())
	defer cancel()
	ctx, cancelWait := context.WithTimeout(ctx, wait)
	defer cancelWait()
	id := r.PathValue("id")
	a, err := h.sidecarApprovals(r).Wait(ctx, id)
	// Only the wait's own end (its time up, or the server stopping) with
	// the approval still pending is an answer; any other error, such as
	// an unknown or broken approval, is one whenever it comes. A wait
	// that ended before it read the approval reads it once more.
	ended := func(err error) bool { return ctx.Err() != nil && r.Context().Err() == nil && errors.Is(err, ctx.Err()) }
	if err != nil && ended(err) && a.ID == "" {
		a, err = h.sidecarApprovals(r).Get(r.Context(), id)
	}
	if err != nil && !ended(err) {
		writeError(w, r, approvalError(err))
		return
	}
	// A token revoked while it waited learns nothing more.
	if err := h.store.TokenLive(r.Context(), tokenFrom(r.Context()).ID); err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *handler) listApprovals(w http.ResponseWriter, r *http.Request) {
	h.list(w, r, h.store.Approvals(""), h.now())
}

func (h *handler) getApproval(w http.ResponseWriter, r *http.Request) {
	h.getApprovalOf(w, r, h.store.Approvals(""))
}

// decideApproval approves or denies. The decider is the admin token's
// name: a request whose client (its actor) has that name is refused
// (self_approval), as approval.Decide says.
func (h *handler) decideApproval(w http.ResponseWriter, r *http.Request) {
	var req wire.ApprovalDecide
	if e := decode(w, r, &req); e != nil {
		writeError(w, r, e)
		return
	}
	d, e := DecisionFrom(req, tokenFrom(r.Context()).Name, h.now())
	if e != nil {
		writeError(w, r, badRequest(e.Error()))
		return
	}
	a, err := h.store.Approvals("").Decide(r.Context(), r.PathValue("id"), d)
	if err != nil {
		writeError(w, r, approvalError(err))
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// DecisionFrom turns a decide body into a decision by who at now (the
// portal decides through it too). Errors name the field.
func DecisionFrom(req wire.ApprovalDecide, who string, now time.Time) (approval.Decision, error) {
	d := approval.Decision{By: who, Note: req.Note, At: now.UTC()}
	switch req.Decision {
	case wire.DecisionApprove:
		d.Approve = true
	case wire.DecisionDeny:
	default:
		return d, errors.New(`decision: want "approve" or "deny"`)
	}
	if req.For != "" {
		f, err := time.ParseDuration(req.For)
		if err != nil || f <= 0 || f > approval.MaxFor {
			return d, errors.New(`for: want a Go duration from 1s to 720h, such as "15m"`)
		}
		if !d.Approve {
			return d, errors.New("for: applies to an approval, not a denial")
		}
		d.For = f
	}
	if len(d.Note) > approval.MaxNote {
		return d, errors.New("note: longer than 1024 bytes")
	}
	return d, nil
}

// OpenWaits is the number of open long polls and event streams, approval
// waits included (for metrics and tests).
func (h *Handler) OpenWaits() int { return h.waits.count() }
