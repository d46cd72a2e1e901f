package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/server/wire"
)

// uses hands a sidecar a lease of uses of one of its app's grants, counted
// against the grant's limits and its ancestors' for every sidecar of the
// app (storage.TakeUses). It is no change sidecars follow and is not
// audited: the sidecar records each use it spends.
func (h *handler) uses(w http.ResponseWriter, r *http.Request) {
	var req wire.UsesRequest
	if e := decode(w, r, &req); e != nil {
		writeError(w, r, e)
		return
	}
	if _, err := uuid.Parse(req.GrantID); err != nil || len(req.GrantID) != 36 {
		writeError(w, r, badRequest("grant_id must be a grant id (a UUID)"))
		return
	}
	if req.Want < 1 || req.Want > wire.MaxLease {
		writeError(w, r, badRequest("want must be from 1 to 1000"))
		return
	}
	if len(req.Actor) > 256 {
		writeError(w, r, badRequest("actor is longer than 256 bytes"))
		return
	}
	tok := tokenFrom(r.Context())
	l, err := h.store.TakeUses(r.Context(), tok.App, req.GrantID, req.Actor, req.Want, h.now())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.UsesLease{Granted: l.Granted, RetryAfterMS: l.RetryAfter.Milliseconds(), LimitGrantID: l.GrantID, Limit: l.Limit})
}
