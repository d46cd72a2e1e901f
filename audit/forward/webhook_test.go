package forward_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/audit/ship"
	"github.com/alter-sidecar/alter/server/wire"
)

var secret = []byte("forward-test-hmac-key-0123456789")

// receiver is a SIEM's webhook endpoint: it checks every signature,
// keeps one record per id and counts how often each came.
type receiver struct {
	t       *testing.T
	mu      sync.Mutex
	got     map[string]json.RawMessage
	times   map[string]int
	bodies  [][]byte
	badSigs int
	// loseAcks: the next N batches are stored, then the connection is
	// cut before the answer (a receiver that dies after its write).
	loseAcks int
	batches  chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	return &receiver{t: t, got: map[string]json.RawMessage{}, times: map[string]int{}, batches: make(chan struct{}, 1)}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.bodies = append(rc.bodies, body)
	if err := forward.Verify(secret, r.Header.Get(forward.HeaderTimestamp), r.Header.Get(forward.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
		rc.badSigs++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var b forward.Batch
	if err := json.Unmarshal(body, &b); err != nil || len(b.Records) == 0 {
		rc.t.Errorf("batch does not decode: %v", err)
		http.Error(w, "bad batch", http.StatusBadRequest)
		return
	}
	for _, rec := range b.Records {
		rc.got[rec.ID] = rec.Record
		rc.times[rec.ID]++
	}
	select {
	case rc.batches <- struct{}{}:
	default:
	}
	if rc.loseAcks > 0 {
		rc.loseAcks--
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// waitFor waits, batch by batch, until the receiver holds n records.
func (rc *receiver) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for rc.count() < n {
		select {
		case <-rc.batches:
		case <-deadline:
			t.Fatalf("receiver holds %d records, want %d", rc.count(), n)
		}
	}
}

// server serves rc on 127.0.0.1; addr "" picks a port, a given one is
// reused (the receiver restarted where the sender knows it).
func serve(t *testing.T, h http.Handler, addr string) *http.Server {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv
}

type logEnv struct {
	path    string
	sink    *audit.DurableSink
	written int
}

func newLog(t *testing.T) *logEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	sink, err := audit.NewDurableSink(path, audit.DurableOptions{MaxSize: 8192})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	return &logEnv{path: path, sink: sink}
}

func (l *logEnv) write(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		l.written++
		d := audit.DecisionAllow
		if l.written%4 == 0 {
			d = audit.DecisionDeny
		}
		if err := l.sink.Write(audit.Record{RequestID: fmt.Sprintf("req-%d", l.written), GrantID: "00000000-0000-4000-8000-000000000001",
			Method: "GET", Scheme: "https", Host: "api.example.com", Port: 443, Path: "/v1/things", Decision: d, Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
}

// want is every record of the log by its forwarding id.
func (l *logEnv) want(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := audit.Files(l.path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		entries, _, err := audit.ReadEntries(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			out[ship.RecordID(e)] = e.Raw
		}
	}
	if len(out) != l.written {
		t.Fatalf("log holds %d records, %d written", len(out), l.written)
	}
	return out
}

func startForward(t *testing.T, path, url string, logs *zap.Logger) *forward.Forwarders {
	t.Helper()
	wh, err := forward.NewWebhook(forward.WebhookOptions{URL: url, Secret: secret, Client: &http.Client{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := forward.Start(path, []forward.Target{{Name: "siem", Sender: wh, Batch: 7}},
		forward.LogOptions{Interval: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, logs)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWebhookEveryRecordOnce: the receiver is killed and restarted
// mid-stream, loses acknowledgements, and the sender restarts too; at the
// end the receiver holds every record of the log, each under its id with
// its line as written, and every POST it saw was signed.
func TestWebhookEveryRecordOnce(t *testing.T) {
	l := newLog(t)
	rc := newReceiver(t)
	srv := serve(t, rc, "")
	url := "http://" + srv.Addr + "/hooks/secret-path-token?k=v"
	core, logs := observer.New(zap.DebugLevel)

	f := startForward(t, l.path, url, zap.New(core))
	l.write(t, 40)
	rc.waitFor(t, 40)

	srv.Close() // the receiver dies mid-stream
	l.write(t, 60)
	rc.mu.Lock()
	rc.loseAcks = 2
	rc.mu.Unlock()
	_ = serve(t, rc, srv.Addr) // and comes back where it was (closed by the test's cleanup)
	l.write(t, 20)
	rc.waitFor(t, 120)

	f.Stop(2 * time.Second) // the sender restarts
	l.write(t, 30)
	f = startForward(t, l.path, url, zap.New(core))
	l.write(t, 10)
	rc.waitFor(t, 160)
	f.Stop(2 * time.Second)

	want := l.want(t)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != len(want) {
		t.Fatalf("receiver holds %d records, the log %d", len(rc.got), len(want))
	}
	for id, raw := range want {
		if got, ok := rc.got[id]; !ok || !bytes.Equal(got, raw) {
			t.Errorf("record %s: got %q, want %q", id, got, raw)
		}
	}
	if rc.badSigs != 0 {
		t.Errorf("%d POSTs with a bad signature", rc.badSigs)
	}
	dups := 0
	for _, n := range rc.times {
		dups += n - 1
	}
	t.Logf("%d records, %d POSTs, %d redelivered (lost acknowledgements, the outage)", len(rc.got), len(rc.bodies), dups)
	if dups == 0 {
		t.Error("nothing was redelivered: the lost acknowledgements did not happen")
	}
	// No secret in any forwarded byte, and the URL in no log line.
	for _, b := range rc.bodies {
		if bytes.Contains(b, secret) {
			t.Fatal("the HMAC key is in a forwarded body")
		}
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, "secret-path-token") || strings.Contains(line, string(secret)) {
			t.Fatalf("log line holds the URL or the key: %s", line)
		}
	}
	if logs.FilterMessageSnippet("failed").Len() == 0 {
		t.Error("the outage was not logged")
	}
}

// TestWebhookAnswers: only a 2xx acknowledges a batch.
func TestWebhookAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		ok     bool
	}{
		{"no content", http.StatusNoContent, true},
		{"ok", http.StatusOK, true},
		{"redirect", http.StatusFound, false},
		{"unauthorised", http.StatusUnauthorized, false},
		{"server error", http.StatusInternalServerError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
			}), "")
			wh, err := forward.NewWebhook(forward.WebhookOptions{URL: "http://" + srv.Addr + "/tok3n", Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			n, err := wh.ShipAudit(context.Background(), []wire.AuditRecord{{ID: "1-a", Time: time.Now(), Decision: "allow", Body: json.RawMessage(`{}`)}})
			if (err == nil) != tc.ok || (tc.ok && n != 1) || (!tc.ok && n != 0) {
				t.Fatalf("ShipAudit = %d, %v", n, err)
			}
			if err != nil && strings.Contains(err.Error(), "tok3n") {
				t.Fatalf("error names the URL: %v", err)
			}
		})
	}
}

func TestWebhookOptions(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		secret    []byte
	}{
		{"short secret", "https://siem.example.com/x", []byte("short")},
		{"no scheme", "siem.example.com/x", secret},
		{"ftp", "ftp://siem.example.com/x", secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := forward.NewWebhook(forward.WebhookOptions{URL: tc.url, Secret: tc.secret})
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "siem.example.com") {
				t.Fatalf("error names the URL: %v", err)
			}
		})
	}
}

// TestDialErrorHidesURL: a refused connection's error names no path.
func TestDialErrorHidesURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	wh, _ := forward.NewWebhook(forward.WebhookOptions{URL: "http://" + addr + "/path-tok3n?x=y", Secret: secret})
	_, err = wh.ShipAudit(context.Background(), []wire.AuditRecord{{ID: "1-a", Time: time.Now(), Decision: "allow", Body: json.RawMessage(`{}`)}})
	if err == nil || strings.Contains(err.Error(), "tok3n") {
		t.Fatalf("err = %v", err)
	}
}

// wireRecords is the log as the shipper hands it to a sender.
func (l *logEnv) wireRecords(t *testing.T) []wire.AuditRecord {
	t.Helper()
	entries, _, err := audit.ReadEntries(l.path)
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.AuditRecord
	for _, e := range entries {
		out = append(out, wire.AuditRecord{ID: ship.RecordID(e), Time: e.Time, Decision: e.Decision, Body: e.Raw})
	}
	return out
}
