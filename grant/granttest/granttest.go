// Package granttest is the one table test of the grant rules that every
// store runs against itself (the file store in secretstore, the control
// plane in server/storage): clones narrow and never outlive or widen their
// parent, and revoking a parent makes every clone unavailable, as listings
// and resolution both say. Only tests import it.
package granttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/grant"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Store is what the cases need of a store: its admin calls, and Resolve.
type Store interface {
	secretstore.Admin
	Resolve(ctx context.Context, grantID string, now time.Time) (*secretstore.Resolved, error)
}

// Run runs the cases against the store newStore returns; it may return the
// same store each time, since every case adds the grants it uses.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	add := func(t *testing.T, s Store, p policy.Spec, ttl time.Duration) grant.Grant {
		t.Helper()
		ns := secretstore.NewSecret{Spec: inject.Spec{Type: inject.TypeBearer}, Fields: inject.Fields{"token": "granttest-token"},
			Name: "granttest", Policy: p}
		if ttl > 0 {
			x := time.Now().Add(ttl).UTC().Truncate(time.Second)
			ns.ExpiresAt = &x
		}
		g, err := s.Add(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	parentPolicy := policy.Spec{Destinations: []string{"*.example.com"}, Methods: []string{"GET", "POST"}}
	cases := []struct {
		name string
		run  func(t *testing.T, s Store, parent grant.Grant)
	}{
		{"a clone inherits what it leaves out and narrows what it gives", func(t *testing.T, s Store, parent grant.Grant) {
			c, err := s.Clone(ctx, parent.ID, secretstore.CloneRequest{Policy: policy.Spec{Destinations: []string{"api.example.com"}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Policy.Methods; len(got) != 2 {
				t.Fatalf("clone methods %v, want the parent's", got)
			}
			r, err := s.Resolve(ctx, c.ID, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !r.Policy.CoversHost("api.example.com", 443) || r.Policy.CoversHost("www.example.com", 443) {
				t.Fatal("the clone's effective policy is not its own AND its parent's")
			}
		}},
		{"a clone that widens is refused, naming the rule", func(t *testing.T, s Store, parent grant.Grant) {
			_, err := s.Clone(ctx, parent.ID, secretstore.CloneRequest{Policy: policy.Spec{Destinations: []string{"evil.test"}}})
			if !errors.Is(err, grant.ErrInvalid) || !strings.Contains(err.Error(), "destination") {
				t.Fatalf("err %v, want ErrInvalid naming the destination", err)
			}
		}},
		{"a clone cannot outlive its parent", func(t *testing.T, s Store, _ grant.Grant) {
			short := add(t, s, parentPolicy, time.Hour)
			c, err := s.Clone(ctx, short.ID, secretstore.CloneRequest{TTL: 48 * time.Hour})
			if err == nil {
				info, _ := s.Get(ctx, c.ID)
				if x := info.EffectiveExpiresAt; x == nil || x.After(*short.ExpiresAt) {
					t.Fatalf("clone lives until %v, parent until %v", x, short.ExpiresAt)
				}
			} else if !errors.Is(err, grant.ErrInvalid) {
				t.Fatalf("err %v", err)
			}
		}},
		{"revoking the parent makes the clone unavailable", func(t *testing.T, s Store, parent grant.Grant) {
			c, err := s.Clone(ctx, parent.ID, secretstore.CloneRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Revoke(ctx, parent.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Resolve(ctx, c.ID, time.Now()); !errors.Is(err, grant.ErrUnavailable) {
				t.Fatalf("resolve clone of a revoked parent: %v", err)
			}
			info, err := s.Get(ctx, c.ID)
			if err != nil || info.Status != grant.StatusParentRevoked {
				t.Fatalf("clone listed as %q (%v), want %s", info.Status, err, grant.StatusParentRevoked)
			}
			if _, err := s.Clone(ctx, c.ID, secretstore.CloneRequest{}); !errors.Is(err, grant.ErrInvalid) {
				t.Fatalf("clone of an unavailable grant: %v", err)
			}
		}},
		{"narrowing the parent narrows its clones", func(t *testing.T, s Store, parent grant.Grant) {
			c, err := s.Clone(ctx, parent.ID, secretstore.CloneRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetPolicy(ctx, parent.ID, policy.Spec{Destinations: []string{"*.example.com"}, Methods: []string{"GET"}}); err != nil {
				t.Fatal(err)
			}
			r, err := s.Resolve(ctx, c.ID, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			d := r.Policy.Decide(policy.Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: "POST", Path: "/", Now: time.Now()})
			if d.Allowed {
				t.Fatal("the clone still allows POST after its parent was narrowed to GET")
			}
		}},
		{"an unknown grant", func(t *testing.T, s Store, _ grant.Grant) {
			const id = "00000000-0000-4000-8000-000000000000"
			if _, err := s.Resolve(ctx, id, time.Now()); !errors.Is(err, grant.ErrUnavailable) {
				t.Fatalf("resolve: %v", err)
			}
			if _, err := s.Clone(ctx, id, secretstore.CloneRequest{}); !errors.Is(err, grant.ErrNotFound) {
				t.Fatalf("clone: %v", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			c.run(t, s, add(t, s, parentPolicy, 0))
		})
	}
}
