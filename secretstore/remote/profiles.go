package remote

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/wire"
)

// Profiles. The resolver is the proxy's secretstore.ProfileResolver on the
// control plane: it asks the server for a profile's binding by the token's
// SHA-256 (the token itself never leaves the sidecar) or by name, within
// the sidecar token's app, and caches the answer exactly as it caches
// grants: for the TTL while the change stream is followed, past it for
// max_stale only while the server cannot be reached, never past a verdict
// of the server. A change naming the profile (created, changed, revoked,
// new token) or one of its grants (a policy change moves its
// destinations) drops every cached binding of it, within a second of the
// write. The binding holds no secret: the grant a request picks is
// resolved through Resolve as usual.

// bindingEntry is one cached binding, under "t:<digest hex>" or
// "n:<name>". It is never modified.
type bindingEntry struct {
	b       *profile.Binding
	grants  map[string]bool
	fetched time.Time
}

// ResolveProfileToken implements secretstore.ProfileResolver.
func (r *Resolver) ResolveProfileToken(ctx context.Context, d profile.Digest, _ time.Time) (*profile.Binding, error) {
	return r.resolveProfile(ctx, "t:"+hex.EncodeToString(d[:]), func(ctx context.Context) (wire.ProfileBinding, error) {
		return r.api.ResolveProfileToken(ctx, d)
	})
}

// ResolveProfileName implements secretstore.ProfileResolver.
func (r *Resolver) ResolveProfileName(ctx context.Context, name string, _ time.Time) (*profile.Binding, error) {
	if profile.CheckName(name) != nil {
		return nil, secretstore.ErrGrantUnavailable // no profile has such a name: not worth a call
	}
	return r.resolveProfile(ctx, "n:"+name, func(ctx context.Context) (wire.ProfileBinding, error) {
		w, err := r.api.ResolveProfileName(ctx, name)
		if err == nil && w.Name != name {
			return wire.ProfileBinding{}, fmt.Errorf("%w: the server answered for profile %q when asked for %q", secretstore.ErrStoreUnavailable, w.Name, name)
		}
		return w, err
	})
}

func (r *Resolver) resolveProfile(ctx context.Context, key string, ask func(context.Context) (wire.ProfileBinding, error)) (*profile.Binding, error) {
	clock := r.opts.Now()
	cached, ok := r.bindings.Get(key)
	if ok && clock.Sub(cached.fetched) < r.opts.TTL && r.inContact(clock) && !r.streamBroken.Load() {
		r.hits.Add(1)
		return cached.b, nil
	}
	r.misses.Add(1)
	e, err := r.bindingFlights.do(ctx, key, func(ctx context.Context) (*bindingEntry, error) { return r.fetchBinding(ctx, key, ask) })
	switch {
	case err == nil:
		return e.b, nil
	case errors.Is(err, secretstore.ErrGrantUnavailable):
		return nil, secretstore.ErrGrantUnavailable
	case cached != nil && client.Unreachable(err) && r.staleUsableSince(cached.fetched, r.opts.Now()):
		r.staleServed.Add(1)
		return cached.b, nil
	case errors.Is(err, secretstore.ErrStoreUnavailable):
		return nil, err
	}
	return nil, fmt.Errorf("%w: %w", secretstore.ErrStoreUnavailable, err)
}

// fetchBinding asks the server and applies what the answer means to the
// cache, as fetchNow does for a grant.
func (r *Resolver) fetchBinding(ctx context.Context, key string, ask func(context.Context) (wire.ProfileBinding, error)) (*bindingEntry, error) {
	gen := r.gen.Load()
	w, err := ask(ctx)
	now := r.opts.Now()
	if err == nil {
		r.contact(now)
		e, berr := buildBinding(w)
		if berr != nil {
			r.bindings.Remove(key)
			return nil, berr
		}
		e.fetched = now
		if r.gen.Load() == gen { // no change overtook the answer
			r.bindings.Add(key, e)
		}
		return e, nil
	}
	switch {
	case errors.Is(err, secretstore.ErrGrantUnavailable):
		r.contact(now)
		r.bindings.Remove(key)
	case errors.Is(err, client.ErrUnauthorized):
		r.log.Error("the control plane refused the sidecar token; every grant and profile now fails until it is replaced", zap.Error(err))
		r.purge()
	case !client.Unreachable(err):
		r.bindings.Remove(key)
	}
	return nil, err
}

// buildBinding compiles the server's answer; one that does not parse is
// the server's fault: ErrStoreUnavailable, never a usable binding.
func buildBinding(w wire.ProfileBinding) (*bindingEntry, error) {
	if w.Name == "" {
		return nil, fmt.Errorf("%w: the server's profile binding has no name", secretstore.ErrStoreUnavailable)
	}
	e := &bindingEntry{grants: make(map[string]bool, len(w.Members))}
	members := make([]profile.Member, 0, len(w.Members))
	for _, m := range w.Members {
		pm := profile.Member{GrantID: m.GrantID}
		for _, s := range m.Destinations {
			d, err := policy.ParseDestination(s)
			if err != nil {
				return nil, fmt.Errorf("%w: profile %s: grant %s: a destination from the server does not parse: %v", secretstore.ErrStoreUnavailable, w.Name, m.GrantID, err)
			}
			pm.Destinations = append(pm.Destinations, d)
		}
		members = append(members, pm)
		e.grants[m.GrantID] = true
	}
	e.b = profile.NewBinding(w.Name, w.DenyUnmatched, members)
	return e, nil
}

// dropBindings removes the cached bindings of the profiles named, and of
// every profile holding one of the grants. The caller moved gen first.
func (r *Resolver) dropBindings(profiles, grants map[string]bool) {
	for _, key := range r.bindings.Keys() {
		e, ok := r.bindings.Peek(key)
		if !ok {
			continue
		}
		drop := profiles[e.b.Name]
		for g := range grants {
			drop = drop || e.grants[g]
		}
		if drop {
			r.bindings.Remove(key)
		}
	}
}

// flights shares one call per key among concurrent callers, so a burst of
// requests with a profile not cached yet costs one server call.
type flights[T any] struct {
	mu sync.Mutex
	m  map[string]*flight[T]
}

type flight[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func (f *flights[T]) do(ctx context.Context, key string, fn func(context.Context) (T, error)) (T, error) {
	f.mu.Lock()
	if c := f.m[key]; c != nil {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.v, c.err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	if f.m == nil {
		f.m = map[string]*flight[T]{}
	}
	c := &flight[T]{done: make(chan struct{})}
	f.m[key] = c
	f.mu.Unlock()
	// The call serves every waiter: the first caller going away must not
	// cancel it for the others. The client's timeout bounds it.
	c.v, c.err = fn(context.WithoutCancel(ctx))
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(c.done)
	return c.v, c.err
}

var _ secretstore.ProfileResolver = (*Resolver)(nil)
