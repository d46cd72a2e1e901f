// Package clienttest is an in-memory stand-in for the control plane's /v1
// API (server/API.md), for tests of its clients: server/client, the
// remote store, the audit shipper and the command line. It keeps grants,
// a change sequence and shipped audit records in maps, checks tokens like
// the real server (admin vs sidecar), and can play an unreachable server.
// It is not the server: it stores secrets in clear and checks little.
package clienttest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// Fake is the fake server. Its exported counters are safe to read at any
// time.
type Fake struct {
	Server       *httptest.Server
	AdminToken   string
	SidecarToken string
	// App is the sidecar token's app: it resolves only grants of this app.
	App string

	Resolves       atomic.Int64 // sidecar resolve calls answered
	AuditPosts     atomic.Int64 // audit batches accepted
	down           atomic.Bool
	auditDown      atomic.Bool
	maxPollWait    time.Duration
	mu             sync.Mutex
	grants         map[string]*grant
	order          []string
	seq            int64
	changes        []storage.Change
	audit          map[string]storage.AuditRecord
	auditOrder     []string
	changed        chan struct{} // closed and replaced on every change
	lastAuthSeen   string        // last Authorization header, for leak tests
	sidecarRevoked bool
	failWith       map[string]string // call -> API error code (FailWith)
}

type grant struct {
	info        wire.GrantInfo
	fields      inject.Fields
	unavailable bool
}

// New starts a fake on a loopback http:// address; Close stops it.
func New() *Fake {
	f := &Fake{
		AdminToken:   wire.PrefixAdmin + randHex(),
		SidecarToken: wire.PrefixSidecar + randHex(),
		App:          "app1",
		grants:       map[string]*grant{},
		audit:        map[string]storage.AuditRecord{},
		changed:      make(chan struct{}),
		maxPollWait:  maxPollWait,
	}
	f.Server = httptest.NewServer(f.handler())
	return f
}

// maxPollWait is the longest long poll the fake holds, as the real server.
const maxPollWait = 60 * time.Second

// URL is the fake's base URL.
func (f *Fake) URL() string { return f.Server.URL }

// Close stops the fake.
func (f *Fake) Close() { f.Server.Close() }

// SetDown makes every call fail as an unreachable server does (the
// connection is cut without an answer), or answer again.
func (f *Fake) SetDown(down bool) {
	f.down.Store(down)
	if down {
		f.Server.CloseClientConnections()
		f.broadcast() // wake long polls so they are cut too
	}
}

// RevokeSidecarToken makes the sidecar token unknown from now on.
func (f *Fake) RevokeSidecarToken() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sidecarRevoked = true
}

// FailWith makes a sidecar call answer the API error code (with its
// status: 503 store_unavailable, 429 too_many_requests, 500 otherwise)
// instead of its answer: the server answers, but not with what was asked.
// call is "resolve", "changes" (every change poll, parked ones at once)
// or "waits" (long polls with a wait only: wait=0 polls still answer, as
// on a server whose wait caps are full). An empty code answers again.
func (f *Fake) FailWith(call, code string) {
	f.mu.Lock()
	if f.failWith == nil {
		f.failWith = map[string]string{}
	}
	f.failWith[call] = code
	f.mu.Unlock()
	f.broadcast()
}

// failing answers the error FailWith set for call, if any.
func (f *Fake) failing(w http.ResponseWriter, call string) bool {
	f.mu.Lock()
	code := f.failWith[call]
	f.mu.Unlock()
	if code == "" {
		return false
	}
	status := http.StatusInternalServerError
	switch code {
	case wire.CodeStoreUnavailable:
		status = http.StatusServiceUnavailable
	case wire.CodeTooManyRequests:
		status = http.StatusTooManyRequests
	}
	fail(w, status, code, "failing as the test asked")
	return true
}

// SetAuditDown makes only audit posts fail (503 store_unavailable).
func (f *Fake) SetAuditDown(down bool) { f.auditDown.Store(down) }

func randHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AddGrant stores a grant for app with its secret fields and records an
// "add" change. It returns the grant id.
func (f *Fake) AddGrant(app string, spec inject.Spec, pol policy.Spec, fields inject.Fields) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.NewString()
	now := time.Now().UTC()
	g := &grant{fields: fields}
	g.info = wire.GrantInfo{App: app, GrantInfo: secretstore.GrantInfo{
		Grant:  secretstore.Grant{ID: id, SecretID: uuid.NewString(), Policy: pol, CreatedAt: now, UpdatedAt: now},
		Secret: secretstore.SecretInfo{Spec: spec, Fields: fieldNames(fields), Version: 1, UpdatedAt: now},
		Status: secretstore.StatusActive,
	}}
	g.info.Secret.ID = g.info.SecretID
	f.grants[id] = g
	f.order = append(f.order, id)
	f.changeLocked(storage.ChangeAdd, id)
	return id
}

// Revoke marks a grant unavailable and records a change.
func (f *Fake) Revoke(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.grants[id]; g != nil {
		g.unavailable, g.info.Revoked, g.info.Status = true, true, secretstore.StatusRevoked
	}
	f.changeLocked(storage.ChangeRevoke, id)
}

// RevokeSilently marks a grant unavailable without recording a change, as
// if the change stream had missed it.
func (f *Fake) RevokeSilently(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.grants[id]; g != nil {
		g.unavailable, g.info.Revoked, g.info.Status = true, true, secretstore.StatusRevoked
	}
}

// SetExpiry sets a grant's expiry (its effective NotAfter) and records a
// change.
func (f *Fake) SetExpiry(id string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.grants[id]; g != nil {
		at = at.UTC()
		g.info.ExpiresAt = &at
	}
	f.changeLocked(storage.ChangePolicy, id)
}

// Rotate replaces a grant's fields, bumps its version and records a
// change.
func (f *Fake) Rotate(id string, fields inject.Fields) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.grants[id]; g != nil {
		g.fields = fields
		g.info.Secret.Version++
	}
	f.changeLocked(storage.ChangeRotate, id)
}

// Audit returns the audit records received, by id.
func (f *Fake) Audit() map[string]storage.AuditRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]storage.AuditRecord, len(f.audit))
	for k, v := range f.audit {
		out[k] = v
	}
	return out
}

// LastAuthorization is the Authorization header of the last request.
func (f *Fake) LastAuthorization() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastAuthSeen
}

func (f *Fake) changeLocked(kind, id string) {
	f.seq++
	f.changes = append(f.changes, storage.Change{Seq: f.seq, At: time.Now().UTC(), Kind: kind, GrantID: id})
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) broadcast() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.changed)
	f.changed = make(chan struct{})
}

func fieldNames(fs inject.Fields) []string {
	var out []string
	for k := range fs {
		out = append(out, k)
	}
	return out
}
