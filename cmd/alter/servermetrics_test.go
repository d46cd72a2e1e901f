package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/server/serverconfig"
	"github.com/alter-sidecar/alter/server/wire"
)

// siemStub is a forward target that keeps the ids it was sent, or
// refuses every batch while down.
type siemStub struct {
	mu   sync.Mutex
	ids  []string
	down bool
}

func (s *siemStub) ShipAudit(_ context.Context, recs []wire.AuditRecord) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, errors.New("receiver down")
	}
	for _, r := range recs {
		s.ids = append(s.ids, r.ID)
	}
	return len(recs), nil
}

func (s *siemStub) received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func (s *siemStub) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

var serverAdminRE = regexp.MustCompile(`alter server admin on (\S+) `)

// TestServerAdminListener: admin_listen serves the server's health and
// Prometheus metrics, audit forwarding's among them, without a token.
func TestServerAdminListener(t *testing.T) {
	home := t.TempDir()
	for _, name := range []string{"ops", "ci"} { // each creation is an audit record
		var out, errOut strings.Builder
		if code := run([]string{"--home", home, "server", "token", "create", "--kind", "admin", "--name", name}, nil, &out, &errOut); code != 0 {
			t.Fatalf("token create: %d %s", code, errOut.String())
		}
	}
	siem := &siemStub{}
	files := serverFiles{forward: []forward.Target{{Name: "siem", Sender: siem}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var announce testbin.SyncBuffer
	apiAddr, done := startServerWith(t, ctx, home, &announce, files, func(c *serverconfig.Config) {
		c.AdminListen = "127.0.0.1:0"
		c.Audit.Retention = 400 * 24 * time.Hour // nothing is that old: no record goes
	})
	m, err := announce.WaitFor(serverAdminRE, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := m[1]
	metric := func(name string) string { return testbin.Metric(t, admin, name) }

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	// The trail so far reaches the target, and the counter says so.
	waitUntil(t, "the records to be forwarded", func() bool {
		n, _ := strconv.Atoi(metric(`alter_audit_forward_records_total{target="siem"}`))
		return n >= 2 && n == siem.received()
	})
	if v := metric(`alter_audit_forward_holding{target="siem"}`); v != "1" {
		t.Errorf("holding = %q, want 1 (the only replica)", v)
	}
	if v := metric(`alter_audit_forward_failing{target="siem"}`); v != "0" {
		t.Errorf("failing = %q, want 0", v)
	}
	if v := metric("alter_server_db_connections_max"); v == "" || v == "0" {
		t.Errorf("alter_server_db_connections_max = %q, want the pool's ceiling", v)
	}
	if v := metric("alter_audit_retention_failing"); v != "0" {
		t.Errorf("retention failing = %q, want 0", v)
	}
	if v := metric("alter_audit_retention_deleted_total"); v != "0" {
		t.Errorf("retention deleted %q records, want 0", v)
	}
	if metric("go_goroutines") == "" {
		t.Error("no Go runtime metrics")
	}

	// API requests are counted by route pattern, never by path.
	for _, path := range []string{"/v1/grants/0b6c2c56-0000-4000-8000-000000000001", "/v1/grants/0b6c2c56-0000-4000-8000-000000000002", "/no/such/route"} {
		resp, err := http.Get("http://" + apiAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// Counted once the answer is written: the client may read it first.
	waitUntil(t, "two unauthenticated grant reads", func() bool {
		return metric(`alter_server_requests_total{code="401",method="GET",route="/v1/grants/{id}"}`) == "2" &&
			metric(`alter_server_request_duration_seconds_count{method="GET",route="/v1/grants/{id}"}`) == "2"
	})
	waitUntil(t, "one unmatched request", func() bool {
		return metric(`alter_server_requests_total{code="404",method="",route="unmatched"}`) == "1"
	})
	if body := testbin.Scrape(t, admin); strings.Contains(body, "0b6c2c56") {
		t.Error("a request's path is in the metrics")
	}

	// A receiver that refuses shows as failing until it takes batches again.
	siem.setDown(true)
	var out, errOut strings.Builder
	if code := run([]string{"--home", home, "server", "token", "create", "--kind", "admin", "--name", "late"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("token create: %d %s", code, errOut.String())
	}
	waitUntil(t, "failing to be 1", func() bool { return metric(`alter_audit_forward_failing{target="siem"}`) == "1" })
	siem.setDown(false)
	waitUntil(t, "failing to be 0 again", func() bool { return metric(`alter_audit_forward_failing{target="siem"}`) == "0" })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runServer: %v", err)
	}
	if _, err := http.Get("http://" + admin + "/metrics"); err == nil {
		t.Error("the admin listener still answers after the server stopped")
	}
}
