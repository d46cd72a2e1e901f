package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// TestReplaceFields: a rotated refresh token is sealed in place of the old
// one at the version read; a stale version, bad values and an unknown
// secret change nothing.
func TestReplaceFields(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx := context.Background()
		spec := inject.Spec{Type: inject.TypeOAuth2RefreshToken, Mint: &inject.MintSpec{TokenURL: "https://identity.xero.com/connect/token"}}
		g := mustAdd(t, d, secretstore.NewSecret{Spec: spec, Fields: inject.Fields{"client_id": "c", "refresh_token": "rt-one"},
			Policy: policy.Spec{Destinations: []string{"api.xero.com"}}})
		res, err := d.Resolve(ctx, g.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		v, err := d.ReplaceFields(ctx, res.Secret.ID, res.Secret.Version, inject.Fields{"client_id": "c", "refresh_token": "rt-two"})
		if err != nil || v != res.Secret.Version+1 {
			t.Fatalf("replace: %d, %v", v, err)
		}
		if _, err := d.ReplaceFields(ctx, res.Secret.ID, res.Secret.Version, inject.Fields{"client_id": "c", "refresh_token": "rt-late"}); !errors.Is(err, secretstore.ErrVersionChanged) {
			t.Fatalf("stale version: %v", err)
		}
		if _, err := d.ReplaceFields(ctx, res.Secret.ID, v, inject.Fields{"refresh_token": "no-client"}); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("bad fields: %v", err)
		}
		if _, err := d.ReplaceFields(ctx, "00000000-0000-4000-8000-000000000000", 1, inject.Fields{"client_id": "c", "refresh_token": "x"}); !errors.Is(err, secretstore.ErrNotFound) {
			t.Fatalf("unknown secret: %v", err)
		}
		res, err = d.Resolve(ctx, g.ID, time.Now())
		if err != nil || res.Fields["refresh_token"] != "rt-two" || res.Secret.Version != v {
			t.Fatalf("after replace: version %d, %v", res.Secret.Version, err)
		}
	})
}
