package proxy

import (
	"errors"
	"net/http"
	"testing"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/inject"
)

// TestDurableAuditFailsClosed: with AuditFirst, a grant use that cannot be
// recorded is answered 503 audit_unavailable and nothing reaches the
// upstream; when the log works again the proxy recovers by itself.
func TestDurableAuditFailsClosed(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AuditFirst = true })
	up := e.tlsUpstream("api.example.test", nil)
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	grant := http.Header{"X-Alter-Grant": {grantA}}

	e.audit.SetErr(errors.New("disk full"))
	for _, tc := range []struct{ name, url string }{
		{"allowed request", "https://api.example.test/"},
		{"denied request", "http://other.example.test/"},
	} {
		resp, body := e.do("GET", tc.url, grant)
		if resp.StatusCode != 503 || resp.Header.Get(HeaderError) != CodeAuditUnavailable {
			t.Fatalf("%s with a failing audit log: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	if up.bytes.Load() != 0 {
		t.Fatal("a request the audit log could not record reached the upstream")
	}

	e.audit.SetErr(nil)
	if resp, body := e.do("GET", "https://api.example.test/ok", grant); resp.StatusCode != 200 {
		t.Fatalf("after recovery: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do("GET", "http://other.example.test/", grant); resp.StatusCode != 403 {
		t.Fatalf("denial after recovery: %d", resp.StatusCode)
	}
	recs := e.waitAudit(3)
	if recs[0].Phase != audit.PhaseRequest || recs[0].Status != 0 || recs[1].Phase != audit.PhaseResponse || recs[1].Status != 200 ||
		recs[0].RequestID != recs[1].RequestID {
		t.Fatalf("allowed request: want a request record then its response record: %+v", recs[:2])
	}
	if recs[2].Phase != audit.PhaseResponse || recs[2].Decision != audit.DecisionDeny || recs[2].Status != 403 {
		t.Fatalf("denial: want one response record: %+v", recs[2])
	}
}
