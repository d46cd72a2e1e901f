package api

import (
	"net/http"

	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// forwarding answers GET /v1/audit/forwarding: each audit.forward target
// this replica is configured with (in its order, acknowledged nothing
// yet if the database has no row for it), then those only the database
// remembers, with who sends to it and how far behind it is. It is how an
// operator sees that a SIEM is falling behind before retention has to
// hold records back for it.
func (h *handler) forwarding(w http.ResponseWriter, r *http.Request) {
	states, err := h.store.ForwardStates(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	known := map[string]storage.ForwardState{}
	for _, s := range states {
		known[s.Name] = s
	}
	out := wire.ForwardStatuses{Targets: []wire.ForwardStatus{}}
	add := func(s storage.ForwardState, configured bool) bool {
		st := wire.ForwardStatus{Name: s.Name, Configured: configured, ForwardedAt: s.ForwardedAt}
		// A holder whose lease ran out (killed, cut off) sends nothing: the
		// next replica to claim takes over.
		if s.Holder != "" && s.LeaseUntil.After(h.now()) {
			st.Holder, st.LeaseUntil = s.Holder, s.LeaseUntil
		}
		st.Pending, st.PendingMore, err = h.store.AuditPendingAfter(r.Context(), s.Position, wire.PendingMax)
		if err != nil {
			fail(w, r, err)
			return false
		}
		out.Targets = append(out.Targets, st)
		return true
	}
	for _, name := range h.forwardTargets {
		s, ok := known[name]
		if !ok {
			s = storage.ForwardState{Name: name}
		}
		delete(known, name)
		if !add(s, true) {
			return
		}
	}
	for _, s := range states { // by name
		if _, left := known[s.Name]; left && !add(s, false) {
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}
