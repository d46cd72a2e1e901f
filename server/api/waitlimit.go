package api

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/alter-sidecar/alter/server/wire"
)

// Limits on open change waits (long polls and event streams). A parked
// wait costs the database nothing (storage.WaitChange shares one watcher),
// but each holds a connection, a goroutine and, on waking, one read: one
// token must not be able to open thousands. The per-token cap is well
// above what a sidecar needs (one follower, plus a reconnect overlapping
// the old stream); the global cap bounds what all tokens together can
// hold on a replica. Beyond either: 429 too_many_requests with
// Retry-After, which a sidecar's follower treats as transient.

// Defaults of Options.MaxWaitsPerToken and Options.MaxWaits.
const (
	DefaultMaxWaitsPerToken = 8
	DefaultMaxWaits         = 1024
)

// retryAfter is the Retry-After of a refused wait, in seconds.
const retryAfter = 5

var errTooManyWaits = &apiError{status: http.StatusTooManyRequests, code: wire.CodeTooManyRequests,
	message: "too many open change waits (long polls and event streams) for this token or this server; retry later"}

// waitLimiter counts open change waits per token and in all.
type waitLimiter struct {
	perToken, total int

	mu      sync.Mutex
	open    int
	byToken map[string]int
}

func newWaitLimiter(perToken, total int) *waitLimiter {
	return &waitLimiter{perToken: perToken, total: total, byToken: make(map[string]int)}
}

// acquire takes a slot for tokenID; release gives it back. ok is false
// when a cap is reached.
func (l *waitLimiter) acquire(tokenID string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.total || l.byToken[tokenID] >= l.perToken {
		return nil, false
	}
	l.open++
	l.byToken[tokenID]++
	var once sync.Once
	return func() { once.Do(func() { l.release(tokenID) }) }, true
}

func (l *waitLimiter) release(tokenID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byToken[tokenID]--; l.byToken[tokenID] <= 0 {
		delete(l.byToken, tokenID)
	}
}

// count is the number of open waits, for tests.
func (l *waitLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// startWait takes a wait slot for the request's token, or answers 429 and
// returns ok false.
func (h *handler) startWait(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, ok = h.waits.acquire(tokenFrom(r.Context()).ID)
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		writeError(w, r, errTooManyWaits)
	}
	return release, ok
}
