package api

import (
	"net/http"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// The admin grant endpoints. Each write answers with the grant as a fresh
// read shows it (status, effective expiry), so the client sees what the
// store holds, not what it asked for.

func grantInfo(gi storage.GrantInfo) wire.GrantInfo { return wire.GrantInfo(gi) }

// answerGrant reads the grant back and answers with it.
func (h *handler) answerGrant(w http.ResponseWriter, r *http.Request, status int, id string) {
	gi, err := h.store.GetGrant(r.Context(), id)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, status, grantInfo(gi))
}

func (h *handler) listGrants(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.ListGrants(r.Context(), r.URL.Query().Get("app"))
	if err != nil {
		fail(w, r, err)
		return
	}
	out := wire.Grants{Grants: make([]wire.GrantInfo, 0, len(list))}
	for _, gi := range list {
		out.Grants = append(out.Grants, grantInfo(gi))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) getGrant(w http.ResponseWriter, r *http.Request) {
	h.answerGrant(w, r, http.StatusOK, r.PathValue("id"))
}

func (h *handler) cloneGrant(w http.ResponseWriter, r *http.Request) {
	var c wire.Clone
	if e := decode(w, r, &c); e != nil {
		writeError(w, r, e)
		return
	}
	req := secretstore.CloneRequest{Name: c.Name, Labels: c.Labels, ExpiresAt: c.ExpiresAt, Policy: c.Policy}
	if c.TTL != "" {
		ttl, err := time.ParseDuration(c.TTL)
		if err != nil {
			writeError(w, r, badRequest(`ttl: want a Go duration such as "15m" or "24h"`))
			return
		}
		req.TTL = ttl
	}
	g, err := h.store.Clone(r.Context(), r.PathValue("id"), req)
	if err != nil {
		fail(w, r, err)
		return
	}
	h.answerGrant(w, r, http.StatusCreated, g.ID)
}

func (h *handler) revokeGrant(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := h.store.Revoke(r.Context(), id); err != nil {
		fail(w, r, err)
		return
	}
	h.answerGrant(w, r, http.StatusOK, id)
}

func (h *handler) rotateGrant(w http.ResponseWriter, r *http.Request) {
	var body wire.Rotate
	if e := decode(w, r, &body); e != nil {
		writeError(w, r, e)
		return
	}
	if len(body.Fields) == 0 {
		writeError(w, r, badRequest("fields: the new secret values are required"))
		return
	}
	id := r.PathValue("id")
	if err := h.store.Rotate(r.Context(), id, body.Fields); err != nil {
		fail(w, r, err)
		return
	}
	h.answerGrant(w, r, http.StatusOK, id)
}

func (h *handler) setPolicy(w http.ResponseWriter, r *http.Request) {
	var spec policy.Spec
	if e := decode(w, r, &spec); e != nil {
		writeError(w, r, e)
		return
	}
	id := r.PathValue("id")
	if err := h.store.SetPolicy(r.Context(), id, spec); err != nil {
		fail(w, r, err)
		return
	}
	h.answerGrant(w, r, http.StatusOK, id)
}

// addSecret stores a secret and its first grant. The spec comes either
// whole (injection) or from the provider catalog, built exactly as
// "alter secret add --provider" builds it; the provider's hosts are the
// destinations unless the policy names its own.
func (h *handler) addSecret(w http.ResponseWriter, r *http.Request) {
	var ns wire.NewSecret
	if e := decode(w, r, &ns); e != nil {
		writeError(w, r, e)
		return
	}
	spec, pol, provider, e := buildSpec(ns)
	if e != nil {
		writeError(w, r, e)
		return
	}
	if len(ns.Fields) == 0 {
		writeError(w, r, badRequest("fields: the secret values are required"))
		return
	}
	g, err := h.store.AddFor(r.Context(), ns.App, secretstore.NewSecret{Spec: spec, Provider: provider,
		Fields: ns.Fields, Name: ns.Name, Labels: ns.Labels, Policy: pol, ExpiresAt: ns.ExpiresAt})
	if err != nil {
		fail(w, r, err)
		return
	}
	h.answerGrant(w, r, http.StatusCreated, g.ID)
}

func buildSpec(ns wire.NewSecret) (inject.Spec, policy.Spec, string, *apiError) {
	var pol policy.Spec
	if ns.Policy != nil {
		pol = ns.Policy.Clone()
	}
	switch {
	case ns.Injection != nil:
		if len(ns.Params) > 0 {
			return inject.Spec{}, policy.Spec{}, "", badRequest("params: only with a provider and without injection (the provider builds the injection from them)")
		}
		return *ns.Injection, pol, ns.Provider, nil
	case ns.Provider != "":
		p, err := providers.Catalog().Get(ns.Provider)
		if err != nil {
			return inject.Spec{}, policy.Spec{}, "", badRequest("provider: " + err.Error())
		}
		built, err := p.Build(ns.Params)
		if err != nil {
			return inject.Spec{}, policy.Spec{}, "", badRequest("params: " + err.Error())
		}
		if len(pol.Destinations) == 0 {
			pol.Destinations = built.Destinations
		}
		return built.Spec, pol, p.Name, nil
	}
	return inject.Spec{}, policy.Spec{}, "", badRequest("injection or provider: one is required to say how the secret is injected")
}
