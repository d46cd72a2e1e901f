package clienttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	grantrules "github.com/alter-sidecar/alter/grant"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// The fake's HTTP side: routing, token checks and one handler per /v1 call.

// fail writes the API's error shape.
func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(wire.HeaderError, code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(wire.Error{Code: code, Message: msg})
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly, as the server does.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, wire.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, wire.CodeInvalid, "body: "+err.Error())
		return false
	}
	return true
}

// auth wraps a handler with the token check for one kind.
func (f *Fake) auth(kind string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			panic(http.ErrAbortHandler) // cut the connection: no answer at all
		}
		got := r.Header.Get("Authorization")
		f.mu.Lock()
		f.lastAuthSeen = got
		adminTok, sidecarTok := f.AdminToken, f.SidecarToken
		if f.sidecarRevoked {
			sidecarTok = ""
		}
		f.mu.Unlock()
		tok, ok := strings.CutPrefix(got, "Bearer ")
		switch {
		case !ok || tok == "" || (tok != adminTok && tok != sidecarTok):
			fail(w, http.StatusUnauthorized, wire.CodeUnauthorized, "missing or unknown token")
		case kind == wire.KindAdmin && tok != adminTok, kind == wire.KindSidecar && tok != sidecarTok:
			fail(w, http.StatusForbidden, wire.CodeForbidden, "this token may not call this endpoint")
		default:
			h(w, r)
		}
	}
}

func (f *Fake) handler() http.Handler {
	mux := http.NewServeMux()
	admin := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, f.auth(wire.KindAdmin, h)) }
	side := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, f.auth(wire.KindSidecar, h)) }

	admin("POST /v1/secrets", f.addSecret)
	admin("GET /v1/grants", f.listGrants)
	admin("GET /v1/grants/{id}", f.grantOp(func(w http.ResponseWriter, _ *http.Request, g *grant) bool { return true }))
	admin("POST /v1/grants/{id}/revoke", f.grantOp(func(w http.ResponseWriter, _ *http.Request, g *grant) bool {
		g.unavailable, g.info.Revoked, g.info.Status = true, true, secretstore.StatusRevoked
		f.changeLocked(storage.ChangeRevoke, g.info.ID)
		return true
	}))
	admin("POST /v1/grants/{id}/rotate", f.grantOp(func(w http.ResponseWriter, r *http.Request, g *grant) bool {
		var body wire.Rotate
		if !decode(w, r, &body) {
			return false
		}
		g.fields = body.Fields
		g.info.Secret.Version++
		f.changeLocked(storage.ChangeRotate, g.info.ID)
		return true
	}))
	admin("PUT /v1/grants/{id}/policy", f.grantOp(func(w http.ResponseWriter, r *http.Request, g *grant) bool {
		var spec policy.Spec
		if !decode(w, r, &spec) {
			return false
		}
		if _, err := policy.Compile(spec); err != nil {
			fail(w, http.StatusBadRequest, wire.CodeInvalid, "policy: "+err.Error())
			return false
		}
		g.info.Policy = spec
		f.changeLocked(storage.ChangePolicy, g.info.ID)
		return true
	}))
	admin("POST /v1/grants/{id}/clone", f.clone)
	admin("GET /v1/audit", f.queryAudit)

	side("GET /v1/sidecar/grants/{id}", f.resolve)
	side("GET /v1/sidecar/policies", f.policies)
	side("GET /v1/sidecar/changes", f.changesPoll)
	side("POST /v1/sidecar/audit", f.shipAudit)
	return mux
}

func (f *Fake) addSecret(w http.ResponseWriter, r *http.Request) {
	var n wire.NewSecret
	if !decode(w, r, &n) {
		return
	}
	if n.Injection == nil || n.Policy == nil {
		fail(w, http.StatusBadRequest, wire.CodeInvalid, "the fake needs injection and policy")
		return
	}
	if _, err := inject.Compile(*n.Injection); err != nil {
		fail(w, http.StatusBadRequest, wire.CodeInvalid, "injection: "+err.Error())
		return
	}
	if _, err := policy.Compile(*n.Policy); err != nil {
		fail(w, http.StatusBadRequest, wire.CodeInvalid, "policy: "+err.Error())
		return
	}
	id := f.AddGrant(n.App, *n.Injection, *n.Policy, n.Fields)
	f.mu.Lock()
	g := f.grants[id]
	g.info.Name, g.info.Labels, g.info.ExpiresAt, g.info.Secret.Provider = n.Name, n.Labels, n.ExpiresAt, n.Provider
	info := g.info
	f.mu.Unlock()
	answer(w, http.StatusCreated, info)
}

func (f *Fake) listGrants(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := wire.Grants{Grants: []wire.GrantInfo{}}
	app := r.URL.Query().Get("app")
	for _, id := range f.order {
		if g := f.grants[id]; app == "" || g.info.App == app {
			out.Grants = append(out.Grants, g.info)
		}
	}
	answer(w, http.StatusOK, out)
}

// grantOp runs op on an existing grant under the lock and answers with
// the grant; op returns false when it has answered itself.
func (f *Fake) grantOp(op func(http.ResponseWriter, *http.Request, *grant) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		g := f.grants[r.PathValue("id")]
		if g == nil {
			fail(w, http.StatusNotFound, wire.CodeNotFound, "no such grant")
			return
		}
		if op(w, r, g) {
			answer(w, http.StatusOK, g.info)
		}
	}
}

func (f *Fake) clone(w http.ResponseWriter, r *http.Request) {
	var c wire.Clone
	if !decode(w, r, &c) {
		return
	}
	f.mu.Lock()
	parent := f.grants[r.PathValue("id")]
	f.mu.Unlock()
	if parent == nil {
		fail(w, http.StatusNotFound, wire.CodeNotFound, "no such grant")
		return
	}
	if parent.unavailable {
		fail(w, http.StatusBadRequest, wire.CodeInvalid, "parent is revoked")
		return
	}
	pol, err := grantrules.Narrow(c.Policy, parent.info.Policy)
	if err != nil {
		fail(w, http.StatusBadRequest, wire.CodeInvalid, err.Error())
		return
	}
	id := f.AddGrant(parent.info.App, parent.info.Secret.Spec, pol, parent.fields)
	f.mu.Lock()
	g := f.grants[id]
	g.info.Parent, g.info.Name = parent.info.ID, c.Name
	if g.info.Name == "" {
		g.info.Name = parent.info.Name
	}
	if c.TTL != "" {
		d, err := time.ParseDuration(c.TTL)
		if err != nil || d <= 0 {
			f.mu.Unlock()
			fail(w, http.StatusBadRequest, wire.CodeInvalid, "ttl")
			return
		}
		x := time.Now().Add(d).UTC()
		g.info.ExpiresAt = &x
	} else if c.ExpiresAt != nil {
		g.info.ExpiresAt = c.ExpiresAt
	}
	info := g.info
	f.mu.Unlock()
	answer(w, http.StatusCreated, info)
}

func (f *Fake) queryAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, k := range []string{"since", "until"} {
		if v := q.Get(k); v != "" {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				fail(w, http.StatusBadRequest, wire.CodeInvalid, k+" is not RFC 3339")
				return
			}
		}
	}
	limit := storage.DefaultAuditLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > storage.MaxAuditLimit {
			fail(w, http.StatusBadRequest, wire.CodeInvalid, "limit")
			return
		}
		limit = n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	page := storage.AuditPage{Records: []storage.AuditRecord{}}
	for i := len(f.auditOrder) - 1; i >= 0 && len(page.Records) < limit; i-- {
		rec := f.audit[f.auditOrder[i]]
		if (q.Get("grant") == "" || rec.GrantID == q.Get("grant")) &&
			(q.Get("actor") == "" || rec.Actor == q.Get("actor")) &&
			(q.Get("decision") == "" || rec.Decision == q.Get("decision")) &&
			(q.Get("run_id") == "" || rec.RunID == q.Get("run_id")) &&
			(q.Get("tool") == "" || rec.Tool == q.Get("tool")) {
			page.Records = append(page.Records, rec)
		}
	}
	answer(w, http.StatusOK, page)
}

func (f *Fake) resolve(w http.ResponseWriter, r *http.Request) {
	f.Resolves.Add(1)
	if f.failing(w, "resolve") {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.grants[r.PathValue("id")]
	now := time.Now()
	if g == nil || g.unavailable || g.info.App != f.App || (g.info.ExpiresAt != nil && !now.Before(*g.info.ExpiresAt)) {
		fail(w, http.StatusForbidden, wire.CodeGrantUnavailable, "grant unavailable")
		return
	}
	// inject.Fields marshals to "[redacted]"; the values travel as a
	// plain object, shadowing the embedded field.
	answer(w, http.StatusOK, struct {
		wire.Resolution
		Fields map[string]string `json:"fields"`
	}{wire.Resolution{
		Grant: g.info, Policy: g.info.Policy, Injection: g.info.Secret.Spec,
		SecretVersion: g.info.Secret.Version, NotAfter: g.info.ExpiresAt,
	}, g.fields})
}

func (f *Fake) policies(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := wire.Policies{Policies: []wire.GrantPolicy{}, Seq: f.seq}
	for _, id := range f.order {
		if g := f.grants[id]; g.info.App == f.App {
			out.Policies = append(out.Policies, wire.GrantPolicy{GrantID: id, Policy: g.info.Policy})
		}
	}
	answer(w, http.StatusOK, out)
}

func (f *Fake) changesPoll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wait := 25 * time.Second
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > f.maxPollWait {
			fail(w, http.StatusBadRequest, wire.CodeInvalid, "wait")
			return
		}
		wait = d
	}
	f.mu.Lock()
	if q.Get("after") == "" {
		seq := f.seq
		f.mu.Unlock()
		answer(w, http.StatusOK, wire.Changes{Changes: []storage.Change{}, Seq: seq})
		return
	}
	f.mu.Unlock()
	after, err := strconv.ParseInt(q.Get("after"), 10, 64)
	if err != nil {
		fail(w, http.StatusBadRequest, wire.CodeInvalid, "after")
		return
	}
	if wait > 0 && f.failing(w, "waits") {
		return
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		if f.failing(w, "changes") {
			return
		}
		f.mu.Lock()
		out := wire.Changes{Changes: []storage.Change{}, Seq: f.seq}
		for _, c := range f.changes {
			if c.Seq > after {
				out.Changes = append(out.Changes, c)
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if f.down.Load() {
			panic(http.ErrAbortHandler)
		}
		if len(out.Changes) > 0 || wait == 0 {
			answer(w, http.StatusOK, out)
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			answer(w, http.StatusOK, out)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (f *Fake) shipAudit(w http.ResponseWriter, r *http.Request) {
	if f.auditDown.Load() {
		fail(w, http.StatusServiceUnavailable, wire.CodeStoreUnavailable, "database unreachable")
		return
	}
	var b wire.AuditBatch
	if !decode(w, r, &b) {
		return
	}
	if len(b.Records) > wire.MaxAuditBatch {
		fail(w, http.StatusBadRequest, wire.CodeInvalid, "too many records")
		return
	}
	for i, rec := range b.Records {
		if err := checkAudit(rec); err != nil {
			fail(w, http.StatusBadRequest, wire.CodeInvalid, fmt.Sprintf("audit record %d: %v", i, err))
			return
		}
	}
	f.mu.Lock()
	n := 0
	for _, rec := range b.Records {
		if _, dup := f.audit[rec.ID]; dup {
			continue
		}
		rec.Source = f.App + "/sidecar"
		f.audit[rec.ID] = rec
		f.auditOrder = append(f.auditOrder, rec.ID)
		n++
	}
	f.mu.Unlock()
	f.AuditPosts.Add(1)
	answer(w, http.StatusOK, wire.AuditInserted{Inserted: n})
}

// checkAudit is the part of the server's audit check a shipper can get
// wrong.
func checkAudit(r storage.AuditRecord) error {
	switch {
	case r.ID == "":
		return errors.New("id is empty")
	case r.Decision != "allow" && r.Decision != "deny":
		return errors.New("bad decision")
	case r.Time.IsZero():
		return errors.New("time missing")
	case !json.Valid(r.Body):
		return errors.New("body is not JSON")
	}
	for _, s := range []string{r.ID, r.GrantID, r.Actor} {
		if err := secretstore.CheckText("text", s); err != nil {
			return err
		}
	}
	return nil
}
