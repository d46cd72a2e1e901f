package forward_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/server/wire"
)

// oneRecord is a batch of one record whose body holds what JSON must
// escape: quotes, a newline, a terminal escape, a forged second record.
func oneRecord() []wire.AuditRecord {
	body := json.RawMessage(`{"ts":"2026-01-02T03:04:05Z","path":"/x\"},{\"id\":\"forged\"\n\u001b[2J"}`)
	return []wire.AuditRecord{{ID: "1-a", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Decision: "allow", Body: body}}
}

// TestWebhookAttackSignature: what a receiver checking forward.Verify
// refuses. The signature covers the timestamp and the body, so neither can
// be changed alone; a replay with its own timestamp passes only within the
// skew, which is why receivers keep one record per id.
func TestWebhookAttackSignature(t *testing.T) {
	var got struct {
		ts, sig string
		body    []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.body, _ = io.ReadAll(r.Body)
		got.ts, got.sig = r.Header.Get(forward.HeaderTimestamp), r.Header.Get(forward.HeaderSignature)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	sent := time.Unix(1767225600, 0)
	wh, err := forward.NewWebhook(forward.WebhookOptions{URL: srv.URL, Secret: secret, Now: func() time.Time { return sent }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wh.ShipAudit(t.Context(), oneRecord()); err != nil {
		t.Fatal(err)
	}
	var b forward.Batch
	if err := json.Unmarshal(got.body, &b); err != nil || len(b.Records) != 1 || b.Records[0].ID != "1-a" {
		t.Fatalf("body %q does not hold exactly the one record: %v", got.body, err)
	}
	const skew = 5 * time.Minute
	for _, tc := range []struct {
		name    string
		ts, sig string
		body    string
		now     time.Time
		key     []byte
		ok      bool
	}{
		{"as sent", got.ts, got.sig, string(got.body), sent, secret, true},
		{"replayed within the skew", got.ts, got.sig, string(got.body), sent.Add(skew - time.Second), secret, true},
		{"replayed after the skew", got.ts, got.sig, string(got.body), sent.Add(skew + time.Second), secret, false},
		{"from the future", got.ts, got.sig, string(got.body), sent.Add(-skew - time.Second), secret, false},
		{"timestamp moved, signature kept", "1767225900", got.sig, string(got.body), sent.Add(300 * time.Second), secret, false},
		{"body changed", got.ts, got.sig, strings.Replace(string(got.body), "1-a", "1-b", 1), sent, secret, false},
		{"record appended", got.ts, got.sig, string(got.body) + " ", sent, secret, false},
		{"another key", got.ts, got.sig, string(got.body), sent, []byte("another-hmac-key-0123456789abcdef"), false},
		{"no signature", got.ts, "", string(got.body), sent, secret, false},
		{"upper-case hex", got.ts, "sha256=" + strings.ToUpper(strings.TrimPrefix(got.sig, "sha256=")), string(got.body), sent, secret, false},
		{"bare hex", got.ts, strings.TrimPrefix(got.sig, "sha256="), string(got.body), sent, secret, false},
		{"no timestamp", "", got.sig, string(got.body), sent, secret, false},
		{"timestamp not a number", got.ts + "x", got.sig, string(got.body), sent, secret, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := forward.Verify(tc.key, tc.ts, tc.sig, []byte(tc.body), tc.now, skew)
			if (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestWebhookAttackRedirectNotFollowed: a receiver answering with any
// redirect gets the batch counted as undelivered, and the redirect's
// target receives nothing: the records go only where the config says.
func TestWebhookAttackRedirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer other.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/steal", code)
			}))
			defer srv.Close()
			wh, err := forward.NewWebhook(forward.WebhookOptions{URL: srv.URL + "/hook", Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := wh.ShipAudit(t.Context(), oneRecord()); n != 0 || err == nil {
				t.Fatalf("ShipAudit = %d, %v: a redirect acknowledged the batch", n, err)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Fatalf("the redirect's target got %d requests", n)
			}
		})
	}
}

// TestWebhookAttackTLSVerified: a receiver with a certificate the system
// does not trust gets no request, and the error names neither the path
// nor the query (they can hold a token).
func TestWebhookAttackTLSVerified(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	wh, err := forward.NewWebhook(forward.WebhookOptions{URL: srv.URL + "/hook-tok3n?key=tok3n", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	n, err := wh.ShipAudit(t.Context(), oneRecord())
	if n != 0 || err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ShipAudit = %d, %v; want a certificate error", n, err)
	}
	if strings.Contains(err.Error(), "tok3n") {
		t.Fatalf("error quotes the URL: %v", err)
	}
	if reached.Load() != 0 {
		t.Fatal("the untrusted receiver got the request")
	}
}

// TestWebhookAttackHostileAnswers: a receiver that answers slowly or
// without end cannot hold the sender or its memory: a 200 with an endless
// body is read up to a bound, and one that never answers lets go when the
// context ends. Errors never quote the URL.
func TestWebhookAttackHostileAnswers(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		cancel  bool // cancel the context once the request arrived
		ok      bool
	}{
		{"endless 200 body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("A", 32<<10))
			for i := 0; i < 1<<15; i++ { // 1 GB unless the sender stops reading
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, false, true},
		{"endless 500 body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			chunk := []byte(strings.Repeat("A", 32<<10))
			for i := 0; i < 1<<15; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, false, false},
		{"never answers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, true, false},
		// The status is the acknowledgement: a 200 whose body never comes
		// has been answered (the body is read only to keep the
		// connection), so the batch counts as delivered and the context's
		// end stops the wait for the rest. The cancel comes once the
		// client has the headers (headersFirst): before them it is the
		// "never answers" case.
		{"headers then silence", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Read the body first: only then does the server notice a
				// client that hangs up (r.Context ends).
				_, _ = io.Copy(io.Discard, r.Body)
				arrived <- struct{}{}
				tc.handler(w, r)
			}))
			defer srv.Close()
			headers := make(chan struct{}, 1)
			client := &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err == nil {
					headers <- struct{}{}
				}
				return resp, err
			})}
			wh, err := forward.NewWebhook(forward.WebhookOptions{URL: srv.URL + "/tok3n", Secret: secret, Client: client})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			type result struct {
				n   int
				err error
			}
			res := make(chan result, 1)
			go func() {
				n, err := wh.ShipAudit(ctx, oneRecord())
				res <- result{n, err}
			}()
			<-arrived
			if tc.name == "headers then silence" {
				<-headers
			}
			if tc.cancel {
				cancel()
			}
			select {
			case r := <-res:
				if (r.err == nil) != tc.ok {
					t.Fatalf("ShipAudit = %d, %v; want ok %v", r.n, r.err, tc.ok)
				}
				if r.err != nil && strings.Contains(r.err.Error(), "tok3n") {
					t.Fatalf("error quotes the URL: %v", r.err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("ShipAudit still waiting on a hostile receiver after 20s")
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
