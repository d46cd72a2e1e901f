package storage

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/approval/approvaltest"
	"github.com/alter-sidecar/alter/internal/testapprovals"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/secretstore"
)

var at0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func addFor(t *testing.T, d *DB, app string) string {
	t.Helper()
	g, err := d.AddFor(context.Background(), app, newSecret("tok", "api.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

func heldRequest(grantID, body string) approval.Request {
	return approval.Request{GrantID: grantID, Actor: "agent", Method: "POST", Scheme: "https", Host: "api.example.com", Port: 443,
		Path: "/v1/refunds", RequestID: "req-1", Match: approval.MatchKey(grantID, "POST", "https://api.example.com/v1/refunds", []byte(body))}
}

// The behaviour every approval store has, on both engines, through the
// store of the grants' app and through the every-app store the admin
// API uses.
func TestApprovalStore(t *testing.T) {
	for _, scope := range []string{"billing", ""} {
		t.Run("scope="+scope, func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, addr string) {
				d := openT(t, addr)
				approvaltest.Run(t, func(t *testing.T) approval.Store {
					ids := map[string]string{"g1": addFor(t, d, "billing"), "g2": addFor(t, d, "billing")}
					return testapprovals.Rename(d.Approvals(scope), ids)
				})
			})
		})
	}
}

// Two replicas on one database: of many Use calls through both, exactly
// one consumes a one-request approval.
func TestApprovalUseOnceAcrossReplicas(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		a, b := openT(t, addr), openT(t, addr)
		ctx := context.Background()
		g := addFor(t, a, "billing")
		ap, err := a.Approvals("billing").Create(ctx, heldRequest(g, "{}"), at0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Approvals("").Decide(ctx, ap.ID, approval.Decision{Approve: true, By: "alice", At: at0}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, used := 0, 0
		for i := range 16 {
			d := []*DB{a, b}[i%2]
			wg.Go(func() {
				err := d.Approvals("billing").Use(ctx, ap.ID, "r", at0)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, approval.ErrUsed):
					used++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins != 1 || used != 15 {
			t.Fatalf("%d uses won, %d refused as used; want 1 and 15", wins, used)
		}
	})
}

// An app's store neither sees nor makes another app's approvals.
func TestApprovalAppScope(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx := context.Background()
		mine, theirs := addFor(t, d, "billing"), addFor(t, d, "search")
		ap, err := d.Approvals("search").Create(ctx, heldRequest(theirs, "{}"), at0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		s := d.Approvals("billing")
		if _, err := s.Create(ctx, heldRequest(theirs, "{}"), at0, time.Hour); !errors.Is(err, secretstore.ErrGrantUnavailable) {
			t.Errorf("Create for another app's grant: %v", err)
		}
		if _, err := s.Create(ctx, heldRequest("no-such-grant", "{}"), at0, time.Hour); !errors.Is(err, secretstore.ErrGrantUnavailable) {
			t.Errorf("Create for an unknown grant: %v", err)
		}
		if _, err := s.Get(ctx, ap.ID); !errors.Is(err, approval.ErrNotFound) {
			t.Errorf("Get of another app's approval: %v", err)
		}
		if err := s.Use(ctx, ap.ID, "r", at0); !errors.Is(err, approval.ErrNotFound) {
			t.Errorf("Use of another app's approval: %v", err)
		}
		if _, ok, err := s.Find(ctx, heldRequest(theirs, "{}"), at0); ok || err != nil {
			t.Errorf("Find of another app's request = %v, %v", ok, err)
		}
		if list, err := s.List(ctx, approval.Filter{}, at0); err != nil || len(list) != 0 {
			t.Errorf("List = %v, %v", list, err)
		}
		if _, err := s.Create(ctx, heldRequest(mine, "{}"), at0, time.Hour); err != nil {
			t.Errorf("Create for its own grant: %v", err)
		}
		if list, _ := d.Approvals("").List(ctx, approval.Filter{}, at0); len(list) != 2 {
			t.Errorf("every app's List = %d approvals, want 2", len(list))
		}
	})
}

// A row changed in the database fails closed: nobody can approve a
// request, or give an approval back its use, without the integrity key.
func TestApprovalTampered(t *testing.T) {
	forge := func(a approval.Approval) string {
		a.Status = approval.StatusApproved
		a.Decision = &approval.Decision{Approve: true, By: "mallory", At: at0}
		b, _ := json.Marshal(a)
		return string(b)
	}
	cases := []struct {
		name, sql string
		args      func(a approval.Approval) []any
	}{
		{"approved in the body and status", `UPDATE approvals SET status = 'approved', body = ? WHERE id = ?`,
			func(a approval.Approval) []any { return []any{forge(a), a.ID} }},
		{"moved to another app", `UPDATE approvals SET app = 'search' WHERE id = ?`, func(a approval.Approval) []any { return []any{a.ID} }},
		{"expiry extended", `UPDATE approvals SET expires_at = expires_at + 1 WHERE id = ?`, func(a approval.Approval) []any { return []any{a.ID} }},
		{"mac removed", `UPDATE approvals SET mac = '' WHERE id = ?`, func(a approval.Approval) []any { return []any{a.ID} }},
	}
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx := context.Background()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				g := addFor(t, d, "billing")
				req := heldRequest(g, c.name)
				ap, err := d.Approvals("billing").Create(ctx, req, at0, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := d.db.Exec(d.q(c.sql), c.args(ap)...); err != nil {
					t.Fatal(err)
				}
				for _, s := range []approval.Store{d.Approvals("billing"), d.Approvals("search"), d.Approvals("")} {
					if _, err := s.Get(ctx, ap.ID); err != nil && !errors.Is(err, secretstore.ErrStoreUnavailable) && !errors.Is(err, approval.ErrNotFound) {
						t.Errorf("Get: %v", err)
					} else if err == nil {
						t.Errorf("Get of a tampered approval succeeded")
					}
				}
				if _, _, err := d.Approvals("billing").Find(ctx, req, at0); !errors.Is(err, secretstore.ErrStoreUnavailable) && c.name != "moved to another app" {
					t.Errorf("Find: %v, want ErrStoreUnavailable", err)
				}
				if err := d.Approvals("").Use(ctx, ap.ID, "r", at0); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Errorf("Use: %v, want ErrStoreUnavailable", err)
				}
			})
		}
	})
}

// A decision is an audit record (who, when, note) and a change that wakes
// a waiter on another replica.
func TestApprovalDecisionAuditAndWake(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		a, b := openT(t, addr), openT(t, addr)
		ctx := context.Background()
		g := addFor(t, a, "billing")
		ap, err := a.Approvals("billing").Create(ctx, heldRequest(g, "{}"), at0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		waited := make(chan approval.Approval, 1)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		started := make(chan struct{})
		go func() {
			close(started)
			got, err := a.Approvals("billing").Wait(wctx, ap.ID)
			if err != nil {
				t.Error(err)
			}
			waited <- got
		}()
		<-started
		decided := time.Now()
		if _, err := b.Approvals("").Decide(ActingAs(ctx, "token:t1"), ap.ID,
			approval.Decision{By: "alice", Note: "no refunds today", At: at0}); err != nil {
			t.Fatal(err)
		}
		got := <-waited
		if got.Status != approval.StatusDenied || got.Decision.Note != "no refunds today" {
			t.Fatalf("Wait = %+v", got)
		}
		if d := time.Since(decided); d > 2*time.Second {
			t.Errorf("the waiter on the other replica learnt of the decision after %v", d)
		}
		page, err := a.QueryAudit(ctx, AuditQuery{GrantID: g})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, r := range page.Records {
			var body map[string]string
			_ = json.Unmarshal(r.Body, &body)
			if body["event"] != EventApprovalDecide {
				continue
			}
			found = true
			if r.Actor != "token:t1" || r.Decision != "deny" || body["decided_by"] != "alice" || body["note"] != "no refunds today" ||
				body["approval_id"] != ap.ID || body["decided_at"] != at0.Format(time.RFC3339Nano) || body["requested_by"] != "agent" {
				t.Errorf("decision record = %s (actor %s, decision %s)", r.Body, r.Actor, r.Decision)
			}
		}
		if !found {
			t.Fatal("no approval_decide audit record")
		}
		changes, err := a.ChangesFor(ctx, "billing", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			if c.Kind == ChangeApproval {
				t.Errorf("the app lists the approval change %+v", c)
			}
		}
	})
}
