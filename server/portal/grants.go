package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/providers"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// grantRow is one line of the "Managed secrets" list.
type grantRow struct {
	wire.GrantInfo
	Kind   string // provider name, or "custom: TYPE"
	Clones int
}

func kindOf(g wire.GrantInfo) string {
	if g.Secret.Provider != "" {
		return g.Secret.Provider
	}
	return "custom: " + g.Secret.Spec.Type
}

func (p *Portal) grantList(w http.ResponseWriter, r *http.Request) {
	gs, err := p.cfg.Backend.ListGrants(r.Context())
	if err != nil {
		p.backendError(w, r, err, "list grants")
		return
	}
	clones := map[string]int{}
	for _, g := range gs {
		if g.Parent != "" {
			clones[g.Parent]++
		}
	}
	rows := make([]grantRow, 0, len(gs))
	for _, g := range slices.Backward(gs) { // newest first
		rows = append(rows, grantRow{GrantInfo: g, Kind: kindOf(g), Clones: clones[g.ID]})
	}
	p.render(w, r, http.StatusOK, "grants", view{Title: "Managed secrets", Nav: "grants", Data: rows})
}

// grantData is the grant detail page.
type grantData struct {
	G        wire.GrantInfo
	Kind     string
	Injects  []string
	Clones   []grantRow
	Audit    []auditRow
	AuditErr string
	// Form errors and the values filled back (none of them secret).
	CloneName, CloneTTL     string
	CloneError, RotateError string
}

func (p *Portal) grantDetail(w http.ResponseWriter, r *http.Request) {
	v := view{}
	switch {
	case r.URL.Query().Has("created"):
		v.Notice = "Secret stored. Its grant id is below; the secret itself can never be shown again."
	case r.URL.Query().Has("cloned"):
		v.Notice = "Clone created. This is the new grant."
	case r.URL.Query().Has("rotated"):
		v.Notice = "Secret rotated. The grant id stays the same."
	case r.URL.Query().Has("revoked"):
		v.Notice = "Grant revoked, with all its clones."
	}
	p.showGrant(w, r, http.StatusOK, v, grantData{})
}

// showGrant renders the detail page of the grant in the path, with d's
// form state.
func (p *Portal) showGrant(w http.ResponseWriter, r *http.Request, status int, v view, d grantData) {
	id := r.PathValue("id")
	g, err := p.cfg.Backend.GetGrant(r.Context(), id)
	if err != nil {
		p.backendError(w, r, err, "get grant")
		return
	}
	all, err := p.cfg.Backend.ListGrants(r.Context())
	if err != nil {
		p.backendError(w, r, err, "list grants")
		return
	}
	d.G, d.Kind = g, kindOf(g)
	d.Injects = providers.Result{Spec: g.Secret.Spec}.Injects()
	for _, c := range all {
		if c.Parent == g.ID {
			d.Clones = append(d.Clones, grantRow{GrantInfo: c, Kind: kindOf(c)})
		}
	}
	page, err := p.cfg.Backend.QueryAudit(r.Context(), storage.AuditQuery{GrantID: g.ID, Limit: 20})
	if err != nil {
		_, d.AuditErr = p.classify(err, "query audit")
	}
	d.Audit = auditRows(page.Records)
	v.Title, v.Nav, v.Data = "Grant "+grantTitle(g), "grants", d
	p.render(w, r, status, "grant", v)
}

func grantTitle(g wire.GrantInfo) string {
	if g.Name != "" {
		return g.Name
	}
	return g.ID
}

func (p *Portal) clone(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d := grantData{CloneName: strings.TrimSpace(r.PostFormValue("name")), CloneTTL: strings.TrimSpace(r.PostFormValue("ttl"))}
	req := secretstore.CloneRequest{Name: d.CloneName}
	if d.CloneTTL != "" {
		ttl, msg := parseTTL(d.CloneTTL)
		if msg != "" {
			d.CloneError = msg
			p.showGrant(w, r, http.StatusBadRequest, view{}, d)
			return
		}
		req.TTL = ttl
	}
	g, err := p.cfg.Backend.Clone(r.Context(), id, req)
	if err != nil {
		status, msg := p.classify(err, "clone grant")
		if status != http.StatusBadRequest {
			p.errorPage(w, r, status, msg)
			return
		}
		d.CloneError = msg
		p.showGrant(w, r, status, view{}, d)
		return
	}
	http.Redirect(w, r, Prefix+"/grants/"+url.PathEscape(g.ID)+"?cloned=1", http.StatusSeeOther)
}

func (p *Portal) rotate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	g, err := p.cfg.Backend.GetGrant(r.Context(), id)
	if err != nil {
		p.backendError(w, r, err, "get grant")
		return
	}
	// Only the secret's own field names are read, so no other form value
	// can slip into the stored secret.
	fields := inject.Fields{}
	for _, name := range g.Secret.Fields {
		if v := r.PostFormValue("field_" + name); v != "" {
			fields[name] = v
		}
	}
	if len(fields) == 0 {
		p.showGrant(w, r, http.StatusBadRequest, view{}, grantData{RotateError: "Enter the new secret value."})
		return
	}
	if err := p.cfg.Backend.Rotate(r.Context(), id, fields); err != nil {
		status, msg := p.classify(err, "rotate grant")
		if status != http.StatusBadRequest {
			p.errorPage(w, r, status, msg)
			return
		}
		p.showGrant(w, r, status, view{}, grantData{RotateError: scrub(msg, fields)})
		return
	}
	http.Redirect(w, r, Prefix+"/grants/"+url.PathEscape(id)+"?rotated=1", http.StatusSeeOther)
}

// revokeData is the revocation confirmation page.
type revokeData struct {
	G      wire.GrantInfo
	Clones int
}

// revokeConfirm asks before revoking: a plain page with a POST form, so
// it works without JavaScript and a mistyped link revokes nothing.
func (p *Portal) revokeConfirm(w http.ResponseWriter, r *http.Request) {
	g, err := p.cfg.Backend.GetGrant(r.Context(), r.PathValue("id"))
	if err != nil {
		p.backendError(w, r, err, "get grant")
		return
	}
	all, err := p.cfg.Backend.ListGrants(r.Context())
	if err != nil {
		p.backendError(w, r, err, "list grants")
		return
	}
	d := revokeData{G: g, Clones: len(descendants(all, g.ID))}
	p.render(w, r, http.StatusOK, "revoke", view{Title: "Revoke " + grantTitle(g), Nav: "grants", Data: d})
}

// descendants returns the ids of every clone below id, at any depth.
func descendants(all []wire.GrantInfo, id string) []string {
	var out []string
	seen := map[string]bool{id: true} // a corrupt tree with a cycle still ends
	frontier := []string{id}
	for len(frontier) > 0 {
		var next []string
		for _, g := range all {
			if g.Parent != "" && !seen[g.ID] && slices.Contains(frontier, g.Parent) {
				seen[g.ID] = true
				out = append(out, g.ID)
				next = append(next, g.ID)
			}
		}
		frontier = next
	}
	return out
}

func (p *Portal) revoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := p.cfg.Backend.Revoke(r.Context(), id); err != nil {
		p.backendError(w, r, err, "revoke grant")
		return
	}
	http.Redirect(w, r, Prefix+"/grants/"+url.PathEscape(id)+"?revoked=1", http.StatusSeeOther)
}
