package api

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/alter-sidecar/alter/server/wire"
)

// Limits on open change waits (long polls and event streams). A parked
// wait costs the database nothing (storage.WaitChange shares one watcher),
// but each holds a connection, a goroutine and, on waking, two reads: one
// token must not be able to open thousands, and one app's sidecars must
// not take every slot of a replica (the cap per app leaves room for at
// least four apps at their cap). Beyond any cap: 429 too_many_requests
// with Retry-After.
//
// A refused sidecar is not deaf: a long poll with wait=0 answers at once,
// holds no slot and is not counted, and secretstore/remote falls back to
// such polls, twice a second, while it is refused. So however many pods
// share one token, and whatever one hostile pod holds, each hears a
// revocation within a second.

// Defaults of Options.MaxWaitsPerToken, Options.MaxWaitsPerApp and
// Options.MaxWaits.
const (
	DefaultMaxWaitsPerToken = 8
	DefaultMaxWaitsPerApp   = 256
	DefaultMaxWaits         = 1024
)

// retryAfter is the Retry-After of a refused wait, in seconds.
const retryAfter = 5

var errTooManyWaits = &apiError{status: http.StatusTooManyRequests, code: wire.CodeTooManyRequests,
	message: "too many open change waits (long polls and event streams) for this token, its app or this server; poll with wait=0 or retry later"}

// waitLimiter counts open change waits per token, per app and in all.
type waitLimiter struct {
	perToken, perApp, total int

	mu      sync.Mutex
	open    int
	byToken map[string]int
	byApp   map[string]int
}

func newWaitLimiter(perToken, perApp, total int) *waitLimiter {
	return &waitLimiter{perToken: perToken, perApp: perApp, total: total, byToken: make(map[string]int), byApp: make(map[string]int)}
}

// acquire takes a slot for tokenID of app; release gives it back. ok is
// false when a cap is reached.
func (l *waitLimiter) acquire(tokenID, app string) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.total || l.byToken[tokenID] >= l.perToken || l.byApp[app] >= l.perApp {
		return nil, false
	}
	l.open++
	l.byToken[tokenID]++
	l.byApp[app]++
	var once sync.Once
	return func() { once.Do(func() { l.release(tokenID, app) }) }, true
}

func (l *waitLimiter) release(tokenID, app string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byToken[tokenID]--; l.byToken[tokenID] <= 0 {
		delete(l.byToken, tokenID)
	}
	if l.byApp[app]--; l.byApp[app] <= 0 {
		delete(l.byApp, app)
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
	tok := tokenFrom(r.Context())
	release, ok = h.waits.acquire(tok.ID, tok.App)
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		writeError(w, r, errTooManyWaits)
	}
	return release, ok
}
