package remote

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/wire"
)

// Start runs the change follower until ctx ends or Close is called. Call
// it once.
func (r *Resolver) Start(ctx context.Context) {
	ctx, r.stop = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		r.follow(ctx)
	}()
}

// follow keeps the cache in step with the server's change stream.
//
// It starts from the sequence number the policies were loaded at, having
// emptied the cache: an entry fetched before that number may predate a
// change the stream will never repeat. After a failed poll it resumes
// from the same number (the server keeps its changes), so an outage loses
// nothing; only a server whose sequence went backwards (a restored
// database) makes it start over.
func (r *Resolver) follow(ctx context.Context) {
	var seq int64
	synced, needPolicies := false, false
	backoff := r.opts.MinBackoff
	down := false
	// shortUntil: the server refused us a long poll (its caps are full,
	// for example when many pods share one token); until then, follow by
	// polls that answer at once and hold no slot, every ShortPoll.
	var shortUntil, lastShort time.Time
	failed := func(what string, err error) {
		if ctx.Err() != nil {
			return
		}
		if !client.Unreachable(err) {
			// The server answered, but not with the stream: this sidecar
			// is deaf to revocations while it can still resolve, so it
			// serves no cached grant and is not ready until it follows
			// again (resolver.go).
			r.streamBroken.Store(true)
		}
		if !down {
			r.log.Warn("control plane unreachable: cached grants are served up to store.cache.ttl, then up to store.max_stale while it stays away",
				zap.String("call", what), zap.Error(err))
			down = true
		}
		if errors.Is(err, client.ErrUnauthorized) {
			r.purge()
		}
		r.backOff(ctx, jitter(backoff))
		backoff = min(backoff*2, r.opts.MaxBackoff)
	}
	recovered := func() {
		r.contact(r.opts.Now())
		r.streamBroken.Store(false)
		backoff = r.opts.MinBackoff
		if down {
			r.log.Info("control plane reachable again")
			down = false
		}
	}
	for ctx.Err() == nil {
		if !synced || needPolicies {
			p, err := r.api.Policies(ctx)
			switch {
			case err != nil && !synced:
				failed("policies", err)
				continue
			case err != nil:
				// Only which tunnels are terminated waits for the reload:
				// the changes are still followed, and the policies loaded
				// again after the next poll.
				r.log.Debug("policies reload failed; retried after the next poll", zap.Error(err))
			default:
				recovered()
				if !synced {
					r.purge()
					seq = p.Seq
					synced = true
				}
				r.setPolicies(p)
				needPolicies = false
			}
		}
		after := seq
		short := time.Now().Before(shortUntil)
		wait := r.opts.Wait
		if short || r.streamBroken.Load() {
			// After a refusal, a poll that answers at once: a long poll
			// would only show the stream is back when it ends.
			wait = 0
		}
		if short {
			sleep(ctx, time.Until(lastShort.Add(r.opts.ShortPoll)))
			lastShort = time.Now()
		}
		ch, err := r.api.Changes(ctx, &after, wait)
		if err != nil && !short && client.TooManyWaits(err) {
			r.log.Warn("the control plane has no long-poll slot for this sidecar (too many pods share its token?); following its changes by polling",
				zap.Duration("every", r.opts.ShortPoll), zap.Duration("for", r.opts.LongRetry))
			shortUntil, lastShort = time.Now().Add(r.opts.LongRetry), time.Time{}
			continue // poll at once: no revocation may wait for a backoff
		}
		if err != nil {
			failed("changes", err)
			continue
		}
		recovered()
		if ch.Seq < seq {
			r.log.Warn("the control plane's change sequence went backwards (restored database?); reloading everything",
				zap.Int64("had", seq), zap.Int64("now", ch.Seq))
			synced = false
			continue
		}
		if len(ch.Changes) == 0 {
			seq = max(seq, ch.Seq)
			continue
		}
		// Move gen first: a fetch in flight may hold the old value.
		r.gen.Add(1)
		profiles, grants := map[string]bool{}, map[string]bool{}
		for _, c := range ch.Changes {
			if c.GrantID != "" {
				r.cache.Remove(c.GrantID)
				grants[c.GrantID] = true
			}
			if c.Profile != "" {
				profiles[c.Profile] = true
			}
			// Advance to the last change listed, not to ch.Seq: if the
			// server cut the batch short, the rest comes next poll.
			seq = max(seq, c.Seq)
		}
		r.dropBindings(profiles, grants)
		r.log.Debug("changes applied", zap.Int("count", len(ch.Changes)), zap.Int64("seq", seq))
		needPolicies = true
	}
}

// setPolicies compiles and publishes the app's policies. A policy that
// does not compile is left out (logged): its grant would fail to resolve
// anyway, and the others must still have their tunnels terminated.
func (r *Resolver) setPolicies(p wire.Policies) {
	out := make([]*policy.Policy, 0, len(p.Policies))
	for _, gp := range p.Policies {
		pol, err := policy.Compile(gp.Policy)
		if err != nil {
			r.log.Error("policy from the control plane does not compile; its grant's host is not terminated",
				zap.String("grant_id", gp.GrantID), zap.Error(err))
			continue
		}
		out = append(out, pol)
	}
	r.policies.Store(&out)
	r.synced.Store(true)
}

// jitter spreads retries of many sidecars over [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// backOff waits d after a failed call, or less: until an answer from the
// server to another call (a resolve) shows it is back. An answer from
// before the wait does not cut it short.
func (r *Resolver) backOff(ctx context.Context, d time.Duration) {
	select {
	case <-r.answered:
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-r.answered:
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
