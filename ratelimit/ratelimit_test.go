package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func limits(t *testing.T, rate, quota string, perActor bool) policy.Limits {
	t.Helper()
	var l policy.Limits
	var err error
	if rate != "" {
		if l.Rate, err = policy.ParseRate(rate); err != nil {
			t.Fatal(err)
		}
	}
	if quota != "" {
		if l.Quota, err = policy.ParseQuota(quota); err != nil {
			t.Fatal(err)
		}
	}
	l.PerActor, l.Zone = perActor, time.UTC
	return l
}

// step is one Take at an offset from t0 and what it must answer.
type step struct {
	at    time.Duration
	actor string
	ok    bool
	retry time.Duration // when refused
}

func TestLocalTake(t *testing.T) {
	cases := []struct {
		name  string
		rate  string
		quota string
		per   bool
		steps []step
	}{
		{
			name: "rate: N in a window, then the oldest must age out",
			rate: "3/m",
			steps: []step{
				{at: 0, ok: true}, {at: 10 * time.Second, ok: true}, {at: 20 * time.Second, ok: true},
				{at: 30 * time.Second, retry: 30 * time.Second},
				{at: 59*time.Second + 500*time.Millisecond, retry: time.Second}, // rounded up
				{at: time.Minute, ok: true},                                     // the first has aged out
				{at: time.Minute + time.Second, retry: 9 * time.Second},
				{at: 80 * time.Second, ok: true},
			},
		},
		{
			name: "rate: never 2N in one window (what a token bucket would allow)",
			rate: "2/m",
			steps: []step{
				{at: 0, ok: true}, {at: 0, ok: true}, {at: 30 * time.Second, retry: 30 * time.Second},
				{at: 59 * time.Second, retry: time.Second}, {at: 60 * time.Second, ok: true}, {at: 60 * time.Second, ok: true},
				{at: 61 * time.Second, retry: 59 * time.Second},
			},
		},
		{
			name:  "quota: a calendar day, then the next",
			quota: "2/d",
			steps: []step{
				{at: 0, ok: true}, {at: time.Hour, ok: true},
				{at: 2 * time.Hour, retry: 12 * time.Hour}, // until midnight UTC
				{at: 14 * time.Hour, ok: true},
			},
		},
		{
			name: "per actor: each client has its own window",
			rate: "1/s", per: true,
			steps: []step{
				{at: 0, actor: "a", ok: true}, {at: 0, actor: "b", ok: true},
				{at: 0, actor: "a", retry: time.Second}, {at: time.Second, actor: "a", ok: true},
			},
		},
		{
			name: "shared: actors count together without per_actor",
			rate: "1/s",
			steps: []step{
				{at: 0, actor: "a", ok: true}, {at: 0, actor: "b", retry: time.Second},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLocal()
			lim := limits(t, c.rate, c.quota, c.per)
			for i, s := range c.steps {
				v, err := l.Take(context.Background(), []Use{{GrantID: "g", Actor: s.actor, Limits: lim}}, t0.Add(s.at))
				if err != nil {
					t.Fatal(err)
				}
				if v.OK != s.ok || (!s.ok && v.RetryAfter != s.retry) {
					t.Fatalf("step %d (at %v, actor %q): got %+v; want ok=%v retry=%v", i, s.at, s.actor, v, s.ok, s.retry)
				}
			}
		})
	}
}

// A clone's use counts against its own limit and its parent's, and a use
// one of them refuses counts against neither.
func TestLocalTakeChainIsAllOrNothing(t *testing.T) {
	l := NewLocal()
	ctx := context.Background()
	clone := []Use{{GrantID: "clone", Limits: limits(t, "2/m", "", false)}, {GrantID: "parent", Limits: limits(t, "3/m", "", false)}}
	parentOnly := []Use{{GrantID: "parent", Limits: limits(t, "3/m", "", false)}}
	want := []struct {
		uses []Use
		ok   bool
		by   string
	}{
		{clone, true, ""}, {clone, true, ""},
		{clone, false, "clone"}, // the clone's own 2/m; the parent's count stays at 2
		{parentOnly, true, ""},  // the parent's third
		{parentOnly, false, "parent"},
	}
	for i, w := range want {
		v, _ := l.Take(ctx, w.uses, t0)
		if v.OK != w.ok || v.GrantID != w.by {
			t.Fatalf("take %d: %+v; want ok=%v by %q", i, v, w.ok, w.by)
		}
	}
}

func TestLocalRateChangedUnderIt(t *testing.T) {
	l := NewLocal()
	ctx := context.Background()
	take := func(rate string, at time.Duration) bool {
		v, _ := l.Take(ctx, []Use{{GrantID: "g", Limits: limits(t, rate, "", false)}}, t0.Add(at))
		return v.OK
	}
	// Wrap a 2/m log, then raise the rate to 3/m: the oldest entry must
	// still be the oldest.
	for i, at := range []time.Duration{0, time.Second, time.Minute} {
		if !take("2/m", at) {
			t.Fatalf("take %d refused", i)
		}
	}
	if !take("3/m", time.Minute+100*time.Millisecond) { // 3 uses within the last minute: 1s, 60s, 60.1s
		t.Fatal("raised rate refused its third use")
	}
	if take("3/m", time.Minute+200*time.Millisecond) {
		t.Fatal("a fourth use in one minute was admitted after the rate was raised")
	}
	if !take("1/m", 3*time.Minute) || take("1/m", 3*time.Minute+time.Second) {
		t.Fatal("a lowered rate is not applied")
	}
}

func TestLocalSweepsIdleKeys(t *testing.T) {
	l := NewLocal()
	lim := limits(t, "1/s", "1/d", true)
	for i := 0; i < 10; i++ {
		_, _ = l.Take(context.Background(), []Use{{GrantID: "g", Actor: string(rune('a' + i)), Limits: lim}}, t0)
	}
	_, _ = l.Take(context.Background(), []Use{{GrantID: "g", Actor: "z", Limits: lim}}, t0.Add(48*time.Hour))
	if len(l.rates) != 1 || len(l.quotas) != 1 {
		t.Fatalf("after a sweep: %d rate logs, %d quota counts; want only the newest", len(l.rates), len(l.quotas))
	}
}
