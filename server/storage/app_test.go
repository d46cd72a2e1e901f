package storage

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

func TestApps(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		g, err := d.AddFor(ctx, "billing", newSecret("tok-b", "api.github.com"))
		if err != nil {
			t.Fatal(err)
		}
		other, err := d.AddFor(ctx, "search", newSecret("tok-s", "api.github.com"))
		if err != nil {
			t.Fatal(err)
		}
		none := mustAdd(t, d, newSecret("tok-n", "api.github.com"))
		c, err := d.Clone(ctx, g.ID, secretstore.CloneRequest{Policy: policy.Spec{Methods: []string{"GET"}}})
		if err != nil {
			t.Fatal(err)
		}
		if gi, err := d.GetGrant(ctx, c.ID); err != nil || gi.App != "billing" {
			t.Fatalf("clone's app %q, %v; want the parent's", gi.App, err)
		}
		list, err := d.ListGrants(ctx, "billing")
		if err != nil || len(list) != 2 || list[0].ID != g.ID || list[1].ID != c.ID {
			t.Fatalf("ListGrants(billing): %d, %v", len(list), err)
		}
		if all, _ := d.ListGrants(ctx, ""); len(all) != 4 {
			t.Fatalf("ListGrants(all): %d", len(all))
		}

		for _, tc := range []struct {
			name, app, id string
			want          error
		}{
			{"own grant", "billing", g.ID, nil},
			{"own clone", "billing", c.ID, nil},
			{"other app's grant", "billing", other.ID, secretstore.ErrGrantUnavailable},
			{"grant of no app", "billing", none.ID, secretstore.ErrGrantUnavailable},
			{"unknown grant", "billing", "00000000-0000-4000-8000-000000000000", secretstore.ErrGrantUnavailable},
			{"empty app", "", none.ID, secretstore.ErrGrantUnavailable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r, err := d.ResolveFor(ctx, tc.app, tc.id, time.Now())
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("ResolveFor: %v, want %v", err, tc.want)
				}
				if err != nil {
					if err != secretstore.ErrGrantUnavailable {
						t.Fatalf("refusal is %q, not the one shared error", err)
					}
					return
				}
				if r.Fields["token"] != "tok-b" || r.Info.App != "billing" || r.Info.ID != tc.id {
					t.Fatalf("resolution: %v", r)
				}
			})
		}

		// Policies: effective, revoked included, only the app's.
		if err := d.SetPolicy(ctx, g.ID, policy.Spec{Destinations: []string{"api.github.com"}, PathPrefixes: []string{"/repos"}}); err != nil {
			t.Fatal(err)
		}
		if err := d.Revoke(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		pols, err := d.Policies(ctx, "billing")
		if err != nil || len(pols) != 2 {
			t.Fatalf("Policies: %v %v", pols, err)
		}
		want := policy.Spec{Destinations: []string{"api.github.com"}, Methods: []string{"GET"}, PathPrefixes: []string{"/repos"}}
		if pols[1].GrantID != c.ID || !reflect.DeepEqual(pols[1].Policy, want) {
			t.Fatalf("clone's effective policy %+v, want %+v", pols[1].Policy, want)
		}
		if p, _ := d.Policies(ctx, ""); len(p) != 0 {
			t.Fatalf("Policies of no app: %v", p)
		}

		// Changes: only the app's grants.
		cs, err := d.ChangesFor(ctx, "billing", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range cs {
			if ch.GrantID != g.ID && ch.GrantID != c.ID {
				t.Fatalf("change for another app's grant: %+v", ch)
			}
		}
		if len(cs) != 5 { // add, clone, policy x2 (grant and clone), revoke
			t.Fatalf("ChangesFor: %d changes: %+v", len(cs), cs)
		}
	})
}

func TestEffectiveSpec(t *testing.T) {
	ts := func(s string) *time.Time { x, _ := time.Parse(time.RFC3339, s); return &x }
	cases := []struct {
		name    string
		chain   []policy.Spec
		want    policy.Spec
		wantErr bool
	}{
		{"root", []policy.Spec{{Destinations: []string{"a.example"}}}, policy.Spec{Destinations: []string{"a.example"}}, false},
		{"clone within parent", []policy.Spec{
			{Destinations: []string{"a.example"}, Methods: []string{"GET"}},
			{Destinations: []string{"a.example", "b.example"}},
		}, policy.Spec{Destinations: []string{"a.example"}, Methods: []string{"GET"}}, false},
		{"parent narrowed later", []policy.Spec{
			{Destinations: []string{"a.example", "b.example"}, Methods: []string{"GET"}, NotAfter: ts("2030-01-01T00:00:00Z")},
			{Destinations: []string{"b.example"}, PathPrefixes: []string{"/v1"}, NotAfter: ts("2029-01-01T00:00:00Z")},
		}, policy.Spec{Destinations: []string{"b.example"}, Methods: []string{"GET"}, PathPrefixes: []string{"/v1"}, NotAfter: ts("2029-01-01T00:00:00Z")}, false},
		{"approval: the side that holds more", []policy.Spec{
			{Destinations: []string{"a.example"}, Methods: []string{"GET", "POST"}},
			{Destinations: []string{"a.example"}, RequireApproval: []string{"POST"}},
		}, policy.Spec{Destinations: []string{"a.example"}, Methods: []string{"GET", "POST"}, RequireApproval: []string{"POST"}}, false},
		{"limits: the grant's own", []policy.Spec{
			{Destinations: []string{"a.example"}, Rate: "5/m"},
			{Destinations: []string{"a.example"}, Quota: "9/d", PerActor: true},
		}, policy.Spec{Destinations: []string{"a.example"}, Rate: "5/m"}, false},
		{"limits: a parent's, when the clone has none", []policy.Spec{
			{Destinations: []string{"a.example"}, Methods: []string{"GET"}},
			{Destinations: []string{"a.example"}, Quota: "9/d", PerActor: true},
		}, policy.Spec{Destinations: []string{"a.example"}, Methods: []string{"GET"}, Quota: "9/d", PerActor: true}, false},
		{"disjoint methods", []policy.Spec{
			{Destinations: []string{"a.example"}, Methods: []string{"GET"}},
			{Destinations: []string{"a.example"}, Methods: []string{"POST"}},
		}, policy.Spec{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := effectiveSpec(c.chain)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}
