package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
)

func tokenHex(tok profile.Token) string {
	d := profile.DigestOf(tok.Reveal())
	return hex.EncodeToString(d[:])
}

// profileEnv is a database with two grants of app "billing" on disjoint
// hosts and one of app "search".
type profileEnv struct {
	d           *DB
	gh, sqs, ot secretstore.Grant
}

func newProfileEnv(t *testing.T, addr string) profileEnv {
	t.Helper()
	ctx := context.Background()
	d := openT(t, addr)
	add := func(app string, hosts ...string) secretstore.Grant {
		g, err := d.AddFor(ctx, app, newSecret("tok-"+app, hosts...))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	return profileEnv{d: d, gh: add("billing", "api.github.com"), sqs: add("billing", "sqs.us-east-1.amazonaws.com"), ot: add("search", "api.search.test")}
}

func TestProfileLifecycle(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newProfileEnv(t, addr)
		d := e.d
		before, _ := d.LastChange(ctx)
		pi, tok, err := d.CreateProfile(ctx, "billing", secretstore.NewProfile{Name: "ci", Grants: []string{e.gh.ID, e.sqs.ID}, DenyUnmatched: true})
		if err != nil {
			t.Fatal(err)
		}
		if !profile.LooksLikeToken(tok.Reveal()) || pi.App != "billing" || pi.Status != secretstore.StatusActive || len(pi.Members) != 2 {
			t.Fatalf("created %+v", pi)
		}
		var stored int
		if err := d.db.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM profiles WHERE digest = ? OR grants LIKE ?`),
			tok.Reveal(), "%"+tok.Reveal()[len(profile.TokenPrefix):]+"%").Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("the token itself is stored (%d rows, %v)", stored, err)
		}

		b, err := d.ResolveProfileToken(ctx, "billing", tokenHex(tok))
		if err != nil || b.Name != "ci" || !b.DenyUnmatched || len(b.Members) != 2 || b.Members[0].GrantID != e.gh.ID ||
			b.Members[0].Destinations[0] != "https://api.github.com:443" {
			t.Fatalf("ResolveProfileToken = %+v, %v", b, err)
		}
		if b, err := d.ResolveProfileName(ctx, "billing", "ci"); err != nil || b.ID != pi.ID {
			t.Fatalf("ResolveProfileName = %+v, %v", b, err)
		}
		after, _ := d.LastChangeFor(ctx, "billing")
		if after <= before {
			t.Fatalf("creating a profile moved the app's change number from %d to %d", before, after)
		}
		ch, err := d.ChangesFor(ctx, "billing", before, 100)
		if err != nil || len(ch) != 1 || ch[0].Kind != ChangeProfile || ch[0].Profile != "ci" || ch[0].GrantID != "" {
			t.Fatalf("ChangesFor(billing) = %+v, %v", ch, err)
		}
		if ch, _ := d.ChangesFor(ctx, "search", before, 100); len(ch) != 0 {
			t.Fatalf("another app heard of the profile: %+v", ch)
		}

		// Every refusal a sidecar can get for a profile is the one answer.
		other, _, err := d.CreateProfile(ctx, "search", secretstore.NewProfile{Name: "other", Grants: []string{e.ot.ID}})
		if err != nil {
			t.Fatal(err)
		}
		unknown := tokenHex(profile.Token("alt_p_" + strings.Repeat("A", 43)))
		for name, lookup := range map[string]func() (*ProfileBinding, error){
			"unknown token":        func() (*ProfileBinding, error) { return d.ResolveProfileToken(ctx, "billing", unknown) },
			"unknown name":         func() (*ProfileBinding, error) { return d.ResolveProfileName(ctx, "billing", "nope") },
			"other app's name":     func() (*ProfileBinding, error) { return d.ResolveProfileName(ctx, "billing", other.Name) },
			"token for other app":  func() (*ProfileBinding, error) { return d.ResolveProfileToken(ctx, "search", tokenHex(tok)) },
			"no app":               func() (*ProfileBinding, error) { return d.ResolveProfileToken(ctx, "", tokenHex(tok)) },
			"the token, not a sha": func() (*ProfileBinding, error) { return d.ResolveProfileName(ctx, "billing", tok.Reveal()) },
		} {
			if b, err := lookup(); err != secretstore.ErrGrantUnavailable || b != nil {
				t.Errorf("%s: %+v, %v; want exactly ErrGrantUnavailable", name, b, err)
			}
		}
		if _, err := d.ResolveProfileToken(ctx, "billing", strings.ToUpper(tokenHex(tok))); !errors.Is(err, secretstore.ErrInvalid) {
			t.Errorf("an upper-case digest: %v, want ErrInvalid", err)
		}

		// Update, rotate, revoke.
		deny := false
		if pi, err := d.UpdateProfile(ctx, "ci", secretstore.ProfileChange{Grants: []string{e.gh.ID}, DenyUnmatched: &deny}); err != nil ||
			len(pi.Grants) != 1 || pi.DenyUnmatched {
			t.Fatalf("UpdateProfile = %+v, %v", pi, err)
		}
		tok2, err := d.RotateProfileToken(ctx, "ci")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ResolveProfileToken(ctx, "billing", tokenHex(tok)); err != secretstore.ErrGrantUnavailable {
			t.Fatalf("the old token after rotation: %v", err)
		}
		if b, err := d.ResolveProfileToken(ctx, "billing", tokenHex(tok2)); err != nil || len(b.Members) != 1 || b.DenyUnmatched {
			t.Fatalf("the new token: %+v, %v", b, err)
		}
		if err := d.RevokeProfile(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		seq, _ := d.LastChangeFor(ctx, "billing")
		if err := d.RevokeProfile(ctx, "ci"); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		if again, _ := d.LastChangeFor(ctx, "billing"); again != seq {
			t.Fatal("revoking twice recorded a change")
		}
		for _, res := range []func() (*ProfileBinding, error){
			func() (*ProfileBinding, error) { return d.ResolveProfileToken(ctx, "billing", tokenHex(tok2)) },
			func() (*ProfileBinding, error) { return d.ResolveProfileName(ctx, "billing", "ci") },
		} {
			if _, err := res(); err != secretstore.ErrGrantUnavailable {
				t.Fatalf("a revoked profile: %v", err)
			}
		}
		if _, err := d.RotateProfileToken(ctx, "ci"); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("rotating a revoked profile: %v", err)
		}
		if _, err := d.UpdateProfile(ctx, "ci", secretstore.ProfileChange{DenyUnmatched: &deny}); !errors.Is(err, secretstore.ErrInvalid) {
			t.Fatalf("updating a revoked profile: %v", err)
		}
		if _, err := d.GetProfile(ctx, "nope"); !errors.Is(err, profile.ErrNotFound) {
			t.Fatalf("GetProfile(unknown): %v", err)
		}
		list, err := d.ListProfiles(ctx, "billing")
		if err != nil || len(list) != 1 || list[0].Status != secretstore.StatusRevoked {
			t.Fatalf("ListProfiles(billing) = %+v, %v", list, err)
		}
		if all, _ := d.ListProfiles(ctx, ""); len(all) != 2 {
			t.Fatalf("ListProfiles() = %d profiles", len(all))
		}
		page, err := d.QueryAudit(ctx, AuditQuery{Actor: "cli (database)"})
		if err != nil {
			t.Fatal(err)
		}
		events := map[string]int{}
		for _, r := range page.Records {
			for _, ev := range []string{EventProfileCreate, EventProfileUpdate, EventProfileRevoke, EventProfileRotate} {
				if strings.Contains(string(r.Body), `"event":"`+ev+`"`) {
					events[ev]++
				}
			}
		}
		if events[EventProfileCreate] != 2 || events[EventProfileUpdate] != 1 || events[EventProfileRevoke] != 1 || events[EventProfileRotate] != 1 {
			t.Fatalf("server audit events %v", events)
		}
	})
}

func TestProfileRefusals(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newProfileEnv(t, addr)
		d := e.d
		wide, err := d.AddFor(ctx, "billing", newSecret("tok-w", "*.us-east-1.amazonaws.com"))
		if err != nil {
			t.Fatal(err)
		}
		revoked, err := d.AddFor(ctx, "billing", newSecret("tok-r", "revoked.example.com"))
		if err != nil || d.Revoke(ctx, revoked.ID) != nil {
			t.Fatal(err)
		}
		if _, _, err := d.CreateProfile(ctx, "billing", secretstore.NewProfile{Name: "taken", Grants: []string{e.gh.ID}}); err != nil {
			t.Fatal(err)
		}
		seq, _ := d.LastChange(ctx)
		for _, tc := range []struct {
			name   string
			app    string
			np     secretstore.NewProfile
			is     error
			saying string
		}{
			{"overlap", "billing", secretstore.NewProfile{Name: "p", Grants: []string{e.sqs.ID, wide.ID}}, profile.ErrOverlap,
				"https://sqs.us-east-1.amazonaws.com:443 overlaps grant " + wide.ID + "'s https://*.us-east-1.amazonaws.com:443"},
			{"other app's grant", "billing", secretstore.NewProfile{Name: "p", Grants: []string{e.gh.ID, e.ot.ID}}, secretstore.ErrInvalid, "not of app"},
			{"revoked grant", "billing", secretstore.NewProfile{Name: "p", Grants: []string{revoked.ID}}, secretstore.ErrInvalid, "revoked"},
			{"unknown grant", "billing", secretstore.NewProfile{Name: "p", Grants: []string{"00000000-0000-4000-8000-000000000000"}}, secretstore.ErrNotFound, ""},
			{"no grants", "billing", secretstore.NewProfile{Name: "p"}, secretstore.ErrInvalid, "at least one grant"},
			{"a grant twice", "billing", secretstore.NewProfile{Name: "p", Grants: []string{e.gh.ID, e.gh.ID}}, profile.ErrOverlap, "listed twice"},
			{"name taken", "billing", secretstore.NewProfile{Name: "taken", Grants: []string{e.sqs.ID}}, secretstore.ErrInvalid, "exists"},
			{"bad name", "billing", secretstore.NewProfile{Name: "Bad Name", Grants: []string{e.sqs.ID}}, secretstore.ErrInvalid, "profile name"},
			{"no app", "", secretstore.NewProfile{Name: "p", Grants: []string{e.sqs.ID}}, secretstore.ErrInvalid, "app"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, tok, err := d.CreateProfile(ctx, tc.app, tc.np)
				if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.saying) || tok != "" {
					t.Fatalf("CreateProfile: %v; want %v saying %q", err, tc.is, tc.saying)
				}
			})
		}
		if _, err := d.UpdateProfile(ctx, "taken", secretstore.ProfileChange{Grants: []string{e.sqs.ID, wide.ID}}); !errors.Is(err, profile.ErrOverlap) {
			t.Fatalf("UpdateProfile to overlapping grants: %v", err)
		}
		if now, _ := d.LastChange(ctx); now != seq {
			t.Fatal("a refused profile write recorded a change")
		}
		if list, _ := d.ListProfiles(ctx, ""); len(list) != 1 || len(list[0].Grants) != 1 {
			t.Fatalf("a refused write changed the profiles: %+v", list)
		}
	})
}

// TestSetPolicyKeepsProfilesDisjoint: a grant's policy may not be widened
// into another grant of a profile holding it; the refusal names both, and
// nothing is written.
func TestSetPolicyKeepsProfilesDisjoint(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newProfileEnv(t, addr)
		d := e.d
		if _, _, err := d.CreateProfile(ctx, "billing", secretstore.NewProfile{Name: "ci", Grants: []string{e.gh.ID, e.sqs.ID}}); err != nil {
			t.Fatal(err)
		}
		err := d.SetPolicy(ctx, e.gh.ID, policy.Spec{Destinations: []string{"api.github.com", "*.us-east-1.amazonaws.com"}})
		if !errors.Is(err, profile.ErrOverlap) || !errors.Is(err, secretstore.ErrInvalid) || !strings.Contains(err.Error(), "profile ci") ||
			!strings.Contains(err.Error(), "https://*.us-east-1.amazonaws.com:443 overlaps grant "+e.sqs.ID) {
			t.Fatalf("SetPolicy into an overlap: %v", err)
		}
		if gi, _ := d.GetGrant(ctx, e.gh.ID); len(gi.Policy.Destinations) != 1 {
			t.Fatalf("the refused policy was written: %v", gi.Policy.Destinations)
		}
		// Disjoint changes, and changes once the profile is revoked, are fine.
		if err := d.SetPolicy(ctx, e.gh.ID, policy.Spec{Destinations: []string{"api.github.com", "uploads.github.com"}}); err != nil {
			t.Fatal(err)
		}
		if err := d.RevokeProfile(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		if err := d.SetPolicy(ctx, e.gh.ID, policy.Spec{Destinations: []string{"*.us-east-1.amazonaws.com"}}); err != nil {
			t.Fatalf("SetPolicy with the profile revoked: %v", err)
		}
	})
}

// TestProfileMembersAndIntegrity: a revoked member keeps its destinations
// in the binding; a row edited in the database fails closed and is never
// re-signed.
func TestProfileMembersAndIntegrity(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newProfileEnv(t, addr)
		d := e.d
		_, tok, err := d.CreateProfile(ctx, "billing", secretstore.NewProfile{Name: "ci", Grants: []string{e.gh.ID, e.sqs.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Revoke(ctx, e.sqs.ID); err != nil {
			t.Fatal(err)
		}
		if b, err := d.ResolveProfileToken(ctx, "billing", tokenHex(tok)); err != nil || len(b.Members) != 2 {
			t.Fatalf("with a revoked member: %+v, %v", b, err)
		}
		if pi, _ := d.GetProfile(ctx, "ci"); pi.Members[1].Status != secretstore.StatusRevoked {
			t.Fatalf("member status %q", pi.Members[1].Status)
		}
		// Each edit on a profile of its own, so each check can fail alone.
		for name, edit := range map[string]string{
			"un-revoked":     `UPDATE profiles SET revoked = ? WHERE name = ?`,
			"another app":    `UPDATE profiles SET app = 'search', revoked = ? WHERE name = ?`,
			"grants widened": `UPDATE profiles SET grants = '["` + e.ot.ID + `"]', revoked = ? WHERE name = ?`,
		} {
			t.Run(name, func(t *testing.T) {
				pname := strings.ReplaceAll(name, " ", "-")
				_, tok, err := d.CreateProfile(ctx, "billing", secretstore.NewProfile{Name: pname, Grants: []string{e.gh.ID}})
				if err != nil {
					t.Fatal(err)
				}
				if err := d.RevokeProfile(ctx, pname); err != nil {
					t.Fatal(err)
				}
				if _, err := d.db.ExecContext(ctx, d.q(edit), false, pname); err != nil {
					t.Fatal(err)
				}
				app := "billing"
				if name == "another app" {
					app = "search"
				}
				if _, err := d.ResolveProfileToken(ctx, app, tokenHex(tok)); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("resolve after the edit: %v, want ErrStoreUnavailable", err)
				}
				if pi, _ := d.GetProfile(ctx, pname); pi.Status != secretstore.StatusUnusable || pi.Problem == "" {
					t.Fatalf("listed as %q", pi.Status)
				}
				if _, err := d.RotateProfileToken(ctx, pname); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("a tampered profile was re-signed: %v", err)
				}
			})
		}
	})
}
