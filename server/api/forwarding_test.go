package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestForwardingStatus: GET /v1/audit/forwarding lists the configured
// targets first (one the database has never seen counts every record as
// pending), then those only the database remembers, with their holder
// and backlog; sidecar tokens may not read it.
func TestForwardingStatus(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr, func(o *Options) { o.ForwardTargets = []string{"siem", "fresh"} })
		ctx := context.Background()
		var recs []storage.AuditRecord
		for i := range 10 {
			recs = append(recs, storage.AuditRecord{ID: fmt.Sprintf("r%d", i), Source: "billing/pod-1", Time: time.Now(),
				Decision: audit.DecisionAllow, Body: json.RawMessage(`{}`)})
		}
		if _, err := e.db.InsertAudit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		// Every record, the env's token creations too, readable in commit
		// order: on PostgreSQL once the cluster's older transactions
		// (other tests') are over.
		all, err := e.db.QueryAudit(ctx, storage.AuditQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		total := len(all.Records)
		var page []storage.PositionedRecord
		for deadline := time.Now().Add(20 * time.Second); len(page) < total; time.Sleep(10 * time.Millisecond) {
			if page, err = e.db.AuditAfter(ctx, storage.AuditPosition{}, 100); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d records readable in commit order", len(page), total)
			}
		}
		now := time.Now()
		for name, upTo := range map[string]int{"siem": 4, "old": total} {
			if _, _, err := e.db.ClaimForward(ctx, name, "host/1/ab", now, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.AdvanceForward(ctx, name, "host/1/ab", page[upTo-1].Position, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.db.ReleaseForward(ctx, "old", "host/1/ab"); err != nil {
			t.Fatal(err)
		}
		var got wire.ForwardStatuses
		e.must(http.StatusOK, "GET", "/v1/audit/forwarding", e.admin, nil, &got)
		want := []struct {
			name       string
			configured bool
			holder     string
			pending    int
			forwarded  bool
		}{
			{"siem", true, "host/1/ab", total - 4, true},
			{"fresh", true, "", total, false},
			{"old", false, "", 0, true},
		}
		if len(got.Targets) != len(want) {
			t.Fatalf("targets = %+v", got.Targets)
		}
		for i, w := range want {
			g := got.Targets[i]
			if g.Name != w.name || g.Configured != w.configured || g.Holder != w.holder || g.Pending != w.pending ||
				g.ForwardedAt.IsZero() == w.forwarded || g.PendingMore {
				t.Errorf("target %d = %+v, want %+v", i, g, w)
			}
		}
		if a := e.call("GET", "/v1/audit/forwarding", e.billing, nil); a.status != http.StatusForbidden {
			t.Fatalf("a sidecar token read the forwarding status: %d", a.status)
		}
	})
}

func TestPendingIsBounded(t *testing.T) {
	db := openDB(t, testdb.SQLite(t))
	ctx := context.Background()
	var recs []storage.AuditRecord
	for i := range 5 {
		recs = append(recs, storage.AuditRecord{ID: fmt.Sprintf("r%d", i), Source: "a/b", Time: time.Now(), Decision: audit.DecisionAllow, Body: json.RawMessage(`{}`)})
	}
	if _, err := db.InsertAudit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max      int
		wantN    int
		wantMore bool
	}{{10, 5, false}, {5, 5, false}, {3, 3, true}} {
		n, more, err := db.AuditPendingAfter(ctx, storage.AuditPosition{}, tc.max)
		if err != nil || n != tc.wantN || more != tc.wantMore {
			t.Errorf("max %d: %d %v %v, want %d %v", tc.max, n, more, err, tc.wantN, tc.wantMore)
		}
	}
}

// TestForwardingStatusTrailAhead: on a trail restored into a cluster that
// has not reached its transaction ids, the status says so (409
// audit_trail_ahead) instead of an internal error.
func TestForwardingStatusTrailAhead(t *testing.T) {
	addr := testdb.PostgresDatabase(t, "")
	e := newEnv(t, addr, func(o *Options) { o.ForwardTargets = []string{"siem"} })
	if _, err := testdb.Raw(t, addr).Exec("UPDATE audit SET xid = xid + 1000000000000"); err != nil {
		t.Fatal(err)
	}
	a := e.call("GET", "/v1/audit/forwarding", e.admin, nil)
	if a.status != http.StatusConflict || a.code() != wire.CodeTrailAhead {
		t.Fatalf("status on a trail ahead of the database: %d %s %s", a.status, a.code(), a.body)
	}
}
