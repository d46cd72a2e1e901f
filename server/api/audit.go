package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// queryAudit answers one page of audit records, newest first (or with
// order=oldest, oldest first).
func (h *handler) queryAudit(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := storage.AuditQuery{GrantID: v.Get("grant"), Actor: v.Get("actor"), Decision: v.Get("decision"),
		RunID: v.Get("run_id"), Tool: v.Get("tool"), Event: v.Get("event"), Cursor: v.Get("cursor")}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(t.name); s != "" {
			x, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				writeError(w, r, badRequest(t.name+": want an RFC 3339 time such as 2026-01-02T15:04:05Z"))
				return
			}
			*t.dst = x
		}
	}
	switch v.Get("order") {
	case "", "newest":
	case "oldest":
		q.Oldest = true
	default:
		writeError(w, r, badRequest("order: want newest (the default) or oldest"))
		return
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			writeError(w, r, badRequest("limit: want a positive whole number"))
			return
		}
		q.Limit = n
	}
	page, err := h.store.QueryAudit(r.Context(), q)
	if err != nil {
		fail(w, r, err)
		return
	}
	if page.Records == nil {
		page.Records = []storage.AuditRecord{}
	}
	writeJSON(w, http.StatusOK, page)
}

// maxClockSkew is how far a shipped record's time may lie outside what is
// possible: in the future (a record dated later would sort above
// everything in newest-first listings for as long as it pleased its
// sender), or before its token was created (a sidecar cannot have written
// it with this token; an older record belongs to the token it was shipped
// with).
const maxClockSkew = 5 * time.Minute

// ingestAudit stores records a sidecar ships. What a record says is
// checked against who sends it, so one app's token cannot write another
// app's trail:
//   - the source is the token's app and name, whatever the records say;
//   - the filter columns (time, grant, actor, decision, run id, tool) are taken from the
//     record's body, the line the sidecar's durable log wrote; columns sent
//     beside it that disagree with the body refuse the batch, so a query
//     filtered on deny can never print an allow;
//   - a record naming a grant of another app (or of none) is refused: it
//     would show on that grant's page. A grant id the server does not know
//     is accepted (a request that named a wrong id is worth recording);
//   - a record dated before the token existed, or in the future, beyond
//     maxClockSkew, is refused.
//
// Record ids make retries idempotent; they are stored under the app
// ("billing/<id>"), so a sidecar of one app can neither take nor block the
// ids of another app's records. Any refusal is a 400 naming the record;
// the shipper then sends the batch one record at a time and skips the
// ones refused (audit/ship).
func (h *handler) ingestAudit(w http.ResponseWriter, r *http.Request) {
	var batch wire.AuditBatch
	if e := decode(w, r, &batch); e != nil {
		writeError(w, r, e)
		return
	}
	if len(batch.Records) > wire.MaxAuditBatch {
		writeError(w, r, badRequest("records: "+strconv.Itoa(len(batch.Records))+" in one batch, at most "+strconv.Itoa(wire.MaxAuditBatch)))
		return
	}
	size := 0
	for _, rec := range batch.Records {
		size += len(rec.Body)
	}
	// A batch refused on bytes has spent its records: that only slows a
	// sender already over budget.
	if !h.spend(w, r, h.auditRecords, float64(len(batch.Records))) || !h.spend(w, r, h.auditBytes, float64(size)) {
		return
	}
	tok := tokenFrom(r.Context())
	earliest, latest := tok.CreatedAt.Add(-maxClockSkew), h.now().Add(maxClockSkew)
	var grants []string
	seen := map[string]bool{}
	for i := range batch.Records {
		rec := &batch.Records[i]
		if e := fromBody(rec); e != nil {
			e.message = fmt.Sprintf("records[%d]: %s", i, e.message)
			writeError(w, r, e)
			return
		}
		switch {
		case rec.Time.After(latest):
			writeError(w, r, badRequest(fmt.Sprintf("records[%d]: time is more than %s in the future", i, maxClockSkew)))
			return
		case rec.Time.Before(earliest):
			writeError(w, r, badRequest(fmt.Sprintf("records[%d]: time is before this token was created", i)))
			return
		}
		if rec.GrantID != "" && !seen[rec.GrantID] {
			seen[rec.GrantID] = true
			grants = append(grants, rec.GrantID)
		}
		rec.Source = tok.App + "/" + tok.Name
		rec.ID = tok.App + "/" + rec.ID
	}
	apps, err := h.store.GrantApps(r.Context(), grants)
	if err != nil {
		fail(w, r, err)
		return
	}
	for i, rec := range batch.Records {
		if app, known := apps[rec.GrantID]; known && app != tok.App {
			writeError(w, r, badRequest(fmt.Sprintf("records[%d]: grant_id names a grant of another app; a sidecar ships records of its own app's grants only", i)))
			return
		}
	}
	n, err := h.store.InsertAudit(r.Context(), batch.Records...)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.AuditInserted{Inserted: n})
}

// fromBody sets a shipped record's filter columns from its body, refusing
// a record whose columns disagree with it. A column the shipper leaves
// empty because the server would refuse the value (audit/ship) is left
// empty here too.
func fromBody(rec *storage.AuditRecord) *apiError {
	if rec.ID == "" {
		return badRequest("id is empty")
	}
	e, err := audit.ParseEntry(rec.Body)
	if err != nil {
		return badRequest("body is not an audit record (a JSON object with an RFC 3339 \"ts\")")
	}
	column := func(v string) string {
		if secretstore.CheckText("audit column", v) != nil {
			return ""
		}
		return v
	}
	want := storage.AuditRecord{Time: e.Time, GrantID: column(e.GrantID), Actor: column(e.Actor), Decision: e.Decision,
		RunID: column(e.RunID), Tool: column(e.Tool)}
	switch {
	case !rec.Time.IsZero() && !rec.Time.Equal(want.Time):
		return badRequest("time does not match the body's")
	case rec.GrantID != "" && rec.GrantID != want.GrantID:
		return badRequest("grant_id does not match the body's")
	case rec.Actor != "" && rec.Actor != want.Actor:
		return badRequest("actor does not match the body's")
	case rec.Decision != "" && rec.Decision != want.Decision:
		return badRequest("decision does not match the body's")
	case rec.RunID != "" && rec.RunID != want.RunID:
		return badRequest("run_id does not match the body's")
	case rec.Tool != "" && rec.Tool != want.Tool:
		return badRequest("tool does not match the body's")
	}
	rec.Time, rec.GrantID, rec.Actor, rec.Decision = want.Time, want.GrantID, want.Actor, want.Decision
	rec.RunID, rec.Tool = want.RunID, want.Tool
	// A sidecar ships grant uses: it cannot pass a record off as one of
	// the server's admin events.
	if rec.Event != "" && rec.Event != audit.EventGrantUse {
		return badRequest("event must be grant_use (or empty) in a shipped record")
	}
	rec.Event = audit.EventGrantUse
	return nil
}
