package forward_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestForwardedRecordsCarryTheTrailsEvent: the event the trail stored
// (the server's column: grant_use for a shipped record) is a field of the
// forwarded record beside the body, so a SIEM rule need not trust the
// body's own "event", which a sidecar writes.
func TestForwardedRecordsCarryTheTrailsEvent(t *testing.T) {
	recs := []wire.AuditRecord{
		{ID: "billing/pod-1:7", Source: "billing/pod-1", Event: "grant_use", Time: time.Now(), Decision: "allow",
			Body: json.RawMessage(`{"event":"grant_revoke","actor":"token:admin"}`)},
		{ID: "server/1", Source: "server", Event: "grant_revoke", Time: time.Now(), Decision: "allow", Body: json.RawMessage(`{"event":"grant_revoke"}`)},
		{ID: "local:3", Time: time.Now(), Decision: "allow", Body: json.RawMessage(`{}`)}, // a sidecar's own log: no event column
	}
	want := []string{"grant_use", "grant_revoke", ""}
	t.Run("webhook", func(t *testing.T) {
		got := make(chan forward.Batch, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b forward.Batch
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &b); err != nil {
				t.Errorf("batch: %v", err)
			}
			if strings.Contains(string(body[strings.Index(string(body), "local:3"):]), `"event":""`) {
				t.Error("an empty event is sent")
			}
			got <- b
		}))
		defer srv.Close()
		wh, err := forward.NewWebhook(forward.WebhookOptions{URL: srv.URL, Secret: []byte("0123456789abcdef")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wh.ShipAudit(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		b := <-got
		for i, r := range b.Records {
			if r.Event != want[i] {
				t.Errorf("record %s: event %q, want %q", r.ID, r.Event, want[i])
			}
		}
	})
	t.Run("syslog", func(t *testing.T) {
		for i, r := range recs {
			m, err := forward.Message(r, "host")
			if err != nil {
				t.Fatal(err)
			}
			hasParam := strings.Contains(string(m), ` event="`+want[i]+`"]`)
			if (want[i] != "") != hasParam || (want[i] == "" && strings.Contains(string(m), ` event="`)) {
				t.Errorf("record %s: %s", r.ID, m)
			}
			if !rfc5424.Match(m) {
				t.Errorf("record %s is not the RFC 5424 form: %s", r.ID, m)
			}
		}
	})
}
