package remote

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/ratelimit"
	"github.com/alter-sidecar/alter/server/wire"
)

// fakeUses grants from a pool of n uses, as one server would.
type fakeUses struct {
	mu    sync.Mutex
	left  int
	calls int
	wants []int
	err   error
}

func (f *fakeUses) TakeUses(_ context.Context, _, _ string, want int) (wire.UsesLease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.wants = append(f.wants, want)
	if f.err != nil {
		return wire.UsesLease{}, f.err
	}
	g := min(want, f.left)
	f.left -= g
	if g == 0 {
		return wire.UsesLease{RetryAfterMS: 42_500, LimitGrantID: "g", Limit: "20/m"}, nil
	}
	return wire.UsesLease{Granted: g}, nil
}

func uses(t *testing.T, rate string) []ratelimit.Use {
	r, err := policy.ParseRate(rate)
	if err != nil {
		t.Fatal(err)
	}
	return []ratelimit.Use{{GrantID: "g", Actor: "a", Limits: policy.Limits{Rate: r, Zone: time.UTC}}}
}

func TestCounterSpendsLeasesAndRemembersRefusals(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	api := &fakeUses{left: 3}
	c := NewCounter(api)
	ctx := context.Background()
	u := uses(t, "20/m") // a lease of one use at a time
	for i := 0; i < 3; i++ {
		if v, err := c.Take(ctx, u, t0); err != nil || !v.OK {
			t.Fatalf("use %d: %+v, %v", i, v, err)
		}
	}
	v, _ := c.Take(ctx, u, t0)
	if v.OK || v.RetryAfter != 43*time.Second || v.Limit != "20/m" {
		t.Fatalf("over the limit: %+v", v)
	}
	calls := api.calls
	if v, _ := c.Take(ctx, u, t0.Add(40*time.Second)); v.OK || v.RetryAfter != 3*time.Second {
		t.Fatalf("within the remembered refusal: %+v", v)
	}
	if api.calls != calls {
		t.Fatal("a remembered refusal asked the server again")
	}
	api.left = 1
	if v, _ := c.Take(ctx, u, t0.Add(43*time.Second)); !v.OK {
		t.Fatalf("after Retry-After: %+v", v)
	}
}

func TestCounterLeaseSizeAndLapse(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	api := &fakeUses{left: 1000}
	c := NewCounter(api)
	ctx := context.Background()
	u := uses(t, "1000/s") // leases of 50
	for i := 0; i < 50; i++ {
		if v, _ := c.Take(ctx, u, t0); !v.OK {
			t.Fatalf("use %d refused", i)
		}
	}
	if api.calls != 1 || api.wants[0] != 50 {
		t.Fatalf("%d calls asking for %v, want one lease of 50", api.calls, api.wants)
	}
	c.Take(ctx, u, t0)               // the 51st takes a new lease
	c.Take(ctx, u, t0.Add(LeaseTTL)) // a lease lapses after LeaseTTL
	if api.calls != 3 {
		t.Fatalf("%d calls, want 3", api.calls)
	}
}

func TestCounterFailsClosed(t *testing.T) {
	api := &fakeUses{err: errors.New("server away")}
	c := NewCounter(api)
	if _, err := c.Take(context.Background(), uses(t, "5/s"), time.Now()); err == nil {
		t.Fatal("no error while the server cannot be reached")
	}
}
