package api

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// readyFresh is how long one database ping answers /readyz for.
const readyFresh = time.Second

// sharedCheck runs check at most once at a time and lets its answer
// stand for fresh: /readyz takes no token, on the API's listener and on
// alter server's admin listener, and a database ping per request would
// let whoever reaches either keep the API waiting for the pool's
// connections.
type sharedCheck struct {
	check func() error
	fresh time.Duration
	now   func() time.Time

	mu  sync.Mutex // held while check runs: the callers behind it take its answer
	at  time.Time  // when err was found; zero before the first check
	err error
}

func (c *sharedCheck) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && c.now().Sub(c.at) < c.fresh {
		return c.err
	}
	c.err = c.check()
	c.at = c.now()
	return c.err
}

// newReadyCheck pings the store through a sharedCheck.
func (h *handler) newReadyCheck() *sharedCheck {
	return &sharedCheck{fresh: readyFresh, now: h.now, check: func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return h.store.Ping(ctx)
	}}
}

// Ready reports whether the store answers, as GET /readyz does: from
// one ping at a time, whose answer stands for a second.
func (h *Handler) Ready() error { return h.ready.Ready() }

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if err := h.ready.Ready(); err != nil {
		writeError(w, r, withDetail(errStoreUnavailable, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
