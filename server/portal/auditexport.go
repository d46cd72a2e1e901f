package portal

import (
	"net/http"

	"github.com/alter-sidecar/alter/audit/export"
	"github.com/alter-sidecar/alter/server/storage"
)

// auditExport answers the audit page's filters as a CSV download of every
// matching record (the columns of alter audit export), oldest first. It
// streams page by page: one page of records in memory at a time. Bad
// filters are a 400 with the page's messages; a failure after the first
// row can only cut the download short (the status is already sent), so it
// is logged and the body ends without the rest.
func (p *Portal) auditExport(w http.ResponseWriter, r *http.Request) {
	d, q := auditFilters(r.URL.Query())
	if len(d.Errors) > 0 || q.Cursor != "" {
		p.render(w, r, http.StatusBadRequest, "audit", view{Title: "Audit", Nav: "audit", Data: d})
		return
	}
	q.Limit, q.Oldest = storage.MaxAuditLimit, true
	page, err := p.cfg.Backend.QueryAudit(r.Context(), q)
	if err != nil {
		status, msg := p.classify(err, "export audit")
		p.errorPage(w, r, status, msg)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="alter-audit.csv"`)
	cw, _ := export.NewWriter(w, export.FormatCSV) // a known format: cannot fail
	for {
		for _, rec := range page.Records {
			row, err := export.Stored(rec.ID, rec.Source, rec.Event, rec.Body)
			if err != nil {
				row = export.Row{Time: rec.Time, Source: rec.Source, Event: rec.Event, Actor: rec.Actor, GrantID: rec.GrantID,
					Decision: rec.Decision, RecordID: rec.ID}
			}
			if err := cw.Write(row); err != nil {
				return // the client went away
			}
		}
		if page.Next == "" || len(page.Records) == 0 {
			break
		}
		q.Cursor = page.Next
		if page, err = p.cfg.Backend.QueryAudit(r.Context(), q); err != nil {
			p.log.Error("export audit: the download was cut short", zapErr(err))
			break
		}
	}
	if err := cw.Close(); err != nil {
		p.log.Info("export audit: client went away", zapErr(err))
	}
}
