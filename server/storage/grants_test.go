package storage

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

func TestGrantRoundTrips(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		exp := time.Now().Add(time.Hour)
		ns := newSecret("tok-1", "api.github.com")
		ns.Policy.Methods = []string{"get", "POST"}
		ns.ExpiresAt = &exp
		g := mustAdd(t, d, ns)

		// Get returns what Add returned, with the secret's description.
		gi, err := d.Get(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gi.Grant, g) {
			t.Fatalf("Get:\n %+v\nwant\n %+v", gi.Grant, g)
		}
		if gi.Status != secretstore.StatusActive || gi.Secret.Version != 1 || gi.Secret.KeyID != testSealer.ActiveID() ||
			!reflect.DeepEqual(gi.Secret.Fields, []string{"token"}) || !gi.EffectiveExpiresAt.Equal(*g.ExpiresAt) {
			t.Fatalf("Get info: %+v", gi)
		}
		if !reflect.DeepEqual(g.Policy.Methods, []string{"GET", "POST"}) {
			t.Fatalf("policy not canonical: %v", g.Policy.Methods)
		}

		// Clone: narrower, inherits the rest, shares the secret.
		c, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{TTL: time.Minute, Policy: policy.Spec{Methods: []string{"GET"}}})
		if err != nil {
			t.Fatal(err)
		}
		if c.Parent != g.ID || c.SecretID != g.SecretID || c.Name != g.Name ||
			!reflect.DeepEqual(c.Policy.Destinations, g.Policy.Destinations) {
			t.Fatalf("clone: %+v", c)
		}
		if _, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{Policy: policy.Spec{Methods: []string{"DELETE"}}}); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("widening clone: %v", err)
		}
		late := exp.Add(time.Hour)
		if _, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{ExpiresAt: &late}); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("clone outliving parent: %v", err)
		}

		// Resolve: effective policy is clone AND parent.
		r, err := d.Resolve(ctx, c.ID, time.Now())
		if err != nil || r.Fields["token"] != "tok-1" || r.Grant.ID != c.ID {
			t.Fatalf("Resolve clone: %v", err)
		}
		in := policy.Input{Method: "GET", Scheme: "https", Host: "api.github.com", Port: 443, Path: "/", Now: time.Now()}
		if dec := r.Policy.Decide(in); !dec.Allowed {
			t.Fatalf("clone denied GET: %s", dec.Rule)
		}
		in.Method = "POST"
		if dec := r.Policy.Decide(in); dec.Allowed {
			t.Fatal("clone allowed POST: its own policy narrowed it to GET")
		}
		if _, err := d.Resolve(ctx, c.ID, time.Now().Add(2*time.Minute)); !errors.Is(err, secretstore.ErrGrantUnavailable) {
			t.Fatalf("expired clone: %v", err)
		}

		// Rotate through the parent: the clone sees the new value.
		if err := d.Rotate(ctx, g.ID, inject.Fields{"token": "tok-2"}); err != nil {
			t.Fatal(err)
		}
		if r, err := d.Resolve(ctx, c.ID, time.Now()); err != nil || r.Fields["token"] != "tok-2" || r.Secret.Version != 2 {
			t.Fatalf("after rotate: %v %v", err, r)
		}
		if err := d.Rotate(ctx, g.ID, inject.Fields{"password": "x"}); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("rotate with wrong fields: %v", err)
		}

		// SetPolicy on a clone may not widen.
		if err := d.SetPolicy(ctx, c.ID, policy.Spec{Destinations: []string{"evil.example"}}); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("widening SetPolicy: %v", err)
		}
		if err := d.SetPolicy(ctx, g.ID, policy.Spec{Destinations: []string{"api.github.com"}, Methods: []string{"GET"}}); err != nil {
			t.Fatal(err)
		}

		// Revoke the parent: twice is fine; the clone follows.
		for range 2 {
			if err := d.Revoke(ctx, g.ID); err != nil {
				t.Fatal(err)
			}
		}
		list, err := d.List(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("List: %d, %v", len(list), err)
		}
		if list[0].ID != g.ID || list[0].Status != secretstore.StatusRevoked || list[1].Status != secretstore.StatusParentRevoked {
			t.Fatalf("statuses: %s %s", list[0].Status, list[1].Status)
		}
		if _, err := d.Resolve(ctx, c.ID, time.Now()); !errors.Is(err, secretstore.ErrGrantUnavailable) {
			t.Fatalf("clone of revoked: %v", err)
		}
		if _, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{}); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("clone of revoked: %v", err)
		}
	})
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		past := time.Now().Add(-time.Hour)
		bad := func(f func(*secretstore.NewSecret)) secretstore.NewSecret {
			ns := newSecret("s3cr3t-v4lue", "api.github.com")
			f(&ns)
			return ns
		}
		for name, ns := range map[string]secretstore.NewSecret{
			"no destinations": bad(func(ns *secretstore.NewSecret) { ns.Policy = policy.Spec{} }),
			"unknown type":    bad(func(ns *secretstore.NewSecret) { ns.Spec.Type = "nope" }),
			"missing field":   bad(func(ns *secretstore.NewSecret) { ns.Fields = inject.Fields{} }),
			"control char":    bad(func(ns *secretstore.NewSecret) { ns.Name = "a\nb" }),
			"long label":      bad(func(ns *secretstore.NewSecret) { ns.Labels = []string{strings.Repeat("x", 201)} }),
			"empty label":     bad(func(ns *secretstore.NewSecret) { ns.Labels = []string{""} }),
			"past expiry":     bad(func(ns *secretstore.NewSecret) { ns.ExpiresAt = &past }),
		} {
			if _, err := d.Add(ctx, ns); !errors.Is(err, secretstore.ErrInvalid) {
				t.Errorf("Add %s: %v, want ErrInvalid", name, err)
			} else if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("Add %s: error quotes the secret: %v", name, err)
			}
		}
		const missing = "00000000-0000-4000-8000-000000000000"
		for name, err := range map[string]error{
			"Get":       func() error { _, err := d.Get(ctx, missing); return err }(),
			"Revoke":    d.Revoke(ctx, missing),
			"Rotate":    d.Rotate(ctx, missing, inject.Fields{"token": "x"}),
			"SetPolicy": d.SetPolicy(ctx, missing, policy.Spec{Destinations: []string{"a.example"}}),
			"Clone":     func() error { _, err := d.Clone(ctx, missing, secretstore.CloneRequest{}); return err }(),
		} {
			if !errors.Is(err, secretstore.ErrNotFound) {
				t.Errorf("%s unknown grant: %v, want ErrNotFound", name, err)
			}
		}
		if _, err := d.Resolve(ctx, missing, time.Now()); !errors.Is(err, secretstore.ErrGrantUnavailable) {
			t.Errorf("Resolve unknown: %v", err)
		}
		if list, _ := d.List(ctx); len(list) != 0 {
			t.Errorf("failed writes left %d grants", len(list))
		}
		if n, _ := d.LastChange(ctx); n != 0 {
			t.Errorf("failed writes recorded changes up to %d", n)
		}
	})
}

// A blob moved to another secret's row must not open.
func TestSwappedBlobDoesNotOpen(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		a := mustAdd(t, d, newSecret("tok-a", "a.example"))
		b := mustAdd(t, d, newSecret("tok-b", "b.example"))
		if _, err := d.db.Exec(d.q(`UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE id = ?) WHERE id = ?`), a.SecretID, b.SecretID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Resolve(ctx, b.ID, time.Now()); !errors.Is(err, secretstore.ErrStoreUnavailable) {
			t.Fatalf("swapped blob: %v, want ErrStoreUnavailable", err)
		}
	})
}

func TestChangeSequence(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		last := int64(0)
		step := func(what string, wantKinds ...string) {
			t.Helper()
			got, err := d.Changes(ctx, last, 100)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, c := range got {
				if c.Seq <= last {
					t.Fatalf("%s: seq %d not after %d", what, c.Seq, last)
				}
				last = c.Seq
				kinds = append(kinds, c.Kind)
			}
			if !reflect.DeepEqual(kinds, wantKinds) {
				t.Fatalf("%s: changes %v, want %v", what, kinds, wantKinds)
			}
			if n, _ := d.LastChange(ctx); n != last {
				t.Fatalf("%s: LastChange %d, want %d", what, n, last)
			}
		}
		g := mustAdd(t, d, newSecret("tok", "api.github.com"))
		step("add", ChangeAdd)
		c, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{})
		if err != nil {
			t.Fatal(err)
		}
		step("clone", ChangeClone)
		if err := d.Rotate(ctx, c.ID, inject.Fields{"token": "t2"}); err != nil {
			t.Fatal(err)
		}
		step("rotate (both grants share the secret)", ChangeRotate, ChangeRotate)
		if err := d.SetPolicy(ctx, c.ID, policy.Spec{Methods: []string{"GET"}}); err != nil {
			t.Fatal(err)
		}
		step("policy on clone", ChangePolicy)
		if err := d.Revoke(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		step("revoke (parent and clone)", ChangeRevoke, ChangeRevoke)
		if err := d.Revoke(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		step("second revoke changes nothing")
		if _, err := d.Changes(ctx, 0, 0); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("limit 0: %v", err)
		}
	})
}

// TestRotateThroughDeadGrantRefused: a revoked clone (or a clone of a
// revoked parent, or an expired one) is no handle on its secret: rotating
// through it is refused and the secret is unchanged. (It used to rotate
// the secret every live grant on it injects.)
func TestRotateThroughDeadGrantRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx := context.Background()
		g := mustAdd(t, d, newSecret("tok", "api.github.com"))
		revoked, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Revoke(ctx, revoked.ID); err != nil {
			t.Fatal(err)
		}
		expired, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{TTL: time.Microsecond})
		if err != nil {
			t.Fatal(err)
		}
		for !time.Now().After(*expired.ExpiresAt) {
			time.Sleep(time.Millisecond)
		}
		for name, id := range map[string]string{"revoked clone": revoked.ID, "expired clone": expired.ID} {
			if err := d.Rotate(ctx, id, inject.Fields{"token": "stolen"}); !errors.Is(err, secretstore.ErrInvalid) {
				t.Errorf("rotate through the %s: %v, want ErrInvalid", name, err)
			}
		}
		res, err := d.Resolve(ctx, g.ID, time.Now())
		if err != nil || res.Fields["token"] != "tok" {
			t.Fatalf("the live grant after refused rotations: %v", err)
		}
		if err := d.Rotate(ctx, g.ID, inject.Fields{"token": "tok-2"}); err != nil {
			t.Fatalf("rotate through the live grant: %v", err)
		}
	})
}
