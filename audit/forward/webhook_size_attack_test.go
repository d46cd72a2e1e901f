package forward_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/server/wire"
)

// receiverLimit is nginx's default client_max_body_size, what sits in
// front of many SIEM endpoints: a bigger POST gets 413, every time.
const receiverLimit = 1 << 20

// TestWebhookAttackBatchTooBigForReceiver: a sidecar token holder ships
// records with bodies near the 64 KiB the server accepts (and '<', which
// JSON encoding turns into six bytes). A batch of a thousand of them is a
// POST of tens of megabytes: a receiver that refuses it (413) refuses it
// again on every retry, and forwarding to it stalls for everyone. The
// webhook keeps each POST within forward.MaxPostBytes, so every record
// arrives, each POST still signed.
func TestWebhookAttackBatchTooBigForReceiver(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	posts, refused := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, receiverLimit+1))
		mu.Lock()
		defer mu.Unlock()
		posts++
		if err != nil || len(body) > receiverLimit {
			refused++
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		if err := forward.Verify(secret, r.Header.Get(forward.HeaderTimestamp), r.Header.Get(forward.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b forward.Batch
		if err := json.Unmarshal(body, &b); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, rec := range b.Records {
			got[rec.ID]++
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	wh, err := forward.NewWebhook(forward.WebhookOptions{URL: srv.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		n    int
		pad  string // repeated to fill the body
	}{
		{"plain bodies near 64 KiB", 40, "x"},
		{"bodies of '<' (six bytes each once encoded)", 8, "<"},
		{"one record", 1, "<"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			clear(got)
			posts, refused = 0, 0
			mu.Unlock()
			var recs []wire.AuditRecord
			for i := range tc.n {
				body := fmt.Sprintf(`{"ts":"2026-01-02T03:04:05Z","pad":"%s"}`, strings.Repeat(tc.pad, 64<<10-64))
				recs = append(recs, wire.AuditRecord{ID: fmt.Sprintf("billing/%d", i), Source: "billing/pod-1", Time: at,
					Decision: "allow", Body: json.RawMessage(body)})
			}
			n, err := wh.ShipAudit(t.Context(), recs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || n != len(recs) {
				t.Fatalf("ShipAudit = %d, %v after %d POSTs (%d refused as too large); want all %d acknowledged", n, err, posts, refused, len(recs))
			}
			for _, r := range recs {
				if got[r.ID] != 1 {
					t.Fatalf("record %s received %d times, want once", r.ID, got[r.ID])
				}
			}
		})
	}
}
