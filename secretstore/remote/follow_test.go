package remote_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/secretstore/remote"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestSharedTokenHearsRevocation: a hostile pod holding every long-poll
// slot of the token it shares with an honest sidecar cannot make that
// sidecar deaf. The sidecar, refused a long poll, follows by polls that
// hold no slot and drops a revoked grant from its cache within a second,
// staying ready. (It used to retry the long poll with backoff forever and
// serve the revoked grant from its cache for the whole TTL, ready.)
func TestSharedTokenHearsRevocation(t *testing.T) {
	rg := newRealGrant(t)
	ctx, srv, admin, g := context.Background(), rg.srv, rg.admin, rg.g

	// The hostile pod: event streams (which, unlike long polls, do not end
	// when a change comes) until the server refuses one more.
	side := rg.mk(srv.SidecarToken)
	hold, stop := context.WithCancel(ctx)
	defer stop()
	stream := func() (int, error) {
		req, _ := http.NewRequestWithContext(hold, "GET", srv.URL()+"/v1/sidecar/events", nil)
		req.Header.Set("Authorization", "Bearer "+srv.SidecarToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			_, _ = io.Copy(io.Discard, resp.Body) // held until the test ends
		}
		return resp.StatusCode, nil
	}
	refused := make(chan struct{})
	var once sync.Once
	for range 64 { // more than any cap per token
		go func() {
			if st, err := stream(); err == nil && st == http.StatusTooManyRequests {
				once.Do(func() { close(refused) })
			}
		}()
	}
	<-refused

	r, err := remote.New(side, remote.Options{TTL: time.Hour, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(ctx)
	defer r.Close()
	waitFor(t, "ready", func() bool { return r.Ready() == nil })
	if _, err := r.Resolve(ctx, g.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := admin.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for r.Stats().CacheSize != 0 {
		if time.Since(start) > time.Second {
			t.Fatal("the revocation did not reach the sidecar within a second")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation reached the sidecar in %s", time.Since(start))
	if _, err := r.Resolve(ctx, g.ID, time.Now()); !errors.Is(err, secretstore.ErrGrantUnavailable) {
		t.Fatalf("revoked grant: %v", err)
	}
	if err := r.Ready(); err != nil {
		t.Fatalf("a sidecar following by polling is ready: %v", err)
	}
}

// TestUnfollowableStream: when the server answers resolves but refuses
// the change stream with an error, the sidecar cannot hear revocations:
// it serves no cached grant (every resolve asks the server) and is not
// ready, from the first refused call until the stream is back. (It used
// to serve its cache for the whole TTL and stay ready, the resolves
// counting as contact.)
func TestUnfollowableStream(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: time.Hour}, true)
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	e.fake.FailWith("changes", wire.CodeInternal)
	waitFor(t, "not ready", func() bool { return errors.Is(e.r.Ready(), secretstore.ErrStoreUnavailable) })
	e.fake.RevokeSilently(e.id) // no change the sidecar could hear of
	if _, err := e.resolve(t); !errors.Is(err, secretstore.ErrGrantUnavailable) {
		t.Fatalf("a grant revoked while the stream is refused: %v, want grant unavailable", err)
	}
	e.fake.FailWith("changes", "")
	waitFor(t, "ready again", func() bool { return e.r.Ready() == nil })
}

// TestStoreUnavailableAnswerNotServedStale: store_unavailable from a
// server that answered is its word, not an outage: a cached entry past its
// TTL is not served through it (it used to be, as through a network
// failure). A server that cannot be reached still gets max_stale.
func TestStoreUnavailableAnswerNotServedStale(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: time.Millisecond, MaxStale: time.Hour}, false)
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Millisecond) // past the TTL
	e.fake.FailWith("resolve", wire.CodeStoreUnavailable)
	if _, err := e.resolve(t); !errors.Is(err, secretstore.ErrStoreUnavailable) {
		t.Fatalf("store_unavailable answer: %v, want ErrStoreUnavailable", err)
	}
	if n := e.r.StaleServed(); n != 0 {
		t.Fatalf("%d stale serves through a store_unavailable answer", n)
	}
	// The server's word dropped the entry: the network failing now has
	// nothing to serve stale.
	e.fake.FailWith("resolve", "")
	e.clock.Advance(time.Millisecond)
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Millisecond)
	e.fake.SetDown(true)
	if res, err := e.resolve(t); err != nil || res.Fields["token"] != secretValue || e.r.StaleServed() != 1 {
		t.Fatalf("server unreachable: %v, stale %d; want the cached entry", err, e.r.StaleServed())
	}
}

// TestRefusedLongPollFallsBack: a sidecar refused a long poll (429) follows
// by wait=0 polls and hears a change within a second.
func TestRefusedLongPollFallsBack(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: time.Hour}, false)
	e.fake.FailWith("waits", wire.CodeTooManyRequests)
	e.r.Start(context.Background())
	waitFor(t, "ready", func() bool { return e.r.Ready() == nil })
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	e.fake.Revoke(e.id)
	start := time.Now()
	for e.r.Stats().CacheSize != 0 {
		if time.Since(start) > time.Second {
			t.Fatal("the revocation did not reach the sidecar within a second")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.logs.FilterMessageSnippet("following its changes by polling").Len() == 0 {
		t.Error("the fallback was not logged")
	}
}

// TestFollowerResumesWhenAResolveGetsThrough: after an outage the
// follower backs off (here for an hour); a resolve that reaches the
// server again ends that wait, so the sidecar hears revocations at once
// rather than up to max backoff after the server is back. (It slept the
// whole backoff: seen as a contact age past max_stale in test/controlplane
// right after an outage, and a revocation unheard for that long.)
func TestFollowerResumesWhenAResolveGetsThrough(t *testing.T) {
	e := newEnv(t, remote.Options{TTL: time.Hour, MaxStale: 2 * time.Hour, MinBackoff: time.Hour, MaxBackoff: time.Hour}, true)
	if _, err := e.resolve(t); err != nil {
		t.Fatal(err)
	}
	other := e.fake.AddGrant("app1", inject.Spec{Type: "bearer"}, policy.Spec{Destinations: []string{"api.example.com"}}, inject.Fields{"token": secretValue})
	e.fake.SetDown(true)
	waitFor(t, "the follower backing off", func() bool {
		return e.logs.FilterMessageSnippet("control plane unreachable").Len() > 0
	})
	e.fake.SetDown(false)
	if _, err := e.r.Resolve(context.Background(), other, e.clock.Now()); err != nil {
		t.Fatalf("resolve after the outage: %v", err)
	}
	e.fake.Revoke(e.id)
	waitFor(t, "the revocation heard", func() bool {
		_, err := e.resolve(t)
		return errors.Is(err, secretstore.ErrGrantUnavailable)
	})
}
