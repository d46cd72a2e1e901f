package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// The sidecar endpoints. The app always comes from the token, never from
// the request: a sidecar cannot ask about another app.

// resolution is wire.Resolution as it goes on the wire. wire.Resolution
// holds inject.Fields, which marshals to "[redacted]" so that no encoder
// prints secrets by accident; this one answer must carry the values, so it
// has a plain map, and is built only here. A test keeps the two types'
// fields the same.
type resolution struct {
	Grant         wire.GrantInfo    `json:"grant"`
	Policy        policy.Spec       `json:"policy"`
	Injection     inject.Spec       `json:"injection"`
	Fields        map[string]string `json:"fields"`
	SecretVersion int               `json:"secret_version"`
	NotAfter      *time.Time        `json:"not_after,omitempty"`
}

// resolve answers with a grant's secret values: the only place they leave
// the server. Every refusal for a grant the app cannot use is the same
// grant_unavailable answer.
//
// Every resolve, answered or refused, is in the audit trail (source
// "server": token, app, grant, time) before the answer goes out: a secret
// never leaves without a record of who got it, even when an admin minted
// the sidecar token to read it back. If the record cannot be written the
// answer is 503 and carries nothing.
func (h *handler) resolve(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	id := r.PathValue("id")
	res, err := h.store.ResolveFor(r.Context(), tok.App, id, h.now())
	ev := storage.ServerEvent{Event: storage.EventResolve, Actor: storage.TokenActor(tok), ActorID: storage.TokenActorID(tok.ID), TokenID: tok.ID, App: tok.App,
		GrantID: id, Time: h.now()}
	if err != nil {
		ev.Decision, ev.Error = audit.DecisionDeny, fromError(err).code
	}
	if aerr := h.store.RecordServerEvent(r.Context(), ev); aerr != nil {
		fail(w, r, fmt.Errorf("%w: audit the resolve: %w", secretstore.ErrStoreUnavailable, aerr))
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	fields := res.Fields
	if _, minted := res.Injector.Mint(); minted {
		// A minted credential's long-lived secret stays here: the sidecar
		// asks POST /v1/sidecar/grants/{id}/token for a token (mint.go).
		fields = map[string]string{}
	}
	writeJSON(w, http.StatusOK, resolution{
		Grant:         grantInfo(res.Info),
		Policy:        res.Policy,
		Injection:     res.Secret.Spec,
		Fields:        fields,
		SecretVersion: res.Secret.Version,
		NotAfter:      res.NotAfter,
	})
}

// policies answers with the effective policy of every grant of the app and
// the change number they are current as of. The number is read first: a
// change made while the policies are read is then also in the change
// stream after it.
func (h *handler) policies(w http.ResponseWriter, r *http.Request) {
	if !h.spend(w, r, h.policyCalls, 1) {
		return
	}
	tok := tokenFrom(r.Context())
	seq, err := h.store.LastChangeFor(r.Context(), tok.App)
	if err != nil {
		fail(w, r, err)
		return
	}
	pols, err := h.store.Policies(r.Context(), tok.App)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := wire.Policies{Policies: make([]wire.GrantPolicy, 0, len(pols)), Seq: seq}
	for _, p := range pols {
		out.Policies = append(out.Policies, wire.GrantPolicy(p))
	}
	writeJSON(w, http.StatusOK, out)
}
