package remote_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/secretstore/remote"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/client/clienttest"
)

// TestAgainstRealServer: the resolver on server/api's change stream, as a
// sidecar runs it.
// realGrant is the real server with one grant of its app, an admin store
// on it, and a way to make clients with its tokens.
type realGrant struct {
	srv   *clienttest.Real
	admin *client.AdminStore
	g     secretstore.Grant
	mk    func(token string) *client.Client
}

func newRealGrant(t *testing.T) realGrant {
	t.Helper()
	srv := clienttest.NewReal(t)
	mk := func(tok string) *client.Client {
		c, err := client.New(client.Options{URL: srv.URL(), Token: client.Token(tok), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	admin := &client.AdminStore{C: mk(srv.AdminToken), App: srv.App}
	g, err := admin.Add(context.Background(), secretstore.NewSecret{Spec: inject.Spec{Type: "bearer"}, Fields: inject.Fields{"token": secretValue},
		Policy: policy.Spec{Destinations: []string{"api.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	return realGrant{srv: srv, admin: admin, g: g, mk: mk}
}

func TestAgainstRealServer(t *testing.T) {
	rg := newRealGrant(t)
	ctx, admin, g := context.Background(), rg.admin, rg.g
	r, err := remote.New(rg.mk(rg.srv.SidecarToken), remote.Options{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(ctx)
	defer r.Close()
	waitFor(t, "ready", func() bool { return r.Ready() == nil })
	if len(r.Policies()) != 1 {
		t.Fatalf("%d policies", len(r.Policies()))
	}
	if res, err := r.Resolve(ctx, g.ID, time.Now()); err != nil || res.Fields["token"] != secretValue {
		t.Fatalf("Resolve: %v", err)
	}
	steps := []struct {
		name   string
		change func() error
		done   func(*secretstore.Resolved, error) bool
	}{
		{"rotate", func() error { return admin.Rotate(ctx, g.ID, inject.Fields{"token": rotatedValue}) },
			func(res *secretstore.Resolved, err error) bool {
				return err == nil && res.Fields["token"] == rotatedValue
			}},
		{"narrow", func() error {
			return admin.SetPolicy(ctx, g.ID, policy.Spec{Destinations: []string{"api.example.com"}, Methods: []string{"GET"}})
		}, func(res *secretstore.Resolved, err error) bool {
			return err == nil && !res.Policy.Decide(policy.Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: "POST", Path: "/", Now: time.Now()}).Allowed
		}},
		{"revoke", func() error { return admin.Revoke(ctx, g.ID) },
			func(_ *secretstore.Resolved, err error) bool { return errors.Is(err, secretstore.ErrGrantUnavailable) }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.change(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for !st.done(r.Resolve(ctx, g.ID, time.Now())) {
				if time.Since(start) > time.Second {
					t.Fatal("the change did not reach the cache within a second")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
