package proxy

import (
	"errors"
	"net/http"
	"testing"
	"time"

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
	// The response record of a request may follow the client's next
	// request (the answer is sent before it is written), so records are
	// matched by request id, not by position.
	recs := e.waitAudit(3)
	if recs[0].Phase != audit.PhaseRequest || recs[0].Status != 0 {
		t.Fatalf("allowed request: want its request record first: %+v", recs[0])
	}
	var allowedResp, denial []audit.Record
	for _, r := range recs[1:] {
		if r.RequestID == recs[0].RequestID {
			allowedResp = append(allowedResp, r)
		} else {
			denial = append(denial, r)
		}
	}
	if len(allowedResp) != 1 || allowedResp[0].Phase != audit.PhaseResponse || allowedResp[0].Status != 200 {
		t.Fatalf("allowed request: want one response record with its request id: %+v", allowedResp)
	}
	if len(denial) != 1 || denial[0].Phase != audit.PhaseResponse || denial[0].Decision != audit.DecisionDeny || denial[0].Status != 403 {
		t.Fatalf("denial: want one response record: %+v", denial)
	}
}

// stallingSink holds every record until released, like a durable log
// waiting on a slow disk.
type stallingSink struct {
	*audit.MemorySink
	entered chan struct{}
	release chan struct{}
}

func (s *stallingSink) Write(r audit.Record) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return s.MemorySink.Write(r)
}

// TestResponseDoesNotWaitForItsAuditRecord: the response record is
// written when the body is closed; a slow audit log must not hold back an
// answer the proxy already has in full, for plain HTTP and inside a
// terminated tunnel alike.
func TestResponseDoesNotWaitForItsAuditRecord(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"plain http", "http://api.example.test/v1"},
		{"terminated tunnel", "https://api.example.test/v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &stallingSink{MemorySink: audit.NewMemorySink(), entered: make(chan struct{}, 1), release: make(chan struct{})}
			e := newEnv(t, func(o *Options) { o.Audit = sink })
			e.tlsUpstream("api.example.test", nil)
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			defer close(sink.release)
			got := make(chan int, 1)
			go func() {
				resp, _ := e.do("GET", tc.url, http.Header{"X-Alter-Grant": {grantA}})
				got <- resp.StatusCode
			}()
			select {
			case code := <-got:
				if code != http.StatusOK {
					t.Fatalf("status %d", code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the client did not get its response while the audit record was being written")
			}
			select {
			case <-sink.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("no audit record was written")
			}
		})
	}
}
