package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/wire"
)

// API is what the resolver needs of the server; *client.Client has it.
type API interface {
	Resolve(ctx context.Context, grantID string) (wire.Resolution, error)
	Policies(ctx context.Context) (wire.Policies, error)
	Changes(ctx context.Context, after *int64, wait time.Duration) (wire.Changes, error)
	ResolveProfileToken(ctx context.Context, d profile.Digest) (wire.ProfileBinding, error)
	ResolveProfileName(ctx context.Context, name string) (wire.ProfileBinding, error)
}

var _ API = (*client.Client)(nil)

// Options configure a Resolver. Zero fields take the defaults.
type Options struct {
	// CacheSize bounds how many resolved grants are kept (default
	// secretstore.DefaultCacheSize).
	CacheSize int
	// TTL is how long a resolved grant is used before it is fetched again
	// (default secretstore.DefaultCacheTTL).
	TTL time.Duration
	// MaxStale is how long past its TTL an entry may be served while the
	// server cannot be reached, counted from the last answer (default
	// DefaultMaxStale).
	MaxStale time.Duration
	// Now is the clock TTL and max_stale are measured on (default
	// time.Now); tests inject one to cross them without sleeping.
	Now func() time.Time
	// Wait is the change stream's long-poll wait (default 25s, and at
	// most half of MaxStale so a quiet stream still counts as contact).
	Wait time.Duration
	// MinBackoff and MaxBackoff bound the pause between attempts to
	// reach a server that failed (defaults 500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// ShortPoll is how often changes are polled while the server refuses
	// this sidecar a long poll (429: its caps are full), and LongRetry how
	// long it polls before asking for a long poll again (defaults
	// DefaultShortPoll and 30s).
	ShortPoll, LongRetry time.Duration
	// Logger receives what the follower notices (the stream going down
	// and coming back). nil discards it. Nothing logged holds a secret.
	Logger *zap.Logger
}

// DefaultMaxStale is Options.MaxStale's default.
const DefaultMaxStale = 5 * time.Minute

// DefaultShortPoll is Options.ShortPoll's default: with it a sidecar that
// follows by polling hears a change within half a second and a round trip.
const DefaultShortPoll = 500 * time.Millisecond

// Resolver resolves grants from the control plane. It implements
// secretstore.Resolver; Start runs its change follower.
type Resolver struct {
	api  API
	opts Options
	log  *zap.Logger

	cache *lru.Cache[string, *entry]
	// gen changes whenever cached entries may have become wrong (a change
	// arrived, the cache was emptied). A fetch caches its answer only if
	// gen did not move while it was in flight, so an answer from before a
	// change cannot outlive the change.
	gen atomic.Uint64

	flightMu sync.Mutex
	flight   map[string]*flightCall

	// bindings caches profile bindings (profiles.go), under the same gen.
	bindings       *lru.Cache[string, *bindingEntry]
	bindingFlights flights[*bindingEntry]

	// streamBroken: the server answered the follower's last call, but
	// not with the change stream (an error answer): cached grants are not
	// served and Ready fails until the follower gets through again.
	streamBroken atomic.Bool

	policies    atomic.Pointer[[]*policy.Policy]
	synced      atomic.Bool  // the policies were loaded at least once
	lastContact atomic.Int64 // unix nanoseconds of the server's last answer; 0: never
	// answered is signalled by every answer from the server: a follower
	// backing off after an outage retries at once when a resolve gets
	// through, rather than staying deaf to revocations for up to
	// MaxBackoff after the server is back.
	answered chan struct{}

	hits, misses, staleServed atomic.Uint64

	stop context.CancelFunc
	done chan struct{}
}

// entry is one resolved grant in the cache. It is never modified.
type entry struct {
	res      *secretstore.Resolved
	fetched  time.Time
	notAfter time.Time // effective expiry; zero: none
}

// New makes a Resolver; Start begins following changes. It does not
// contact the server: a sidecar may start while the server is away, and
// reports not ready until it has answered.
func New(api API, o Options) (*Resolver, error) {
	if api == nil {
		return nil, errors.New("remote store: no client")
	}
	if o.CacheSize < 0 || o.TTL < 0 || o.MaxStale < 0 || o.Wait < 0 || o.MinBackoff < 0 || o.MaxBackoff < 0 || o.ShortPoll < 0 || o.LongRetry < 0 {
		return nil, fmt.Errorf("remote store: %w: negative size or duration", secretstore.ErrInvalid)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.CacheSize == 0 {
		o.CacheSize = secretstore.DefaultCacheSize
	}
	def(&o.TTL, secretstore.DefaultCacheTTL)
	def(&o.MaxStale, DefaultMaxStale)
	def(&o.Wait, 25*time.Second)
	o.Wait = min(o.Wait, o.MaxStale/2, client.MaxWait)
	def(&o.MinBackoff, 500*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	def(&o.ShortPoll, DefaultShortPoll)
	def(&o.LongRetry, 30*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
	cache, err := lru.New[string, *entry](o.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("remote store: %w", err)
	}
	bindings, err := lru.New[string, *bindingEntry](o.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("remote store: %w", err)
	}
	r := &Resolver{api: api, opts: o, log: o.Logger, cache: cache, flight: map[string]*flightCall{}, bindings: bindings,
		answered: make(chan struct{}, 1)}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	return r, nil
}

// Resolve returns a usable grant; see secretstore.Resolver and the
// package documentation for when it is fetched and when a cached copy is
// served. Errors wrap ErrGrantUnavailable (the server's verdict, or an
// expired grant) or ErrStoreUnavailable.
func (r *Resolver) Resolve(ctx context.Context, grantID string, now time.Time) (*secretstore.Resolved, error) {
	// Grant ids are UUIDs: anything else is unknown without asking, which
	// also keeps junk out of the server's URL space.
	if _, err := uuid.Parse(grantID); err != nil || len(grantID) != 36 {
		return nil, secretstore.ErrGrantUnavailable
	}
	clock := r.opts.Now()
	cached, ok := r.cache.Get(grantID)
	if ok {
		if expired(cached, now) {
			return nil, secretstore.ErrGrantUnavailable
		}
		// Fresh, the server heard from recently, and the change stream
		// followed: without the second check a sidecar cut off from the
		// control plane would serve entries within their TTL (minutes)
		// past max_stale, deaf to revocations all that time; without the
		// third, one the server answers but whose stream it refuses.
		if clock.Sub(cached.fetched) < r.opts.TTL && r.inContact(clock) && !r.streamBroken.Load() {
			r.hits.Add(1)
			return cached.res, nil
		}
	}
	r.misses.Add(1)
	e, err := r.fetch(ctx, grantID)
	switch {
	case err == nil:
		if expired(e, now) {
			return nil, secretstore.ErrGrantUnavailable
		}
		return e.res, nil
	case errors.Is(err, secretstore.ErrGrantUnavailable):
		return nil, secretstore.ErrGrantUnavailable
	case cached != nil && client.Unreachable(err) && r.staleUsable(cached, r.opts.Now()):
		r.staleServed.Add(1)
		return cached.res, nil
	case errors.Is(err, secretstore.ErrStoreUnavailable):
		return nil, err
	}
	return nil, fmt.Errorf("%w: %w", secretstore.ErrStoreUnavailable, err)
}

func expired(e *entry, now time.Time) bool {
	return !e.notAfter.IsZero() && !now.Before(e.notAfter)
}

// staleUsable: the server answered less than MaxStale ago, and the entry
// is less than TTL+MaxStale old.
func (r *Resolver) staleUsable(e *entry, clock time.Time) bool {
	return r.staleUsableSince(e.fetched, clock)
}

// staleUsableSince is staleUsable for anything fetched at fetched.
func (r *Resolver) staleUsableSince(fetched, clock time.Time) bool {
	return r.inContact(clock) && clock.Before(fetched.Add(r.opts.TTL+r.opts.MaxStale))
}

// inContact: the server answered (a resolve, the change stream, the
// policies) less than MaxStale ago. The change follower's long polls
// return well within MaxStale, so a healthy but quiet server stays in
// contact.
func (r *Resolver) inContact(clock time.Time) bool {
	last := r.lastContact.Load()
	return last != 0 && clock.Sub(time.Unix(0, last)) < r.opts.MaxStale
}

// LastContact is when the server last answered; zero if never.
func (r *Resolver) LastContact() time.Time {
	if last := r.lastContact.Load(); last != 0 {
		return time.Unix(0, last)
	}
	return time.Time{}
}

// contact records an answer from the server.
func (r *Resolver) contact(t time.Time) {
	r.lastContact.Store(t.UnixNano())
	select {
	case r.answered <- struct{}{}:
	default:
	}
}

// Policies returns the compiled policies of the app's grants, revoked and
// expired ones included, as of the last load. Shared: do not modify.
func (r *Resolver) Policies() []*policy.Policy {
	if p := r.policies.Load(); p != nil {
		return *p
	}
	return nil
}

// Ready returns nil when the sidecar can serve from this store: the
// policies were loaded, the server answered within MaxStale, and the
// follower's last call got through (a server that answers with an error
// instead of the change stream leaves the sidecar deaf to revocations).
// The error wraps ErrStoreUnavailable.
func (r *Resolver) Ready() error {
	if !r.synced.Load() {
		return fmt.Errorf("%w: the control plane has not answered yet", secretstore.ErrStoreUnavailable)
	}
	if r.streamBroken.Load() {
		return fmt.Errorf("%w: the control plane answers but this sidecar cannot follow its change stream", secretstore.ErrStoreUnavailable)
	}
	if since := r.opts.Now().Sub(time.Unix(0, r.lastContact.Load())); since >= r.opts.MaxStale {
		return fmt.Errorf("%w: no answer from the control plane for %s (store.max_stale is %s)",
			secretstore.ErrStoreUnavailable, since.Round(time.Second), r.opts.MaxStale)
	}
	return nil
}

// Stats returns the cache counters (grants and profile bindings together;
// CacheSize counts grants); a stale entry served counts as a miss (the
// server was asked).
func (r *Resolver) Stats() secretstore.Stats {
	return secretstore.Stats{CacheHits: r.hits.Load(), CacheMisses: r.misses.Load(), CacheSize: r.cache.Len()}
}

// StaleServed counts entries served past their TTL because the server
// could not be reached.
func (r *Resolver) StaleServed() uint64 { return r.staleServed.Load() }

// Close stops the follower and drops every cached secret and binding.
func (r *Resolver) Close() error {
	if r.stop != nil {
		r.stop()
		<-r.done
	}
	r.purge()
	return nil
}

// purge empties the caches and makes in-flight fetches not cache.
func (r *Resolver) purge() {
	r.gen.Add(1)
	r.cache.Purge()
	r.bindings.Purge()
}

var _ secretstore.Resolver = (*Resolver)(nil)
