package approval

import (
	"context"
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func req(method, path string, body string) Request {
	url := "https://api.example.com:443" + path
	return Request{GrantID: "g1", Actor: "agent", Method: method, Scheme: "https", Host: "api.example.com", Port: 443, Path: path,
		Match: MatchKey("g1", method, url, []byte(body)), Prefix: "/v1/refunds"}
}

func TestMatchKeySeparatesEveryPart(t *testing.T) {
	base := MatchKey("g", "POST", "https://h/p?a=1", []byte("{}"))
	for name, k := range map[string]string{
		"grant":  MatchKey("h", "POST", "https://h/p?a=1", []byte("{}")),
		"method": MatchKey("g", "PUT", "https://h/p?a=1", []byte("{}")),
		"query":  MatchKey("g", "POST", "https://h/p?a=2", []byte("{}")),
		"body":   MatchKey("g", "POST", "https://h/p?a=1", []byte("{ }")),
		"joins":  MatchKey("gP", "OST", "https://h/p?a=1", []byte("{}")),
	} {
		if k == base {
			t.Errorf("%s: a different request has the same match key", name)
		}
	}
	if base != MatchKey("g", "POST", "https://h/p?a=1", []byte("{}")) {
		t.Error("the same request has two match keys")
	}
}

func TestBookLifecycle(t *testing.T) {
	refund := req("POST", "/v1/refunds/re_1", `{"amount":100}`)
	bigger := req("POST", "/v1/refunds/re_1", `{"amount":100000}`)
	other := req("POST", "/v1/refunds/re_2", `{}`)
	cases := []struct {
		name string
		run  func(t *testing.T, b *Book)
	}{
		{"pending is found for its retry, not for another body", func(t *testing.T, b *Book) {
			a, _ := b.Create(refund, t0, time.Hour)
			if got, ok := b.Find(refund, t0); !ok || got.ID != a.ID || got.Status != StatusPending {
				t.Fatalf("Find = %+v, %v", got, ok)
			}
			if _, ok := b.Find(bigger, t0); ok {
				t.Fatal("an approval for one body was found for another")
			}
		}},
		{"an approval is for the client that asked", func(t *testing.T, b *Book) {
			a, _ := b.Create(refund, t0, time.Hour)
			if _, err := b.Decide(a.ID, Decision{Approve: true, By: "alice", At: t0}); err != nil {
				t.Fatal(err)
			}
			same := refund
			same.Actor = "another-agent"
			if got, ok := b.Find(same, t0); ok || got.Lets(same, t0) {
				t.Fatalf("another client's identical request found %+v", got)
			}
			if got, _ := b.Get(a.ID); got.Lets(same, t0) || !got.Lets(refund, t0) {
				t.Fatal("Lets does not tell the clients apart")
			}
		}},
		{"approved once lets exactly one retry through", func(t *testing.T, b *Book) {
			a, _ := b.Create(refund, t0, time.Hour)
			if _, err := b.Decide(a.ID, Decision{Approve: true, By: "alice", At: t0}); err != nil {
				t.Fatal(err)
			}
			got, ok := b.Find(refund, t0.Add(time.Minute))
			if !ok || !got.Lets(refund, t0.Add(time.Minute)) {
				t.Fatalf("approved approval does not let its request through: %+v", got)
			}
			if got.Lets(bigger, t0) || got.Lets(other, t0) {
				t.Fatal("a one-request approval lets another request through")
			}
			if err := b.Use(a.ID, "r1", t0); err != nil {
				t.Fatal(err)
			}
			if err := b.Use(a.ID, "r2", t0); !errors.Is(err, ErrUsed) {
				t.Fatalf("second Use: %v", err)
			}
			if got, _ := b.Find(refund, t0); got.Lets(refund, t0) {
				t.Fatal("a used approval still lets its request through")
			}
		}},
		{"time-boxed approval covers the prefix, not another method, until it ends", func(t *testing.T, b *Book) {
			a, _ := b.Create(refund, t0, time.Hour)
			if _, err := b.Decide(a.ID, Decision{Approve: true, By: "alice", At: t0, For: 15 * time.Minute}); err != nil {
				t.Fatal(err)
			}
			if _, ok := b.Find(other, t0.Add(time.Minute)); !ok {
				t.Fatal("a time-boxed approval does not cover another path under its prefix")
			}
			del := req("DELETE", "/v1/refunds/re_2", "")
			if got, ok := b.Find(del, t0); ok && got.Lets(del, t0) {
				t.Fatal("a time-boxed approval covers another method")
			}
			if err := b.Use(a.ID, "r1", t0); err != nil {
				t.Fatal(err)
			}
			if got, ok := b.Find(other, t0.Add(14*time.Minute)); !ok || !got.Lets(other, t0.Add(14*time.Minute)) {
				t.Fatal("Use consumed a time-boxed approval")
			}
			if got, ok := b.Find(other, t0.Add(15*time.Minute)); ok && got.Lets(other, t0.Add(15*time.Minute)) {
				t.Fatal("a time-boxed approval outlived its --for")
			}
		}},
		{"denied stands for the same request", func(t *testing.T, b *Book) {
			a, _ := b.Create(refund, t0, time.Hour)
			if _, err := b.Decide(a.ID, Decision{By: "alice", At: t0, Note: "no"}); err != nil {
				t.Fatal(err)
			}
			if got, ok := b.Find(refund, t0); !ok || got.Status != StatusDenied || got.Lets(refund, t0) {
				t.Fatalf("Find = %+v", got)
			}
			if _, err := b.Decide(a.ID, Decision{Approve: true, By: "bob", At: t0}); !errors.Is(err, ErrDecided) {
				t.Fatalf("deciding twice: %v", err)
			}
		}},
		{"expired nobody can approve", func(t *testing.T, b *Book) {
			a, _ := b.Create(refund, t0, time.Hour)
			if _, err := b.Decide(a.ID, Decision{Approve: true, By: "alice", At: t0.Add(time.Hour)}); !errors.Is(err, ErrDecided) {
				t.Fatalf("approving an expired approval: %v", err)
			}
			if _, ok := b.Find(refund, t0.Add(time.Hour)); ok {
				t.Fatal("an expired approval is still found")
			}
		}},
		{"the asker may not approve", func(t *testing.T, b *Book) {
			a, _ := b.Create(refund, t0, time.Hour)
			if _, err := b.Decide(a.ID, Decision{Approve: true, By: "Agent", At: t0}); !errors.Is(err, ErrSelfApproval) {
				t.Fatalf("self approval: %v", err)
			}
		}},
		{"bad decisions", func(t *testing.T, b *Book) {
			a, _ := b.Create(refund, t0, time.Hour)
			for name, d := range map[string]Decision{
				"nobody":       {Approve: true, At: t0},
				"long --for":   {Approve: true, By: "a", At: t0, For: MaxFor + time.Second},
				"denial for":   {By: "a", At: t0, For: time.Minute},
				"long note":    {Approve: true, By: "a", At: t0, Note: string(make([]byte, MaxNote+1))},
				"negative for": {Approve: true, By: "a", At: t0, For: -time.Second},
			} {
				if _, err := b.Decide(a.ID, d); err == nil {
					t.Errorf("%s: accepted", name)
				}
			}
		}},
		{"pending per grant is bounded", func(t *testing.T, b *Book) {
			for i := 0; i < MaxPendingPerGrant; i++ {
				if _, err := b.Create(refund, t0, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.Create(refund, t0, time.Hour); !errors.Is(err, ErrTooManyPending) {
				t.Fatalf("one more: %v", err)
			}
			r := refund
			r.GrantID = "g2"
			if _, err := b.Create(r, t0, time.Hour); err != nil {
				t.Fatalf("another grant is held back by this one's pending approvals: %v", err)
			}
			if _, err := b.Create(refund, t0.Add(time.Hour), time.Hour); err != nil {
				t.Fatalf("expired approvals still count as pending: %v", err)
			}
		}},
		{"prune keeps what matters", func(t *testing.T, b *Book) {
			old, _ := b.Create(refund, t0, time.Hour)
			fresh, _ := b.Create(other, t0.Add(Keep), time.Hour)
			b.Prune(t0.Add(Keep + time.Hour))
			if _, err := b.Get(old.ID); !errors.Is(err, ErrNotFound) {
				t.Fatal("an approval long over was kept")
			}
			if _, err := b.Get(fresh.ID); err != nil {
				t.Fatal("a live approval was dropped")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, &Book{}) })
	}
}

func TestMemoryWaitWakesOnDecision(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	a, _ := m.Create(ctx, req("POST", "/v1/refunds/x", ""), t0, time.Hour)
	done := make(chan Approval)
	go func() {
		got, _ := m.Wait(ctx, a.ID)
		done <- got
	}()
	if _, err := m.Decide(ctx, a.ID, Decision{Approve: true, By: "alice", At: t0}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got.Status != StatusApproved {
		t.Fatalf("Wait returned %+v", got)
	}
	short, cancel := context.WithCancel(ctx)
	b, _ := m.Create(ctx, req("POST", "/v1/refunds/y", ""), t0, time.Hour)
	cancel()
	if _, err := m.Wait(short, b.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context: %v", err)
	}
}
