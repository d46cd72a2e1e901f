// Package ratelimit counts grant uses against the rates and quotas of a
// grant's policy (policy.Limits) and says whether one more use fits.
//
// A rate "N/m" means at most N uses in any window of a minute: the counter
// keeps the times of the last N uses (a sliding log) and admits a use when
// the oldest of them is a whole window old. A token bucket
// (golang.org/x/time/rate) was the first idea and is not used: a bucket of
// N refilled over the window lets 2N through in one window (a full bucket,
// then its refill), and "20/m" must mean 20 in any minute. A quota "N/d" or
// "N/mo" counts uses in the calendar day or month (in the grant's zone) and
// starts again at the next one.
//
// Take checks every limit of a request (the grant's own and each
// ancestor's, each keyed by its grant id) and records the use against all
// of them or none: a refused request uses nothing.
//
// Local holds the counts in memory, so they hold per proxy process; a
// control-plane sidecar asks alter server, which holds them for every
// sidecar of an app (see the server's lease design in ARCHITECTURE.md).
package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

// Use is one limit a request counts against.
type Use struct {
	GrantID string // the grant whose limits these are (the request's, or an ancestor's)
	Actor   string // counted on its own when Limits.PerActor
	Limits  policy.Limits
}

// Verdict is Take's answer.
type Verdict struct {
	OK bool
	// RetryAfter is how long until the refused use could fit (at least a
	// second: Retry-After is in whole seconds).
	RetryAfter time.Duration
	// GrantID and Limit name the limit that refused ("20/m"), for the
	// audit record and the 429's message.
	GrantID string
	Limit   string
}

// Counter decides uses. Implementations are safe for concurrent use.
type Counter interface {
	Take(ctx context.Context, uses []Use, now time.Time) (Verdict, error)
}

// Local is a Counter in this process's memory.
type Local struct {
	mu      sync.Mutex
	rates   map[key]*slidingLog
	quotas  map[key]*periodCount
	takes   int
	sweptAt time.Time
}

type key struct {
	grant, actor string
}

// NewLocal returns an empty in-memory counter.
func NewLocal() *Local {
	return &Local{rates: map[key]*slidingLog{}, quotas: map[key]*periodCount{}}
}

// Take implements Counter.
func (l *Local) Take(_ context.Context, uses []Use, now time.Time) (Verdict, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybeSweep(now)
	refused := Verdict{}
	// First ask every limit; only if all agree, record the use in each.
	for _, u := range uses {
		k := keyOf(u)
		if r := u.Limits.Rate; r != nil {
			if wait := l.rate(k).wait(r, now); wait > 0 && wait > refused.RetryAfter {
				refused = Verdict{RetryAfter: wait, GrantID: u.GrantID, Limit: r.Text}
			}
		}
		if q := u.Limits.Quota; q != nil {
			if wait := l.quota(k).wait(q, u.Limits.Zone, now); wait > 0 && wait > refused.RetryAfter {
				refused = Verdict{RetryAfter: wait, GrantID: u.GrantID, Limit: q.Text}
			}
		}
	}
	if refused.RetryAfter > 0 {
		refused.RetryAfter = roundUpToSecond(refused.RetryAfter)
		return refused, nil
	}
	for _, u := range uses {
		k := keyOf(u)
		if r := u.Limits.Rate; r != nil {
			l.rate(k).add(r, now)
		}
		if q := u.Limits.Quota; q != nil {
			l.quota(k).add(q, u.Limits.Zone, now)
		}
	}
	return Verdict{OK: true}, nil
}

func keyOf(u Use) key {
	k := key{grant: u.GrantID}
	if u.Limits.PerActor {
		k.actor = u.Actor
	}
	return k
}

func roundUpToSecond(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	return s * time.Second
}

func (l *Local) rate(k key) *slidingLog {
	s := l.rates[k]
	if s == nil {
		s = &slidingLog{}
		l.rates[k] = s
	}
	return s
}

func (l *Local) quota(k key) *periodCount {
	q := l.quotas[k]
	if q == nil {
		q = &periodCount{}
		l.quotas[k] = q
	}
	return q
}

// maybeSweep drops counts that no longer matter (a log whose newest use is
// a window old; a count from an earlier period), every 4096 takes or
// minute, so per-actor keys do not pile up.
func (l *Local) maybeSweep(now time.Time) {
	l.takes++
	if l.takes < 4096 && now.Sub(l.sweptAt) < time.Minute {
		return
	}
	l.takes, l.sweptAt = 0, now
	for k, s := range l.rates {
		if s.idle(now) {
			delete(l.rates, k)
		}
	}
	for k, q := range l.quotas {
		if !now.Before(q.end) {
			delete(l.quotas, k)
		}
	}
}

// slidingLog holds the times of the last N uses, oldest at head once full.
type slidingLog struct {
	times []time.Time
	head  int
	per   time.Duration
}

// wait is how long until one more use fits: 0 if it fits now.
func (s *slidingLog) wait(r *policy.Limit, now time.Time) time.Duration {
	if len(s.times) < r.N {
		return 0
	}
	oldest := s.times[s.head]
	if d := oldest.Add(r.Per).Sub(now); d > 0 {
		return d
	}
	return 0
}

func (s *slidingLog) add(r *policy.Limit, now time.Time) {
	s.per = r.Per
	if len(s.times) > r.N {
		// The grant's rate was lowered: start the log again rather than
		// work out which entries the new N keeps.
		s.times, s.head = nil, 0
	}
	if len(s.times) < r.N {
		if s.head != 0 { // raised after the log wrapped: put it back in order
			s.times, s.head = append(s.times[s.head:], s.times[:s.head]...), 0
		}
		s.times = append(s.times, now)
		return
	}
	s.times[s.head] = now
	s.head = (s.head + 1) % len(s.times)
}

func (s *slidingLog) idle(now time.Time) bool {
	if len(s.times) == 0 {
		return true
	}
	newest := s.times[(s.head+len(s.times)-1)%len(s.times)]
	return now.Sub(newest) >= s.per
}

// periodCount counts the uses in one calendar period.
type periodCount struct {
	start, end time.Time
	n          int
}

func (q *periodCount) roll(l *policy.Limit, zone *time.Location, now time.Time) {
	if now.Before(q.start) || !now.Before(q.end) {
		q.start, q.end, q.n = l.PeriodStart(now, zone), l.PeriodEnd(now, zone), 0
	}
}

func (q *periodCount) wait(l *policy.Limit, zone *time.Location, now time.Time) time.Duration {
	q.roll(l, zone, now)
	if q.n < l.N {
		return 0
	}
	return q.end.Sub(now)
}

func (q *periodCount) add(l *policy.Limit, zone *time.Location, now time.Time) {
	q.roll(l, zone, now)
	q.n++
}
