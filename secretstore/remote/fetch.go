package remote

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
)

// flightCall is one fetch of a grant that concurrent Resolves share, so a
// burst of requests for a grant not cached yet costs one server call.
type flightCall struct {
	done chan struct{}
	e    *entry
	err  error
}

// fetch asks the server for a grant (or joins a fetch already asking)
// and applies what the answer means to the cache.
func (r *Resolver) fetch(ctx context.Context, grantID string) (*entry, error) {
	r.flightMu.Lock()
	if c := r.flight[grantID]; c != nil {
		r.flightMu.Unlock()
		select {
		case <-c.done:
			return c.e, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &flightCall{done: make(chan struct{})}
	r.flight[grantID] = c
	r.flightMu.Unlock()

	// The fetch serves every waiter: the first caller going away must not
	// cancel it for the others. The client's timeout bounds it.
	c.e, c.err = r.fetchNow(context.WithoutCancel(ctx), grantID)

	r.flightMu.Lock()
	delete(r.flight, grantID)
	r.flightMu.Unlock()
	close(c.done)
	return c.e, c.err
}

func (r *Resolver) fetchNow(ctx context.Context, grantID string) (*entry, error) {
	gen := r.gen.Load()
	w, err := r.api.Resolve(ctx, grantID)
	now := r.opts.Now()
	if err == nil {
		r.contact(now)
		res, notAfter, berr := build(grantID, w)
		if berr != nil {
			r.cache.Remove(grantID)
			return nil, berr
		}
		e := &entry{res: res, fetched: now, notAfter: notAfter}
		// Cache only an answer no change has overtaken.
		if r.gen.Load() == gen {
			r.cache.Add(grantID, e)
		}
		return e, nil
	}
	switch {
	case errors.Is(err, secretstore.ErrGrantUnavailable):
		// A verdict: never serve this grant from the cache again.
		r.contact(now)
		r.cache.Remove(grantID)
	case errors.Is(err, client.ErrUnauthorized):
		// Our token was revoked or is wrong: this sidecar is cut off, and
		// nothing it cached may bridge that.
		r.log.Error("the control plane refused the sidecar token; every grant now fails until it is replaced", zap.Error(err))
		r.purge()
	case !client.Unreachable(err):
		// The server answered (store_unavailable included): its word,
		// which the cached copy must not outlive.
		r.cache.Remove(grantID)
	}
	return nil, err
}
