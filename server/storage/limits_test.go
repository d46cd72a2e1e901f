package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

func TestTakeUses(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ns := newSecret("tok-limits", "api.github.com")
		ns.Policy.Rate, ns.Policy.PerActor = "5/m", true
		g, err := d.AddFor(ctx, "billing", ns)
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{Policy: policy.Spec{Quota: "100/d"}})
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := d.AddFor(ctx, "billing", newSecret("tok-plain", "api.github.com"))
		take := func(grantID, actor string, want int, at time.Duration) UseLease {
			t.Helper()
			l, err := d.TakeUses(ctx, "billing", grantID, actor, want, t0.Add(at))
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		if l := take(g.ID, "a", 3, 0); l.Granted != 3 {
			t.Fatalf("first lease: %+v", l)
		}
		if l := take(g.ID, "a", 3, time.Second); l.Granted != 2 {
			t.Fatalf("a lease past the rate is cut to what is left: %+v", l)
		}
		if l := take(g.ID, "a", 1, 10*time.Second); l.Granted != 0 || l.RetryAfter != 50*time.Second || l.Limit != "5/m" || l.GrantID != g.ID {
			t.Fatalf("over the rate: %+v", l)
		}
		if l := take(g.ID, "b", 1, 10*time.Second); l.Granted != 1 {
			t.Fatalf("per actor: another actor has its own count: %+v", l)
		}
		// The clone counts against the parent's rate too.
		if l := take(c.ID, "a", 1, 20*time.Second); l.Granted != 0 || l.GrantID != g.ID {
			t.Fatalf("a clone past its parent's rate: %+v", l)
		}
		if l := take(g.ID, "a", 5, time.Minute); l.Granted != 3 {
			t.Fatalf("after the first three aged out: %+v", l)
		}
		if l := take(plain.ID, "a", 7, 0); l.Granted != 7 {
			t.Fatalf("a grant without limits: %+v", l)
		}
		for name, f := range map[string]func() error{
			"another app": func() error { _, err := d.TakeUses(ctx, "search", g.ID, "a", 1, t0); return err },
			"unknown": func() error {
				_, err := d.TakeUses(ctx, "billing", "00000000-0000-4000-8000-000000000000", "a", 1, t0)
				return err
			},
		} {
			if err := f(); !errors.Is(err, secretstore.ErrGrantUnavailable) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

// Two replicas on one database never grant more than the limit between
// them, however their calls interleave.
func TestTakeUsesAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	testdb.ForEach(t, func(t *testing.T, addr string) {
		a, b := openT(t, addr), openT(t, addr)
		ns := newSecret("tok-replicas", "api.github.com")
		ns.Policy.Rate, ns.Policy.Quota = "20/m", "25/d"
		g, err := a.AddFor(ctx, "billing", ns)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			d := a
			if i%2 == 1 {
				d = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 4; j++ {
					l, err := d.TakeUses(ctx, "billing", g.ID, "", 1, now)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					total += l.Granted
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if total != 20 {
			t.Fatalf("%d uses granted across two replicas, want exactly 20", total)
		}
		// The day's quota of 25 still holds after the minute.
		l, _ := a.TakeUses(ctx, "billing", g.ID, "", 10, now.Add(time.Minute))
		if l.Granted != 5 {
			t.Fatalf("quota: %+v, want the 5 the day has left", l)
		}
	})
}
