package remote

import (
	"context"
	"sync"
	"time"

	"github.com/alter-sidecar/alter/ratelimit"
	"github.com/alter-sidecar/alter/server/wire"
)

// Counter counts grant uses on alter server, so a grant's rates and quotas
// hold across every sidecar of the app. It asks for small leases of uses
// (the server counts a lease's uses at once, against the grant's limits and
// every ancestor's), spends them here, and remembers a refusal until its
// Retry-After, so a grant over its limit costs no server call per request.
//
// The bound: a use is spent only after the server counted it, so the
// sidecars of an app together never exceed a limit. A lease's uses not
// spent within LeaseTTL lapse still counted (fewer requests, never more).
// While the server cannot be reached, a limited grant's requests fail
// closed (503 store_unavailable) once the lease in hand is spent.
type Counter struct {
	api UsesAPI
	mu  sync.Mutex
	// leases by grant and actor; each has its own lock, held while it
	// asks the server, so concurrent requests of one grant make one call.
	leases map[leaseKey]*lease
}

// UsesAPI is what the counter needs of the server; *client.Client has it.
type UsesAPI interface {
	TakeUses(ctx context.Context, grantID, actor string, want int) (wire.UsesLease, error)
}

// LeaseTTL is how long a lease's uses may be spent.
const LeaseTTL = time.Second

// MaxLeaseSize bounds the uses asked for at once.
const MaxLeaseSize = 100

type leaseKey struct{ grant, actor string }

type lease struct {
	mu           sync.Mutex
	left         int
	until        time.Time
	refusedUntil time.Time
	refusedBy    string // grant id of the limit that refused
	limit        string
}

// NewCounter returns a counter on the server api. Its clock is the now
// each Take is given (the proxy's).
func NewCounter(api UsesAPI) *Counter {
	return &Counter{api: api, leases: map[leaseKey]*lease{}}
}

// Take implements ratelimit.Counter. uses[0] is the request's own grant:
// the server knows its chain and counts every ancestor's limits itself.
func (c *Counter) Take(ctx context.Context, uses []ratelimit.Use, now time.Time) (ratelimit.Verdict, error) {
	if len(uses) == 0 {
		return ratelimit.Verdict{OK: true}, nil
	}
	k := leaseKey{grant: uses[0].GrantID, actor: uses[0].Actor}
	c.mu.Lock()
	l := c.leases[k]
	if l == nil {
		l = &lease{}
		c.leases[k] = l
	}
	c.mu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.refusedUntil) {
		return refusal(l, now), nil
	}
	if l.left > 0 && now.Before(l.until) {
		l.left--
		return ratelimit.Verdict{OK: true}, nil
	}
	got, err := c.api.TakeUses(ctx, k.grant, k.actor, leaseSize(uses))
	if err != nil {
		return ratelimit.Verdict{}, err
	}
	if got.Granted <= 0 {
		wait := time.Duration(got.RetryAfterMS) * time.Millisecond
		if wait < time.Second {
			wait = time.Second
		}
		l.refusedUntil, l.refusedBy, l.limit, l.left = now.Add(wait), got.LimitGrantID, got.Limit, 0
		return refusal(l, now), nil
	}
	l.left, l.until = got.Granted-1, now.Add(LeaseTTL)
	return ratelimit.Verdict{OK: true}, nil
}

func refusal(l *lease, now time.Time) ratelimit.Verdict {
	wait := l.refusedUntil.Sub(now)
	wait = (wait + time.Second - 1) / time.Second * time.Second
	return ratelimit.Verdict{RetryAfter: wait, GrantID: l.refusedBy, Limit: l.limit}
}

// leaseSize asks for a twentieth of the smallest rate's N (at least one,
// at most MaxLeaseSize), so leases that lapse unspent waste little: a
// "20/m" grant asks for one use at a time.
func leaseSize(uses []ratelimit.Use) int {
	n := MaxLeaseSize
	for _, u := range uses {
		for _, lim := range []int{limitN(u, true), limitN(u, false)} {
			if lim > 0 && lim/20 < n {
				n = lim / 20
			}
		}
	}
	return max(n, 1)
}

func limitN(u ratelimit.Use, rate bool) int {
	if rate && u.Limits.Rate != nil {
		return u.Limits.Rate.N
	}
	if !rate && u.Limits.Quota != nil {
		return u.Limits.Quota.N
	}
	return 0
}
