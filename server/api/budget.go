package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/alter-sidecar/alter/server/wire"
)

// Budgets: per-token token buckets on calls that cost the server work
// proportional to what a sidecar sends or asks for. One sidecar token
// (any pod holding it) may spend at most rate units a second after an
// initial burst; beyond, 429 too_many_requests with Retry-After, which
// clients treat as transient (the audit shipper retries, the follower
// backs off). A bucket is kept only while it is not full, so the table
// holds the tokens active within the last burst/rate seconds.

// bucket is one token's budget.
type bucket struct {
	level float64 // units available
	at    time.Time
}

// budget is a set of per-token buckets of one kind.
type budget struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

func newBudget(rate, burst float64, now func() time.Time) *budget {
	return &budget{rate: rate, burst: burst, now: now, buckets: map[string]*bucket{}}
}

// take spends n units of key's budget. ok is false (nothing spent) when
// key does not have them; wait is then how long until it will. A request
// larger than the burst is charged the whole burst, once the bucket is
// full: it is slow, never impossible.
func (b *budget) take(key string, n float64) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	n = math.Min(n, b.burst)
	bk := b.buckets[key]
	if bk == nil {
		bk = &bucket{level: b.burst, at: t}
		b.buckets[key] = bk
	}
	if d := t.Sub(bk.at); d > 0 {
		bk.level = math.Min(b.burst, bk.level+d.Seconds()*b.rate)
		bk.at = t
	}
	if bk.level < n {
		return false, time.Duration((n - bk.level) / b.rate * float64(time.Second))
	}
	bk.level -= n
	// Forget full buckets now and then, so the map stays small.
	if len(b.buckets) > 1024 {
		for k, o := range b.buckets {
			if o.level+t.Sub(o.at).Seconds()*b.rate >= b.burst {
				delete(b.buckets, k)
			}
		}
	}
	return true, 0
}

var errBudget = &apiError{status: http.StatusTooManyRequests, code: wire.CodeTooManyRequests,
	message: "this token has used its budget for this call; retry after the time in Retry-After"}

// spend takes n units of the request token's budget b, or answers 429
// and returns false.
func (h *handler) spend(w http.ResponseWriter, r *http.Request, b *budget, n float64) bool {
	ok, wait := b.take(tokenFrom(r.Context()).ID, n)
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, r, errBudget)
	}
	return ok
}
