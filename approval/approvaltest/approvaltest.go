// Package approvaltest is the behaviour every approval.Store must have, as
// one test that each store's own tests run (the memory store, the file
// store, alter server's storage), so they cannot drift apart.
package approvaltest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func request(grant, body string) approval.Request {
	return approval.Request{GrantID: grant, Actor: "agent", Method: "POST", Scheme: "https", Host: "api.example.com", Port: 443,
		Path: "/v1/refunds", Prefix: "/v1/refunds", Reason: "refund order 7", Preview: body, RequestID: "req-1",
		Match: approval.MatchKey(grant, "POST", "https://api.example.com/v1/refunds", []byte(body))}
}

// Run checks s. newStore returns an empty store each time it is called.
func Run(t *testing.T, newStore func(t *testing.T) approval.Store) {
	ctx := context.Background()
	t.Run("create, find, get, list", func(t *testing.T) {
		s := newStore(t)
		r := request("g1", `{"amount":1}`)
		a, err := s.Create(ctx, r, t0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == "" || a.Status != approval.StatusPending || !a.ExpiresAt.Equal(t0.Add(time.Hour)) || a.Reason != r.Reason || a.Preview != r.Preview {
			t.Fatalf("Create = %+v", a)
		}
		got, ok, err := s.Find(ctx, r, t0)
		if err != nil || !ok || got.ID != a.ID {
			t.Fatalf("Find = %+v, %v, %v", got, ok, err)
		}
		if g, err := s.Get(ctx, a.ID); err != nil || g.Match != r.Match {
			t.Fatalf("Get = %+v, %v", g, err)
		}
		if _, err := s.Get(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, approval.ErrNotFound) {
			t.Fatalf("Get unknown: %v", err)
		}
		list, err := s.List(ctx, approval.Filter{GrantID: "g1"}, t0)
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %v, %v", list, err)
		}
		if list, _ := s.List(ctx, approval.Filter{GrantID: "g2"}, t0); len(list) != 0 {
			t.Fatalf("List of another grant = %v", list)
		}
		if list, _ := s.List(ctx, approval.Filter{Status: approval.StatusExpired}, t0.Add(time.Hour)); len(list) != 1 {
			t.Fatalf("List expired = %v", list)
		}
	})
	t.Run("approve then use once", func(t *testing.T) {
		s := newStore(t)
		r := request("g1", "{}")
		a, _ := s.Create(ctx, r, t0, time.Hour)
		d, err := s.Decide(ctx, a.ID, approval.Decision{Approve: true, By: "alice", Note: "ok", At: t0})
		if err != nil || d.Status != approval.StatusApproved || d.Decision.By != "alice" {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
		got, ok, _ := s.Find(ctx, r, t0)
		if !ok || !got.Lets(r, t0) {
			t.Fatalf("approved approval does not let its request through: %+v", got)
		}
		if err := s.Use(ctx, a.ID, "req-2", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Use(ctx, a.ID, "req-3", t0); !errors.Is(err, approval.ErrUsed) {
			t.Fatalf("second Use: %v", err)
		}
		if _, err := s.Decide(ctx, a.ID, approval.Decision{By: "bob", At: t0}); !errors.Is(err, approval.ErrDecided) {
			t.Fatalf("deciding a used approval: %v", err)
		}
	})
	t.Run("only one of many concurrent uses wins", func(t *testing.T) {
		s := newStore(t)
		a, _ := s.Create(ctx, request("g1", "{}"), t0, time.Hour)
		if _, err := s.Decide(ctx, a.ID, approval.Decision{Approve: true, By: "alice", At: t0}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.Use(ctx, a.ID, "r", t0) == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d uses of a one-request approval succeeded", wins)
		}
	})
	t.Run("deny, self approval, wait", func(t *testing.T) {
		s := newStore(t)
		a, _ := s.Create(ctx, request("g1", "{}"), t0, time.Hour)
		if _, err := s.Decide(ctx, a.ID, approval.Decision{Approve: true, By: "agent", At: t0}); !errors.Is(err, approval.ErrSelfApproval) {
			t.Fatalf("self approval: %v", err)
		}
		waited := make(chan approval.Approval, 1)
		go func() {
			got, _ := s.Wait(ctx, a.ID)
			waited <- got
		}()
		if _, err := s.Decide(ctx, a.ID, approval.Decision{By: "alice", Note: "no refunds today", At: t0}); err != nil {
			t.Fatal(err)
		}
		if got := <-waited; got.Status != approval.StatusDenied || got.Decision.Note != "no refunds today" {
			t.Fatalf("Wait = %+v", got)
		}
		cctx, cancel := context.WithCancel(ctx)
		b, _ := s.Create(ctx, request("g1", "other"), t0, time.Hour)
		cancel()
		if got, err := s.Wait(cctx, b.ID); !errors.Is(err, context.Canceled) || got.Status != approval.StatusPending {
			t.Fatalf("Wait after cancel = %+v, %v", got, err)
		}
	})
	t.Run("pending bounded per grant", func(t *testing.T) {
		s := newStore(t)
		for i := 0; i < approval.MaxPendingPerGrant; i++ {
			if _, err := s.Create(ctx, request("g1", "x"), t0, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Create(ctx, request("g1", "x"), t0, time.Hour); !errors.Is(err, approval.ErrTooManyPending) {
			t.Fatalf("one more: %v", err)
		}
	})
}
