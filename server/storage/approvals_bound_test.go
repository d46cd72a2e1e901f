package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/internal/testdb"
)

// TestApprovalCreateClientClock: a sidecar's clock may be wrong, even
// deliberately; however it dates its requests, one grant's approvals that
// still matter stay bounded, so a sidecar cannot grow the table without
// end.
func TestApprovalCreateClientClock(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx := context.Background()
		g := addFor(t, d, "billing")
		s := d.Approvals("billing")
		refused := false
		for i := range approval.MaxKept / 50 {
			// Each request dated past the last one's expiry: by the
			// sidecar's clock none of them is pending any more.
			at := time.Now().Add(time.Duration(i+1) * 2 * time.Hour)
			req := heldRequest(g, "{}")
			if _, err := s.Create(ctx, req, at, time.Hour); errors.Is(err, approval.ErrTooManyPending) {
				refused = true
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if !refused {
			t.Fatalf("%d approvals of one grant dated one after another's expiry were all accepted", approval.MaxKept/50)
		}
	})
}

// TestApprovalsPerGrantBound: an honest clock and a ttl of one second
// make approvals that stop mattering at once; past the bound the oldest
// of those go, never a pending or approved one, and when only those are
// left a new one is refused.
func TestApprovalsPerGrantBound(t *testing.T) {
	defer func(n int) { maxApprovalsPerGrant = n }(maxApprovalsPerGrant)
	maxApprovalsPerGrant = 5
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx := context.Background()
		g := addFor(t, d, "billing")
		s := d.Approvals("")
		past := time.Now().Add(-time.Hour)
		var kept []string
		for i := range 3 { // these matter: two approved, one pending
			a, err := s.Create(ctx, heldRequest(g, string(rune('a'+i))), past, 2*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if i < 2 {
				if _, err := s.Decide(ctx, a.ID, approval.Decision{Approve: true, By: "alice", At: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			kept = append(kept, a.ID)
		}
		for range 20 { // these lapse at once
			if _, err := s.Create(ctx, heldRequest(g, "{}"), past, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.List(ctx, approval.Filter{GrantID: g}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > maxApprovalsPerGrant {
			t.Fatalf("%d approvals kept, bound %d", len(list), maxApprovalsPerGrant)
		}
		for _, id := range kept {
			if _, err := s.Get(ctx, id); err != nil {
				t.Errorf("an approval that matters was dropped: %v", err)
			}
		}
		// Fill the bound with approvals that matter: the next is refused.
		for range 2 {
			if _, err := s.Create(ctx, heldRequest(g, "x"), past, 2*time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Create(ctx, heldRequest(g, "y"), past, 2*time.Hour); !errors.Is(err, approval.ErrTooManyPending) {
			t.Fatalf("past the bound with nothing to drop: %v", err)
		}
	})
}
