package portal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/server/storage"
)

// The audit page: filters in a GET form (bookmarkable, nothing changes),
// newest first, a page at a time with the storage's keyset cursor. The
// cursor and filters are in the URL; none of them is secret, and audit
// records never hold a secret (the audit package guarantees that).

const auditPageSize = 50

// auditRow is one record as the page shows it: the indexed columns plus
// a few fields read out of the record's body.
type auditRow struct {
	Time                             time.Time
	GrantID, Actor, Decision, Source string
	Method, Host, Path, Rule, Reason string
	Status                           string
	// The call context: run id and tool from the columns, thread and
	// trace id from the body.
	RunID, Tool, ThreadID, TraceID string
	// An admin event's event, outcome, source address and target.
	Event, Outcome, SourceIP, Target string
}

// auditRows turns stored records into rows. A body that does not decode
// still shows its indexed columns.
func auditRows(recs []storage.AuditRecord) []auditRow {
	out := make([]auditRow, 0, len(recs))
	for _, rec := range recs {
		row := auditRow{Time: rec.Time, GrantID: rec.GrantID, Actor: rec.Actor, Decision: rec.Decision, Source: rec.Source,
			RunID: rec.RunID, Tool: rec.Tool, Event: rec.Event}
		var body map[string]any
		if json.Unmarshal(rec.Body, &body) == nil {
			str := func(k string) string {
				switch v := body[k].(type) {
				case string:
					return v
				case float64:
					return fmt.Sprint(v)
				}
				return ""
			}
			row.Method, row.Host, row.Path = str(audit.FieldMethod), str(audit.FieldHost), str(audit.FieldPath)
			if port := str(audit.FieldPort); port != "" && port != "443" && port != "80" {
				row.Host += ":" + port
			}
			row.Rule, row.Reason, row.Status = str(audit.FieldRule), str(audit.FieldReason), str(audit.FieldStatus)
			if row.Rule == "" {
				row.Rule = str(audit.FieldError) // a denial before any rule: grant_unavailable, ...
			}
			row.ThreadID, row.TraceID = str(audit.FieldThreadID), str(audit.FieldTraceID)
			if row.Event != audit.EventGrantUse {
				row.Outcome, row.SourceIP, row.Target = str(audit.FieldOutcome), str(audit.FieldSourceIP), str(audit.FieldTarget)
			}
		}
		out = append(out, row)
	}
	return out
}

type auditData struct {
	Grant, Actor, Decision, Since, Until string
	RunID, Tool, Event                   string
	Events                               []string // the choices of the event filter
	Export                               string   // URL of this query as CSV
	Errors                               map[string]string
	Rows                                 []auditRow
	Next                                 string // URL of the next page, "" on the last
	Paged                                bool   // this is not the first page
	Error                                string
}

// auditEvents are the event filter's choices.
var auditEvents = []string{
	audit.EventGrantUse, audit.EventResolve, audit.EventSecretAdd, audit.EventGrantClone, audit.EventGrantRotate,
	audit.EventGrantRevoke, audit.EventGrantPolicy, audit.EventProfileCreate, audit.EventProfileUpdate,
	audit.EventProfileRevoke, audit.EventProfileTokenRotate, audit.EventTokenCreate, audit.EventTokenApprove,
	audit.EventTokenRevoke, audit.EventUserAdd, audit.EventUserDisable, audit.EventLogin, audit.EventLogout,
	audit.EventApprovalDecide,
}

// auditFilters reads the filters of the audit page (and its export) from
// the query string; d.Errors names each bad one.
func auditFilters(qv url.Values) (auditData, storage.AuditQuery) {
	d := auditData{
		Grant: strings.TrimSpace(qv.Get("grant")), Actor: strings.TrimSpace(qv.Get("actor")),
		Decision: qv.Get("decision"), Since: qv.Get("since"), Until: qv.Get("until"),
		RunID: strings.TrimSpace(qv.Get("run_id")), Tool: strings.TrimSpace(qv.Get("tool")),
		Event: strings.TrimSpace(qv.Get("event")), Events: auditEvents,
		Errors: map[string]string{}, Paged: qv.Get("cursor") != "",
	}
	q := storage.AuditQuery{GrantID: d.Grant, Actor: d.Actor, RunID: d.RunID, Tool: d.Tool, Event: d.Event, Limit: auditPageSize, Cursor: qv.Get("cursor")}
	if d.Event != "" && !slices.Contains(auditEvents, d.Event) {
		d.Errors["event"] = "Choose one of the listed events."
	}
	for name, v := range map[string]string{"run_id": d.RunID, "tool": d.Tool} {
		if len(v) > audit.MaxContextBytes {
			d.Errors[name] = fmt.Sprintf("At most %d bytes: a longer value is never recorded.", audit.MaxContextBytes)
		}
	}
	switch d.Decision {
	case "", audit.DecisionAllow, audit.DecisionDeny:
		q.Decision = d.Decision
	default:
		d.Errors["decision"] = "Choose allow, deny or any."
	}
	var ok bool
	if q.Since, ok = parseLocal(d.Since); !ok {
		d.Errors["since"] = "Enter a date and time, e.g. 2030-01-31T09:00 (UTC)."
	}
	if q.Until, ok = parseLocal(d.Until); !ok {
		d.Errors["until"] = "Enter a date and time, e.g. 2030-01-31T17:00 (UTC)."
	}
	d.Export = Prefix + "/audit/export?" + d.values().Encode()
	return d, q
}

// values are d's filters as a query string, empty ones left out.
func (d auditData) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"grant": d.Grant, "actor": d.Actor, "decision": d.Decision, "since": d.Since, "until": d.Until,
		"run_id": d.RunID, "tool": d.Tool, "event": d.Event} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (p *Portal) auditPage(w http.ResponseWriter, r *http.Request) {
	d, q := auditFilters(r.URL.Query())
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusBadRequest
	} else {
		page, err := p.cfg.Backend.QueryAudit(r.Context(), q)
		if err != nil {
			status, d.Error = p.classify(err, "query audit")
		}
		d.Rows = auditRows(page.Records)
		if page.Next != "" {
			next := d.values()
			next.Set("cursor", page.Next)
			d.Next = Prefix + "/audit?" + next.Encode()
		}
	}
	p.render(w, r, status, "audit", view{Title: "Audit", Nav: "audit", Data: d})
}

// parseLocal reads a datetime-local value as UTC; empty is the zero time.
func parseLocal(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
