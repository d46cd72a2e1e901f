package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/alter-sidecar/alter/approval"
)

var secret = []byte("webhook-secret-9f1c")

func pending() approval.Approval {
	return approval.Approval{ID: "a1b2", Request: approval.Request{GrantID: "g1", Actor: "agent", Method: "POST", Scheme: "https",
		Host: "api.stripe.com", Port: 443, Path: "/v1/refunds", Reason: "refund *order* 7\n<@here>"},
		Status: approval.StatusPending, ExpiresAt: time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)}
}

// receiver is a webhook that checks every signature and fails the first
// `fail` deliveries with 503.
type receiver struct {
	t    *testing.T
	fail int32
	got  chan Msg
	hits atomic.Int32
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if err := Verify(secret, req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		r.t.Errorf("receiver: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.hits.Add(1) <= r.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var m Msg
	if err := json.Unmarshal(body, &m); err != nil {
		r.t.Errorf("receiver: %v", err)
	}
	r.got <- m
}

func TestWebhookSignsAndRetries(t *testing.T) {
	rcv := &receiver{t: t, fail: 2, got: make(chan Msg, 1)}
	srv := httptest.NewTLSServer(rcv)
	defer srv.Close()
	core, logs := observer.New(zap.DebugLevel)
	url := srv.URL + "/hooks/T000/SECRETPATH"
	w := New(Options{URL: url, Secret: secret, Client: srv.Client(), Log: zap.New(core), PortalURL: "https://alter.example.com/",
		After: func(time.Duration) <-chan time.Time { c := make(chan time.Time, 1); c <- time.Now(); return c }})
	defer w.Close()
	w.Notify(pending())
	m := <-rcv.got
	if rcv.hits.Load() != 3 {
		t.Fatalf("%d deliveries, want 3 (two refused)", rcv.hits.Load())
	}
	if m.Event != "approval.pending" || m.Approval.ID != "a1b2" || m.Link != "https://alter.example.com/approvals/a1b2" {
		t.Fatalf("message %+v", m)
	}
	if !strings.Contains(m.Text, `Reason: "refund *order* 7\n&lt;@here&gt;"`) || !strings.Contains(m.Text, "POST https://api.stripe.com/v1/refunds") {
		t.Fatalf("text %q", m.Text)
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.TrimSpace(fmtAny(v))
		}
		if strings.Contains(line, "SECRETPATH") || strings.Contains(line, string(secret)) {
			t.Fatalf("log line names the webhook URL or secret: %s", line)
		}
	}
}

func TestWebhookGivesUpOnClientErrors(t *testing.T) {
	var hits atomic.Int32
	served := make(chan struct{}, 8)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		served <- struct{}{}
	}))
	defer srv.Close()
	w := New(Options{URL: srv.URL, Secret: secret, Client: srv.Client()})
	w.Notify(pending())
	w.Notify(pending()) // the queue is served in order: when the second is done, the first was
	<-served
	<-served
	w.Close()
	if hits.Load() != 2 {
		t.Fatalf("%d deliveries, want one per message (400 is not retried)", hits.Load())
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ts := "1800000000"
	body := []byte(`{"a":1}`)
	good := Sign(secret, ts, body)
	cases := []struct {
		name, ts, sig string
		body          []byte
		ok            bool
	}{
		{"good", ts, good, body, true},
		{"other body", ts, good, []byte(`{"a":2}`), false},
		{"other timestamp", "1800000001", good, body, false},
		{"stale", "1799999000", Sign(secret, "1799999000", body), body, false},
		{"other key", ts, Sign([]byte("x"), ts, body), body, false},
		{"garbage timestamp", "soon", good, body, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := Verify(secret, c.ts, c.sig, c.body, now, 5*time.Minute); (err == nil) != c.ok {
				t.Fatalf("Verify: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func fmtAny(v any) string { b, _ := json.Marshal(v); return string(b) }
