package storage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/secretstore"
)

// A row edited directly in the database must fail closed: Resolve answers
// ErrStoreUnavailable, listings show the grant unusable with a Problem, and
// no write re-signs it.
func TestIntegrityEditedRowsFailClosed(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		edit string // SQL run against the grant (first ?) or its secret (second ?)
		arg  func(g secretstore.Grant) any
	}{
		{"policy widened", `UPDATE grants SET policy = '{"destinations":["evil.example"]}' WHERE id = ?`, grantArg},
		{"revoked flipped back", `UPDATE grants SET revoked = FALSE WHERE id = ?`, grantArg},
		{"app changed", `UPDATE grants SET app = 'other' WHERE id = ?`, grantArg},
		{"expiry removed", `UPDATE grants SET expires_at = NULL WHERE id = ?`, grantArg},
		{"mac removed", `UPDATE grants SET mac = '' WHERE id = ?`, grantArg},
		{"secret spec changed", `UPDATE secrets SET spec = '{"type":"api_key","header":"X-Leak"}' WHERE id = ?`, secretArg},
		{"secret version changed", `UPDATE secrets SET version = 7 WHERE id = ?`, secretArg},
	}
	for _, e := range testdb.Engines() {
		for _, c := range cases {
			t.Run(e.Name+"/"+c.name, func(t *testing.T) {
				d := openT(t, e.Fresh(t))
				ns := newSecret("tok", "api.github.com")
				exp := time.Now().Add(time.Hour)
				ns.ExpiresAt = &exp
				g, err := d.AddFor(ctx, "billing", ns)
				if err != nil {
					t.Fatal(err)
				}
				if c.name == "revoked flipped back" {
					if err := d.Revoke(ctx, g.ID); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := d.db.Exec(d.q(c.edit), c.arg(g)); err != nil {
					t.Fatal(err)
				}
				if _, err := d.Resolve(ctx, g.ID, time.Now()); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("Resolve: %v, want ErrStoreUnavailable", err)
				}
				if _, err := d.ResolveFor(ctx, "billing", g.ID, time.Now()); err == nil {
					t.Fatal("ResolveFor succeeded on an edited row")
				}
				gi, err := d.GetGrant(ctx, g.ID)
				if err != nil || gi.Status != secretstore.StatusUnusable || !strings.Contains(gi.Problem, "integrity check failed") {
					t.Fatalf("GetGrant: status %q problem %q err %v", gi.Status, gi.Problem, err)
				}
				list, err := d.List(ctx)
				if err != nil || len(list) != 1 || list[0].Status != secretstore.StatusUnusable {
					t.Fatalf("List: %d grants, %v", len(list), err)
				}
				// No write may launder the edit by re-signing the row.
				if err := d.SetPolicy(ctx, g.ID, ns.Policy); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("SetPolicy on an edited row: %v", err)
				}
				if err := d.Rotate(ctx, g.ID, inject.Fields{"token": "x"}); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("Rotate on an edited row: %v", err)
				}
				if _, err := d.Resolve(ctx, g.ID, time.Now()); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("Resolve after refused writes: %v", err)
				}
			})
		}
	}
}

func grantArg(g secretstore.Grant) any  { return g.ID }
func secretArg(g secretstore.Grant) any { return g.SecretID }

// A row copied from another grant (mac included) does not verify under
// the other id; a swapped integrity key makes every row unusable.
func TestIntegrityRowsAreBound(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		wide := mustAdd(t, d, newSecret("tok", "api.github.com", "uploads.github.com"))
		narrow := mustAdd(t, d, newSecret("tok2", "api.github.com"))
		// Give the narrow grant the wide one's policy and mac.
		if _, err := d.db.Exec(d.q(`UPDATE grants SET policy = (SELECT policy FROM grants WHERE id = ?),
			mac = (SELECT mac FROM grants WHERE id = ?) WHERE id = ?`), wide.ID, wide.ID, narrow.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Resolve(ctx, narrow.ID, time.Now()); !errors.Is(err, secretstore.ErrStoreUnavailable) {
			t.Fatalf("copied mac: %v", err)
		}
		if _, err := d.Resolve(ctx, wide.ID, time.Now()); err != nil {
			t.Fatalf("untouched grant: %v", err)
		}
		// Another integrity key (as if an attacker replaced it with their
		// own sealed under another keyring): nothing verifies any more.
		if _, err := d.db.Exec(`DELETE FROM integrity_key`); err != nil {
			t.Fatal(err)
		}
		d2 := openT(t, addr)
		if _, err := d2.Resolve(ctx, wide.ID, time.Now()); !errors.Is(err, secretstore.ErrStoreUnavailable) {
			t.Fatalf("new integrity key: %v", err)
		}
	})
}

// A keyring that cannot open the integrity key refuses to open the store.
func TestIntegrityKeyNeedsTheMasterKey(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		openT(t, addr)
		other, err := secretstore.ParseKeyring([]byte("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"), "other")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(context.Background(), addr, other); !errors.Is(err, secretstore.ErrStoreUnavailable) {
			t.Fatalf("Open with another key: %v, want ErrStoreUnavailable", err)
		}
	})
}
