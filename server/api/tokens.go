package api

import (
	"context"
	"net/http"

	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

func tokenInfo(t storage.Token) wire.Token {
	return wire.Token{ID: t.ID, Kind: t.Kind, Name: t.Name, App: t.App, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt, PendingBy: t.PendingBy}
}

// createToken answers with the token itself, the only time it is shown.
// With Options.SidecarApproval a sidecar token is made pending: it
// authenticates nothing until another admin token approves it
// (approveToken), so one admin alone cannot mint a token and resolve an
// app's secrets with it.
func (h *handler) createToken(w http.ResponseWriter, r *http.Request) {
	var n wire.NewToken
	if e := decode(w, r, &n); e != nil {
		writeError(w, r, e)
		return
	}
	t, secret, err := h.store.CreateToken(r.Context(), storage.NewToken{Kind: n.Kind, Name: n.Name, App: n.App,
		Pending: h.sidecarApproval && n.Kind == storage.TokenSidecar})
	if err != nil {
		fail(w, r, err)
		return
	}
	out := tokenInfo(t)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

func (h *handler) listTokens(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.ListTokens(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	out := wire.Tokens{Tokens: make([]wire.Token, 0, len(list))}
	for _, t := range list {
		out.Tokens = append(out.Tokens, tokenInfo(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	h.tokenOp(w, r, h.store.RevokeToken)
}

func (h *handler) approveToken(w http.ResponseWriter, r *http.Request) {
	h.tokenOp(w, r, h.store.ApproveToken)
}

// tokenOp applies op to the token named in the path and answers with it.
func (h *handler) tokenOp(w http.ResponseWriter, r *http.Request, op func(context.Context, string) (storage.Token, error)) {
	t, err := op(r.Context(), r.PathValue("id"))
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenInfo(t))
}
