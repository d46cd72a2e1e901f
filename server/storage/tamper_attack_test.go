package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/secretstore"
)

// TestTamperedRowsLetNothingThrough: what a database writer without the
// integrity key can do to approvals and profiles. An approval pointed at
// another request or grant, or copied under a new id, and a profile given
// another profile's token digest, fail closed: no held request goes
// through and no profile resolves.
func TestTamperedRowsLetNothingThrough(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		raw := testdb.Raw(t, addr)
		g, g2 := addFor(t, d, "billing"), addFor(t, d, "billing")
		s := d.Approvals("billing")
		approved := func(body string) approval.Approval {
			t.Helper()
			a, err := s.Create(ctx, heldRequest(g, body), at0, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if a, err = d.Approvals("").Decide(ctx, a.ID, approval.Decision{Approve: true, By: "alice", At: at0}); err != nil {
				t.Fatal(err)
			}
			return a
		}
		wanted := heldRequest(g, "the refund nobody approved")
		moved := heldRequest(g2, "{}")
		cases := []struct {
			name string
			sql  string
			args func(a approval.Approval) []any
			req  approval.Request
		}{
			{"match key pointed at another request", `UPDATE approvals SET match_key = ? WHERE id = ?`,
				func(a approval.Approval) []any { return []any{wanted.Match, a.ID} }, wanted},
			{"moved to another grant", `UPDATE approvals SET grant_id = ?, match_key = ? WHERE id = ?`,
				func(a approval.Approval) []any { return []any{g2, moved.Match, a.ID} }, moved},
			{"copied under a new id", `INSERT INTO approvals (id, app, grant_id, status, match_key, created_at, expires_at, body, mac)
				SELECT '00000000-0000-4000-8000-0000000000aa', app, grant_id, status, ?, created_at, expires_at, body, mac FROM approvals WHERE id = ?`,
				func(a approval.Approval) []any { return []any{wanted.Match, a.ID} }, wanted},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				a := approved(c.name)
				if _, err := raw.ExecContext(ctx, d.q(c.sql), c.args(a)...); err != nil {
					t.Fatal(err)
				}
				found, ok, err := s.Find(ctx, c.req, at0)
				if err == nil && ok && found.Lets(c.req, at0) {
					t.Fatalf("a tampered row lets %s through", c.req.Match)
				}
				if !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("Find = %v, %v; want ErrStoreUnavailable", ok, err)
				}
				if _, err := raw.ExecContext(ctx, d.q(`DELETE FROM approvals WHERE grant_id IN (?, ?)`), g, g2); err != nil {
					t.Fatal(err)
				}
			})
		}

		// Profiles: billing's profile given search's profile's digest (and
		// the other way round) resolves for neither token.
		gs := addFor(t, d, "search")
		_, mine, err := d.CreateProfile(ctx, "billing", secretstore.NewProfile{Name: "mine", Grants: []string{g}})
		if err != nil {
			t.Fatal(err)
		}
		_, theirs, err := d.CreateProfile(ctx, "search", secretstore.NewProfile{Name: "theirs", Grants: []string{gs}})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`UPDATE profiles SET digest = 'swap' WHERE name = 'mine'`,
			`UPDATE profiles SET digest = ? WHERE name = 'theirs'`,
			`UPDATE profiles SET digest = ? WHERE name = 'mine'`,
		} {
			var args []any
			switch q {
			case `UPDATE profiles SET digest = ? WHERE name = 'theirs'`:
				args = []any{tokenHex(mine)}
			case `UPDATE profiles SET digest = ? WHERE name = 'mine'`:
				args = []any{tokenHex(theirs)}
			}
			if _, err := raw.ExecContext(ctx, d.q(q), args...); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct{ app, digest string }{{"billing", tokenHex(mine)}, {"search", tokenHex(theirs)},
			{"billing", tokenHex(theirs)}, {"search", tokenHex(mine)}} {
			if b, err := d.ResolveProfileToken(ctx, c.app, c.digest); err == nil {
				t.Errorf("%s resolved a swapped digest to %s", c.app, b.Name)
			}
		}
	})
}
