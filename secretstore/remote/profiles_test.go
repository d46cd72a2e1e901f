package remote_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testclock"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/secretstore/remote"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/wire"
)

// countingAPI counts the profile lookups a resolver makes.
type countingAPI struct {
	*client.Client
	lookups atomic.Int64
}

func (c *countingAPI) ResolveProfileToken(ctx context.Context, d profile.Digest) (wire.ProfileBinding, error) {
	c.lookups.Add(1)
	return c.Client.ResolveProfileToken(ctx, d)
}

// realProfile is the real server with two grants of its app on disjoint
// hosts and a profile "ci" of both.
type realProfile struct {
	realGrant
	gh  secretstore.Grant
	tok profile.Token
}

func newRealProfile(t *testing.T) realProfile {
	t.Helper()
	rg := newRealGrant(t) // rg.g reaches api.example.com
	gh, err := rg.admin.Add(context.Background(), secretstore.NewSecret{Spec: inject.Spec{Type: "bearer"}, Fields: inject.Fields{"token": secretValue},
		Policy: policy.Spec{Destinations: []string{"api.github.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := rg.admin.CreateProfile(context.Background(), secretstore.NewProfile{Name: "ci", Grants: []string{rg.g.ID, gh.ID}, DenyUnmatched: true})
	if err != nil {
		t.Fatal(err)
	}
	return realProfile{realGrant: rg, gh: gh, tok: tok}
}

func digestOf(tok profile.Token) profile.Digest { return profile.DigestOf(tok.Reveal()) }

// within polls cond until it holds or a second passes: the promise is that
// a change reaches the sidecar within a second.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > time.Second {
			t.Fatalf("%s did not happen within a second", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProfilesAgainstRealServer(t *testing.T) {
	rp := newRealProfile(t)
	ctx := context.Background()
	r, err := remote.New(rp.mk(rp.srv.SidecarToken), remote.Options{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(ctx)
	defer r.Close()
	waitFor(t, "ready", func() bool { return r.Ready() == nil })

	b, err := r.ResolveProfileToken(ctx, digestOf(rp.tok), time.Now())
	if err != nil || b.Name != "ci" || !b.DenyUnmatched {
		t.Fatalf("ResolveProfileToken = %+v, %v", b, err)
	}
	if g, err := b.Select("https", "api.github.com", 443); err != nil || g != rp.gh.ID {
		t.Fatalf("Select(api.github.com) = %q, %v", g, err)
	}
	if b, err := r.ResolveProfileName(ctx, "ci", time.Now()); err != nil || b.Name != "ci" {
		t.Fatalf("ResolveProfileName = %+v, %v", b, err)
	}
	for name, lookup := range map[string]func() (*profile.Binding, error){
		"unknown token": func() (*profile.Binding, error) {
			return r.ResolveProfileToken(ctx, profile.DigestOf("alt_p_unknown"), time.Now())
		},
		"unknown name":   func() (*profile.Binding, error) { return r.ResolveProfileName(ctx, "nope", time.Now()) },
		"not a name":     func() (*profile.Binding, error) { return r.ResolveProfileName(ctx, rp.tok.Reveal(), time.Now()) },
		"other app's":    func() (*profile.Binding, error) { return r.ResolveProfileName(ctx, rp.otherAppProfile(t), time.Now()) },
		"empty name too": func() (*profile.Binding, error) { return r.ResolveProfileName(ctx, "", time.Now()) },
	} {
		if b, err := lookup(); err != secretstore.ErrGrantUnavailable || b != nil {
			t.Errorf("%s: %v, want exactly ErrGrantUnavailable", name, err)
		}
	}

	// A member's new destinations reach the cached binding.
	if err := rp.admin.SetPolicy(ctx, rp.gh.ID, policy.Spec{Destinations: []string{"uploads.github.com"}}); err != nil {
		t.Fatal(err)
	}
	within(t, "a member's policy change", func() bool {
		b, err := r.ResolveProfileToken(ctx, digestOf(rp.tok), time.Now())
		g, _ := b.Select("https", "uploads.github.com", 443)
		return err == nil && g == rp.gh.ID
	})
	// A new token: the old one stops working, the new one works.
	tok2, err := rp.admin.RotateProfileToken(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	within(t, "the rotation", func() bool {
		_, err := r.ResolveProfileToken(ctx, digestOf(rp.tok), time.Now())
		return errors.Is(err, secretstore.ErrGrantUnavailable)
	})
	if _, err := r.ResolveProfileToken(ctx, digestOf(tok2), time.Now()); err != nil {
		t.Fatalf("the new token: %v", err)
	}
	// deny_unmatched off reaches the binding by name.
	allow := false
	if _, err := rp.admin.UpdateProfile(ctx, "ci", secretstore.ProfileChange{DenyUnmatched: &allow}); err != nil {
		t.Fatal(err)
	}
	within(t, "the update", func() bool {
		b, err := r.ResolveProfileName(ctx, "ci", time.Now())
		return err == nil && !b.DenyUnmatched
	})
	// Revocation.
	if err := rp.admin.RevokeProfile(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	within(t, "the revocation", func() bool {
		_, e1 := r.ResolveProfileToken(ctx, digestOf(tok2), time.Now())
		_, e2 := r.ResolveProfileName(ctx, "ci", time.Now())
		return errors.Is(e1, secretstore.ErrGrantUnavailable) && errors.Is(e2, secretstore.ErrGrantUnavailable)
	})
}

// otherAppProfile makes a profile of another app and returns its name.
func (rp realProfile) otherAppProfile(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	other := &client.AdminStore{C: rp.admin.C, App: "other"}
	g, err := other.Add(ctx, secretstore.NewSecret{Spec: inject.Spec{Type: "bearer"}, Fields: inject.Fields{"token": secretValue},
		Policy: policy.Spec{Destinations: []string{"api.other.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.CreateProfile(ctx, secretstore.NewProfile{Name: "theirs", Grants: []string{g.ID}}); err != nil {
		t.Fatal(err)
	}
	return "theirs"
}

// TestProfileCacheTTLAndMaxStale: bindings are cached for the TTL, served
// past it only while the server cannot be reached and only within
// max_stale of its last answer, and never past a verdict.
func TestProfileCacheTTLAndMaxStale(t *testing.T) {
	rp := newRealProfile(t)
	ctx := context.Background()
	api := &countingAPI{Client: rp.mk(rp.srv.SidecarToken)}
	clock := testclock.New()
	r, err := remote.New(api, remote.Options{TTL: time.Minute, MaxStale: 5 * time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := digestOf(rp.tok)
	resolve := func() error { _, err := r.ResolveProfileToken(ctx, d, time.Now()); return err }

	for range 3 {
		if err := resolve(); err != nil {
			t.Fatal(err)
		}
	}
	if n := api.lookups.Load(); n != 1 {
		t.Fatalf("%d lookups for three resolves within the TTL, want 1", n)
	}
	clock.Advance(time.Minute)
	if err := resolve(); err != nil || api.lookups.Load() != 2 {
		t.Fatalf("past the TTL: %v, %d lookups; want a fresh one", err, api.lookups.Load())
	}

	// The server goes away: the binding is served past its TTL, up to
	// max_stale after the server's last answer.
	rp.srv.Server.CloseClientConnections()
	rp.srv.Server.Close()
	clock.Advance(2 * time.Minute)
	if err := resolve(); err != nil {
		t.Fatalf("with the server away, within max_stale: %v", err)
	}
	if r.StaleServed() != 1 {
		t.Fatalf("StaleServed = %d", r.StaleServed())
	}
	clock.Advance(3 * time.Minute)
	if err := resolve(); !errors.Is(err, secretstore.ErrStoreUnavailable) {
		t.Fatalf("past max_stale: %v, want ErrStoreUnavailable", err)
	}
}

// TestProfileVerdictIsNotBridged: once the server says a profile is gone,
// an outage does not bring the cached binding back.
func TestProfileVerdictIsNotBridged(t *testing.T) {
	rp := newRealProfile(t)
	ctx := context.Background()
	clock := testclock.New()
	r, err := remote.New(rp.mk(rp.srv.SidecarToken), remote.Options{TTL: time.Minute, MaxStale: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := digestOf(rp.tok)
	if _, err := r.ResolveProfileToken(ctx, d, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := rp.admin.RevokeProfile(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := r.ResolveProfileToken(ctx, d, time.Now()); err != secretstore.ErrGrantUnavailable {
		t.Fatalf("after the revocation: %v", err)
	}
	rp.srv.Server.CloseClientConnections()
	rp.srv.Server.Close()
	if _, err := r.ResolveProfileToken(ctx, d, time.Now()); errors.Is(err, secretstore.ErrGrantUnavailable) || err == nil {
		t.Fatalf("with the server away after a verdict: %v; want a store error, never the cached binding", err)
	}
}
