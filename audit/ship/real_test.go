package ship_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/ship"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/client/clienttest"
	"github.com/alter-sidecar/alter/server/storage"
)

// TestAgainstRealServer ships a rotated durable log to server/api and
// finds every record there once, also after a restart with a lost state
// file (everything is sent again; the server keeps one copy).
func TestAgainstRealServer(t *testing.T) {
	srv := clienttest.NewReal(t)
	c, err := client.New(client.Options{URL: srv.URL(), Token: client.Token(srv.SidecarToken)})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(client.Options{URL: srv.URL(), Token: client.Token(srv.AdminToken)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	sink, err := audit.NewDurableSink(path, audit.DurableOptions{MaxSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	for i := 0; i < 30; i++ {
		if err := sink.Write(audit.Record{Time: time.Now(), RequestID: "r", GrantID: "00000000-0000-4000-8000-000000000009",
			Method: "GET", Host: "api.example.com", Decision: audit.DecisionDeny, Status: 403}); err != nil {
			t.Fatal(err)
		}
	}
	for _, state := range []string{path + ".ship", path + ".other-state"} {
		s, err := ship.New(ship.Options{Path: path, StatePath: state, Sender: c, Batch: 8})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.ShipOnce(context.Background()); err != nil || n != 30 {
			t.Fatalf("ShipOnce = %d, %v", n, err)
		}
	}
	// The grant filter leaves out the server's own records (the tokens made).
	page, err := admin.QueryAudit(context.Background(), storage.AuditQuery{GrantID: "00000000-0000-4000-8000-000000000009", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 30 {
		t.Fatalf("server holds %d records, want 30", len(page.Records))
	}
	for _, r := range page.Records {
		if r.Source == "" || r.Decision != audit.DecisionDeny {
			t.Fatalf("record %+v", r)
		}
	}
}
