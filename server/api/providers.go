package api

import (
	"net/http"

	"github.com/alter-sidecar/alter/providers"
)

// provider is the catalog's public description of one provider, with the
// derived lines people read: what the CLI's "providers show --json" prints
// minus the command-line example. Templates hold placeholders only.
type provider struct {
	*providers.Provider
	Auth    string   `json:"auth"`
	Injects []string `json:"injects"`
}

func describeProvider(p *providers.Provider) provider {
	return provider{Provider: p, Auth: p.Kind(), Injects: p.Injects()}
}

func (h *handler) listProviders(w http.ResponseWriter, _ *http.Request) {
	all := providers.Catalog().List()
	out := make([]provider, 0, len(all))
	for _, p := range all {
		out = append(out, describeProvider(p))
	}
	writeJSON(w, http.StatusOK, map[string][]provider{"providers": out})
}

func (h *handler) getProvider(w http.ResponseWriter, r *http.Request) {
	p, err := providers.Catalog().Get(r.PathValue("name"))
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, describeProvider(p))
}
