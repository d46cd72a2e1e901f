package remote_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testclock"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/secretstore/remote"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/client/clienttest"
)

const (
	secretValue  = "sk-remote-sentinel-91c2"
	rotatedValue = "sk-rotated-sentinel-4d7e"
)

type env struct {
	fake *clienttest.Fake
	r    *remote.Resolver
	logs *observer.ObservedLogs
	id   string
	// clock is the resolver's (unless a test set its own Options.Now).
	clock *testclock.Clock
}

func newEnv(t *testing.T, o remote.Options, follow bool) *env {
	t.Helper()
	f := clienttest.New()
	t.Cleanup(f.Close)
	c, err := client.New(client.Options{URL: f.URL(), Token: client.Token(f.SidecarToken), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	o.Logger = zap.New(core)
	if o.MinBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	}
	clock := testclock.New()
	if o.Now == nil {
		o.Now = clock.Now
	}
	r, err := remote.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	e := &env{fake: f, r: r, logs: logs, clock: clock}
	e.id = f.AddGrant("app1", inject.Spec{Type: "bearer"}, policy.Spec{Destinations: []string{"api.example.com"}}, inject.Fields{"token": secretValue})
	if follow {
		r.Start(context.Background())
		waitFor(t, "ready", func() bool { return r.Ready() == nil })
	}
	t.Cleanup(func() { e.checkNoLeak(t) })
	return e
}

// checkNoLeak: no secret and no token in any log line.
func (e *env) checkNoLeak(t *testing.T) {
	for _, entry := range e.logs.All() {
		line := fmt.Sprintf("%s %v", entry.Message, entry.ContextMap())
		for _, s := range []string{secretValue, rotatedValue, e.fake.SidecarToken, e.fake.AdminToken} {
			if strings.Contains(line, s) {
				t.Errorf("log line leaks a secret or token: %s", line)
			}
		}
	}
}

func (e *env) resolve(t *testing.T) (*secretstore.Resolved, error) {
	t.Helper()
	res, err := e.r.Resolve(context.Background(), e.id, time.Now())
	if err != nil {
		for _, s := range []string{secretValue, rotatedValue, e.fake.SidecarToken} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("error leaks a secret or token: %v", err)
			}
		}
	}
	return res, err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCacheHitAndTTL(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: 200 * time.Millisecond}, false)
	for i := 0; i < 3; i++ {
		res, err := e.resolve(t)
		if err != nil || res.Fields["token"] != secretValue {
			t.Fatalf("resolve %d: %v", i, err)
		}
	}
	if n := e.fake.Resolves.Load(); n != 1 {
		t.Fatalf("server asked %d times for three resolves within the TTL, want 1", n)
	}
	// No follower: only the TTL brings the rotation in.
	e.fake.Rotate(e.id, inject.Fields{"token": rotatedValue})
	if res, _ := e.resolve(t); res.Fields["token"] != secretValue {
		t.Fatal("cache entry not used within its TTL")
	}
	e.clock.Advance(250 * time.Millisecond)
	res, err := e.resolve(t)
	if err != nil || res.Fields["token"] != rotatedValue || res.Secret.Version != 2 {
		t.Fatalf("after the TTL: %v, version %d", err, res.Secret.Version)
	}
	if st := e.r.Stats(); st.CacheHits != 3 || st.CacheMisses != 2 || st.CacheSize != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestResolvedIsCompiled(t *testing.T) {
	e := newEnv(t, remote.Options{}, false)
	res, err := e.resolve(t)
	if err != nil {
		t.Fatal(err)
	}
	if res.Grant.ID != e.id || res.Policy == nil || res.Injector == nil {
		t.Fatalf("incomplete Resolved: %+v", res)
	}
	d := res.Policy.Decide(policy.Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/", Now: time.Now()})
	if !d.Allowed {
		t.Fatalf("policy denies its own destination: %+v", d)
	}
	if d := res.Policy.Decide(policy.Input{Scheme: "https", Host: "evil.example.com", Port: 443, Method: "GET", Path: "/", Now: time.Now()}); d.Allowed {
		t.Fatal("policy allows another host")
	}
}

// TestChangesDropEntries: with the follower running, a revocation or
// rotation reaches the cache within a second although the TTL is long.
func TestChangesDropEntries(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *clienttest.Fake, id string)
		check  func(res *secretstore.Resolved, err error) bool
	}{
		{"revoke", func(f *clienttest.Fake, id string) { f.Revoke(id) },
			func(_ *secretstore.Resolved, err error) bool { return errors.Is(err, secretstore.ErrGrantUnavailable) }},
		{"rotate", func(f *clienttest.Fake, id string) { f.Rotate(id, inject.Fields{"token": rotatedValue}) },
			func(res *secretstore.Resolved, err error) bool {
				return err == nil && res.Fields["token"] == rotatedValue
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, remote.Options{TTL: time.Hour}, true)
			if _, err := e.resolve(t); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			tc.change(e.fake, e.id)
			for !tc.check(e.resolve(t)) {
				if time.Since(start) > time.Second {
					t.Fatalf("change not applied within a second")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestPoliciesFollowChanges(t *testing.T) {
	e := newEnv(t, remote.Options{}, true)
	if n := len(e.r.Policies()); n != 1 {
		t.Fatalf("%d policies, want 1", n)
	}
	e.fake.AddGrant("app1", inject.Spec{Type: "bearer"}, policy.Spec{Destinations: []string{"other.example.com"}}, inject.Fields{"token": secretValue})
	e.fake.AddGrant("another-app", inject.Spec{Type: "bearer"}, policy.Spec{Destinations: []string{"x.example.com"}}, inject.Fields{"token": secretValue})
	waitFor(t, "the new policy", func() bool { return len(e.r.Policies()) == 2 })
	covered := false
	for _, p := range e.r.Policies() {
		covered = covered || p.CoversHost("other.example.com", 443)
	}
	if !covered {
		t.Fatal("the new grant's host is not covered")
	}
}

// TestServerDown: past its TTL an entry is served while the server is
// away, up to max_stale after the last answer; then 503 territory.
func TestServerDown(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: 50 * time.Millisecond, MaxStale: 600 * time.Millisecond}, false)
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	e.fake.SetDown(true)
	e.clock.Advance(100 * time.Millisecond) // past the TTL, well within max_stale
	res, err := e.resolve(t)
	if err != nil || res.Fields["token"] != secretValue {
		t.Fatalf("stale entry not served while the server is down: %v", err)
	}
	if e.r.StaleServed() == 0 {
		t.Fatal("stale serve not counted")
	}
	e.clock.Advance(600 * time.Millisecond)
	if _, err := e.resolve(t); !errors.Is(err, secretstore.ErrStoreUnavailable) || errors.Is(err, secretstore.ErrGrantUnavailable) {
		t.Fatalf("past max_stale: err = %v, want ErrStoreUnavailable", err)
	}
	// A grant never fetched fails at once.
	if _, err := e.r.Resolve(context.Background(), "00000000-0000-4000-8000-000000000001", time.Now()); !errors.Is(err, secretstore.ErrStoreUnavailable) {
		t.Fatalf("uncached grant with the server down: %v", err)
	}
	e.fake.SetDown(false)
	if _, err := e.resolve(t); err != nil {
		t.Fatalf("server back: %v", err)
	}
}

// TestMaxStaleBoundsFreshEntries: max_stale is how long a sidecar cut off
// from the control plane keeps working, even for entries whose TTL is far
// longer: past it, it can no longer hear of revocations and fails closed.
func TestMaxStaleBoundsFreshEntries(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: time.Hour, MaxStale: 400 * time.Millisecond}, true)
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	e.fake.SetDown(true)
	if _, err := e.resolve(t); err != nil {
		t.Fatalf("fresh entry right after the server went down: %v", err)
	}
	e.clock.Advance(400 * time.Millisecond)
	if _, err := e.resolve(t); !errors.Is(err, secretstore.ErrStoreUnavailable) {
		t.Fatalf("a fresh entry past max_stale: %v, want ErrStoreUnavailable", err)
	}
	e.fake.SetDown(false)
	waitFor(t, "served again once the server is back", func() bool {
		_, err := e.resolve(t)
		return err == nil
	})
}

func TestReadiness(t *testing.T) {
	e := newEnv(t, remote.Options{MaxStale: 400 * time.Millisecond}, true)
	if err := e.r.Ready(); err != nil {
		t.Fatal(err)
	}
	e.fake.SetDown(true)
	waitFor(t, "the follower to hear the server is down", func() bool {
		return e.logs.FilterMessageSnippet("unreachable").Len() > 0
	})
	e.clock.Advance(400 * time.Millisecond)
	if err := e.r.Ready(); !errors.Is(err, secretstore.ErrStoreUnavailable) {
		t.Fatalf("ready past max_stale with the server down: %v", err)
	}
	e.fake.SetDown(false)
	waitFor(t, "ready again", func() bool { return e.r.Ready() == nil })
	warned := e.logs.FilterMessageSnippet("unreachable").Len() > 0 && e.logs.FilterMessageSnippet("reachable again").Len() > 0
	if !warned {
		t.Fatal("the follower did not log the outage and the recovery")
	}
	// A resolver that never reached its server is not ready.
	c, _ := client.New(client.Options{URL: "http://127.0.0.1:1", Token: "alt_s_x"})
	r, _ := remote.New(c, remote.Options{})
	if r.Ready() == nil {
		t.Fatal("ready without ever reaching the server")
	}
}

// TestUnavailableNeverFromCache: once the server says a grant is
// unavailable, a server outage does not bring the cached copy back.
func TestUnavailableNeverFromCache(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: 50 * time.Millisecond, MaxStale: time.Hour}, false)
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	e.fake.RevokeSilently(e.id) // no change: only a refetch can learn it
	e.clock.Advance(80 * time.Millisecond)
	if _, err := e.resolve(t); !errors.Is(err, secretstore.ErrGrantUnavailable) {
		t.Fatalf("after the TTL: %v, want ErrGrantUnavailable", err)
	}
	e.fake.SetDown(true)
	if res, err := e.resolve(t); err == nil || res != nil {
		t.Fatal("the revoked grant was served from the cache while the server is down")
	}
}

func TestRevokedSidecarTokenEmptiesCache(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: 50 * time.Millisecond, MaxStale: time.Hour}, false)
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	e.fake.RevokeSidecarToken()
	e.clock.Advance(80 * time.Millisecond)
	_, err := e.resolve(t)
	if !errors.Is(err, secretstore.ErrStoreUnavailable) || !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
	if e.r.Stats().CacheSize != 0 {
		t.Fatal("cache kept entries after the token was refused")
	}
}

func TestExpiryEnforcedOnCacheHits(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: time.Hour}, false)
	exp := time.Now().Add(time.Hour)
	id := e.fake.AddGrant("app1", inject.Spec{Type: "bearer"}, policy.Spec{Destinations: []string{"api.example.com"}}, inject.Fields{"token": secretValue})
	e.fake.SetExpiry(id, exp)
	if _, err := e.r.Resolve(context.Background(), id, time.Now()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"a second before", exp.Add(-time.Second), true},
		{"at expiry", exp, false},
		{"a second after", exp.Add(time.Second), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.r.Resolve(context.Background(), id, tc.now)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, secretstore.ErrGrantUnavailable)) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if n := e.fake.Resolves.Load(); n != 1 {
		t.Fatalf("server asked %d times", n)
	}
}

func TestOneFetchForConcurrentMisses(t *testing.T) {
	e := newEnv(t, remote.Options{}, false)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.resolve(t); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := e.fake.Resolves.Load(); n != 1 {
		t.Fatalf("%d server calls for 50 concurrent misses, want 1", n)
	}
}

func TestJunkIDsNeverReachTheServer(t *testing.T) {
	e := newEnv(t, remote.Options{}, false)
	for _, id := range []string{"", "..", "../../v1/tokens", "not-a-uuid", strings.Repeat("a", 5000), e.id + "x"} {
		if _, err := e.r.Resolve(context.Background(), id, time.Now()); !errors.Is(err, secretstore.ErrGrantUnavailable) {
			t.Errorf("Resolve(%q) = %v", id, err)
		}
	}
	if n := e.fake.Resolves.Load(); n != 0 {
		t.Fatalf("%d junk ids reached the server", n)
	}
}
