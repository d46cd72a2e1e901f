package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// The Approvals pages: requests a grant's approval rule holds for a
// person. The list filters in a GET form like the audit page (pending by
// default, newest first); each pending approval has one POST form whose
// two buttons approve or deny it. /approvals/{id} is one approval: the
// page a notification links to (approval/notify). The decider is the
// session's user (decider), never a form value; the time is the portal's
// clock.
//
// Everything an approval shows beyond its ids and times is client text
// (the path, the reason, the body preview, the actor): html/template
// escapes it, and render escapes bidi controls, so none of it can become
// markup or disguise itself.

// approvalFors are the "for" choices: a one-request approval, or every
// request of the grant and method under the approval's path prefix for a
// while. The portal offers these only; the CLI and the API take any
// duration up to approval.MaxFor.
var approvalFors = []approvalFor{{"", "This request only"}, {"15m", "15 minutes"}, {"1h", "1 hour"}}

type approvalFor struct{ Value, Label string }

// approvalStatuses are the status filter's choices; "any" lists every one.
var approvalStatuses = []string{approval.StatusPending, approval.StatusApproved, approval.StatusDenied,
	approval.StatusExpired, approval.StatusUsed, "any"}

// approvalRow is one approval as the pages show it, with its decision
// form's state.
type approvalRow struct {
	approval.Approval
	URL  string // scheme://host[:port]path, as the client sent it
	Self bool   // the portal user is the client that asked: they may not decide
	// After a refused decision: the message and the values filled back.
	Error, Note, For string
}

func (p *Portal) approvalRow(r *http.Request, a approval.Approval) approvalRow {
	a.Status = a.StatusAt(p.now())
	by := decider(sessionOf(r).User)
	return approvalRow{Approval: a, URL: requestURL(a.Request), Self: a.Actor != "" && strings.EqualFold(a.Actor, by)}
}

// decider is the name a decision records for the session's user: a
// password user's name, or for a login with an admin token the token's
// name, exactly as `alter approvals approve` with that token records it.
// So self approval is refused alike through the portal and the API.
// (Database user names have no space, so no user can pass for a token.)
func decider(sessionUser string) string {
	if name, ok := strings.CutPrefix(sessionUser, storage.TokenSessionSubject("")); ok {
		return name
	}
	return sessionUser
}

// requestURL is the held request's URL without its query (whose values
// are never kept): the port only when it is not the scheme's default.
func requestURL(q approval.Request) string {
	host := q.Host
	if q.Port != 0 && !(q.Scheme == "https" && q.Port == 443) && !(q.Scheme == "http" && q.Port == 80) {
		host += ":" + strconv.Itoa(q.Port)
	}
	return q.Scheme + "://" + host + q.Path
}

// decideView is the "decideform" template's argument.
type decideView struct {
	Row  approvalRow
	CSRF string
	Fors []approvalFor
}

type approvalsData struct {
	Grant, Status string
	Statuses      []string
	Errors        map[string]string
	Rows          []approvalRow
	Error         string
}

func (p *Portal) approvalsPage(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	d := approvalsData{Grant: strings.TrimSpace(qv.Get("grant")), Status: qv.Get("status"),
		Statuses: approvalStatuses, Errors: map[string]string{}}
	if d.Status == "" {
		d.Status = approval.StatusPending
	}
	f := approval.Filter{GrantID: d.Grant, Status: d.Status}
	switch d.Status {
	case "any":
		f.Status = ""
	case approval.StatusPending, approval.StatusApproved, approval.StatusDenied, approval.StatusExpired, approval.StatusUsed:
	default:
		d.Errors["status"] = "Choose pending, approved, denied, expired, used or any."
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusBadRequest
	} else {
		list, err := p.cfg.Backend.ListApprovals(r.Context(), f, p.now())
		if err != nil {
			status, d.Error = p.classify(err, "list approvals")
		}
		for _, a := range list {
			d.Rows = append(d.Rows, p.approvalRow(r, a))
		}
	}
	p.render(w, r, status, "approvals", view{Title: "Approvals", Nav: "approvals", Data: d})
}

// approvalData is the page of one approval.
type approvalData struct{ Row approvalRow }

func (p *Portal) approvalDetail(w http.ResponseWriter, r *http.Request) {
	v := view{}
	switch {
	case r.URL.Query().Has("approved"):
		v.Notice = "Approved. The held request, or its retry, goes through now."
	case r.URL.Query().Has("denied"):
		v.Notice = "Denied. The request is refused with your note."
	}
	p.showApproval(w, r, http.StatusOK, v, approvalRow{})
}

// showApproval renders the approval in the path; form carries a refused
// decision's message and values.
func (p *Portal) showApproval(w http.ResponseWriter, r *http.Request, status int, v view, form approvalRow) {
	a, err := p.cfg.Backend.GetApproval(r.Context(), r.PathValue("id"))
	if err != nil {
		p.approvalBackendError(w, r, err, "get approval")
		return
	}
	row := p.approvalRow(r, a)
	row.Error, row.Note, row.For = form.Error, form.Note, form.For
	v.Title, v.Nav, v.Data = "Approval "+a.ID, "approvals", approvalData{Row: row}
	p.render(w, r, status, "approval", v)
}

// Messages for refused decisions.
const (
	msgSelfApproval = "You are the client that asked for this request, so you cannot decide it: someone else must. Nothing was changed."
	msgNoApproval   = "There is no such approval."
)

func (p *Portal) decideApproval(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	form := approvalRow{Note: strings.TrimSpace(r.PostFormValue("note")), For: r.PostFormValue("for")}
	req := wire.ApprovalDecide{Decision: r.PostFormValue("decision"), Note: form.Note}
	switch {
	case req.Decision != wire.DecisionApprove && req.Decision != wire.DecisionDeny:
		form.Error = "Choose Approve or Deny."
	case len(form.Note) > approval.MaxNote:
		form.Error = fmt.Sprintf("The note is longer than %d bytes.", approval.MaxNote)
	case !knownFor(form.For):
		form.Error = "Choose how long the approval lasts: this request only, 15 minutes or 1 hour."
	case req.Decision == wire.DecisionApprove:
		req.For = form.For // a denial has no length: the select is ignored
	}
	if form.Error != "" {
		p.showApproval(w, r, http.StatusBadRequest, view{}, form)
		return
	}
	d, err := api.DecisionFrom(req, decider(sessionOf(r).User), p.now())
	if err != nil {
		form.Error = err.Error()
		p.showApproval(w, r, http.StatusBadRequest, view{}, form)
		return
	}
	if _, err := p.cfg.Backend.DecideApproval(r.Context(), id, d); err != nil {
		switch {
		case errors.Is(err, approval.ErrSelfApproval):
			form.Error = msgSelfApproval
			p.showApproval(w, r, http.StatusForbidden, view{}, form)
		case errors.Is(err, approval.ErrDecided):
			form.Error = "Someone decided this approval already, or it expired. Nothing was changed; its state is below."
			p.showApproval(w, r, http.StatusConflict, view{}, form)
		default:
			p.approvalBackendError(w, r, err, "decide approval")
		}
		return
	}
	done := "?denied=1"
	if d.Approve {
		done = "?approved=1"
	}
	http.Redirect(w, r, Prefix+"/approvals/"+url.PathEscape(id)+done, http.StatusSeeOther)
}

func knownFor(v string) bool {
	for _, f := range approvalFors {
		if f.Value == v {
			return true
		}
	}
	return false
}

// approvalBackendError is backendError, with an unknown approval said so.
func (p *Portal) approvalBackendError(w http.ResponseWriter, r *http.Request, err error, what string) {
	if errors.Is(err, approval.ErrNotFound) {
		p.errorPage(w, r, http.StatusNotFound, msgNoApproval)
		return
	}
	p.backendError(w, r, err, what)
}

// approvalLink answers the link a notification carries when
// approvals.portal_url is the server's address rather than the portal's
// (LinkPrefix + ID): a redirect to the approval's page, which asks for a
// login first when there is no session.
func (p *Portal) approvalLink(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, Prefix+"/approvals/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
}

// LinkPrefix is where a notification's link lands when approvals.portal_url
// names the server: the server routes paths under it to the portal.
const LinkPrefix = "/approvals/"
