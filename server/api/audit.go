package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// queryAudit answers one page of audit records, newest first.
func (h *handler) queryAudit(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := storage.AuditQuery{GrantID: v.Get("grant"), Actor: v.Get("actor"), Decision: v.Get("decision"), Cursor: v.Get("cursor")}
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

// maxClockSkew is how far in the future a shipped record's time may be: a
// record dated later would sort above everything in newest-first listings
// for as long as it pleased its sender.
const maxClockSkew = 5 * time.Minute

// ingestAudit stores records a sidecar ships. The source is the token's
// app and name, whatever the records say: a sidecar cannot write records
// in another's name. Record ids make retries idempotent; they are stored
// under the app ("billing/<id>"), so a sidecar of one app can neither
// take nor block the ids of another app's records.
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
	tok := tokenFrom(r.Context())
	latest := time.Now().Add(maxClockSkew)
	for i := range batch.Records {
		rec := &batch.Records[i]
		if rec.ID == "" {
			writeError(w, r, badRequest(fmt.Sprintf("records[%d]: id is empty", i)))
			return
		}
		if rec.Time.After(latest) {
			writeError(w, r, badRequest(fmt.Sprintf("records[%d]: time is more than %s in the future", i, maxClockSkew)))
			return
		}
		rec.Source = tok.App + "/" + tok.Name
		rec.ID = tok.App + "/" + rec.ID
	}
	n, err := h.store.InsertAudit(r.Context(), batch.Records...)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.AuditInserted{Inserted: n})
}
