package secretstore

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/profile"
)

func TestProfileLifecycle(t *testing.T) {
	s := newStore(t)
	gh := mustAdd(t, s, bearer("tok-gh", "api.github.com"))
	aws := mustAdd(t, s, bearer("tok-aws", "*.us-east-1.amazonaws.com"))
	p, tok, err := s.CreateProfile(ctx, NewProfile{Name: "ci", Grants: []string{gh.ID, aws.ID}, DenyUnmatched: true})
	if err != nil {
		t.Fatal(err)
	}
	if !profile.LooksLikeToken(tok.Reveal()) || p.Name != "ci" || !p.DenyUnmatched {
		t.Fatalf("profile %+v", p)
	}
	// Only the digest is on disk.
	data, err := os.ReadFile(ProfilesPath(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(tok.Reveal())) || bytes.Contains(data, []byte(tok.Reveal()[len(profile.TokenPrefix):])) {
		t.Fatal("the token is stored in the profiles file")
	}
	if fi, _ := os.Stat(ProfilesPath(s.Path())); fi.Mode().Perm() != 0o600 {
		t.Fatalf("profiles file mode %v", fi.Mode().Perm())
	}

	b, err := s.ResolveProfileToken(ctx, profile.DigestOf(tok.Reveal()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := b.Select("https", "sqs.us-east-1.amazonaws.com", 443); g != aws.ID || b.Name != "ci" || !b.DenyUnmatched {
		t.Fatalf("binding picked %q for SQS", g)
	}
	if b2, err := s.ResolveProfileName(ctx, "ci", time.Now()); err != nil || b2 != b {
		t.Fatalf("by name: %v (the binding should be the cached one)", err)
	}

	// Another process's store sees the change after a refresh (the proxy's poll).
	other := openAt(t, s.Path(), s.keys)
	newTok, err := s.RotateProfileToken(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	other.Refresh()
	for name, tc := range map[string]struct {
		tok  string
		want error
	}{
		"the old token after rotation": {tok.Reveal(), ErrGrantUnavailable},
		"an unknown token":             {"alt_p_" + strings.Repeat("A", 43), ErrGrantUnavailable},
		"the new token":                {newTok.Reveal(), nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := other.ResolveProfileToken(ctx, profile.DigestOf(tc.tok), time.Now())
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}

	off := false
	if p, err = s.UpdateProfile(ctx, "ci", ProfileChange{Grants: []string{gh.ID}, DenyUnmatched: &off}); err != nil || p.DenyUnmatched || len(p.Grants) != 1 {
		t.Fatalf("update: %+v %v", p, err)
	}
	if err := s.RevokeProfile(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	other.Refresh()
	if _, err := other.ResolveProfileToken(ctx, profile.DigestOf(newTok.Reveal()), time.Now()); !errors.Is(err, ErrGrantUnavailable) {
		t.Fatalf("revoked profile: %v", err)
	}
	if _, err := other.ResolveProfileName(ctx, "ci", time.Now()); !errors.Is(err, ErrGrantUnavailable) {
		t.Fatalf("revoked profile by name: %v", err)
	}
	if _, err := s.RotateProfileToken(ctx, "ci"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rotating a revoked profile: %v", err)
	}
	infos, err := s.ListProfiles(ctx)
	if err != nil || len(infos) != 1 || infos[0].Status != StatusRevoked || infos[0].Members[0].Status != StatusActive {
		t.Fatalf("list: %+v %v", infos, err)
	}
	if _, _, err := s.CreateProfile(ctx, NewProfile{Name: "ci", Grants: []string{gh.ID}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a second profile named ci: %v", err)
	}
}

func TestCreateProfileRefuses(t *testing.T) {
	s := newStore(t)
	gh := mustAdd(t, s, bearer("a", "api.github.com"))
	ghToo := mustAdd(t, s, bearer("b", "api.github.com", "uploads.github.com"))
	wild := mustAdd(t, s, bearer("c", "*.github.com"))
	deep := mustAdd(t, s, bearer("d", "*.*.github.com"))
	plain := mustAdd(t, s, bearer("e", "http://api.github.com"))
	revoked := mustAdd(t, s, bearer("f", "revoked.example.com"))
	if err := s.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		p      NewProfile
		is     error
		naming string
	}{
		{"same host", NewProfile{Name: "a", Grants: []string{gh.ID, ghToo.ID}}, profile.ErrOverlap, "https://api.github.com:443 overlaps"},
		{"a wildcard over an exact host", NewProfile{Name: "a", Grants: []string{gh.ID, wild.ID}}, profile.ErrOverlap, "overlaps grant " + wild.ID + "'s https://*.github.com:443"},
		{"http upgraded to the https one", NewProfile{Name: "a", Grants: []string{gh.ID, plain.ID}}, profile.ErrOverlap, "http://api.github.com:80"},
		{"a revoked grant", NewProfile{Name: "a", Grants: []string{gh.ID, revoked.ID}}, ErrInvalid, "revoked"},
		{"an unknown grant", NewProfile{Name: "a", Grants: []string{"6f1c6f2e-93b4-4c58-9a39-5bb4a2b7c1d2"}}, ErrNotFound, ""},
		{"no grant", NewProfile{Name: "a"}, ErrInvalid, "at least one grant"},
		{"a bad name", NewProfile{Name: "Bad Name", Grants: []string{gh.ID}}, ErrInvalid, "profile name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.CreateProfile(ctx, tt.p)
			if !errors.Is(err, tt.is) || !strings.Contains(fmtErr(err), tt.naming) {
				t.Fatalf("err = %v, want %v naming %q", err, tt.is, tt.naming)
			}
		})
	}
	if _, err := os.Stat(ProfilesPath(s.Path())); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused profile wrote the profiles file")
	}
	t.Run("wildcards of other depths do not overlap", func(t *testing.T) {
		if _, _, err := s.CreateProfile(ctx, NewProfile{Name: "ok", Grants: []string{wild.ID, deep.ID}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an update that overlaps is refused", func(t *testing.T) {
		if _, err := s.UpdateProfile(ctx, "ok", ProfileChange{Grants: []string{wild.ID, deep.ID, gh.ID}}); !errors.Is(err, profile.ErrOverlap) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a grant policy that would overlap is refused", func(t *testing.T) {
		err := s.SetPolicy(ctx, deep.ID, policy.Spec{Destinations: []string{"*.*.github.com", "api.github.com"}})
		if !errors.Is(err, profile.ErrOverlap) || !strings.Contains(err.Error(), "profile ok") {
			t.Fatalf("err = %v", err)
		}
		if err := s.SetPolicy(ctx, deep.ID, policy.Spec{Destinations: []string{"*.*.github.com", "github.io"}}); err != nil {
			t.Fatalf("a policy that does not overlap: %v", err)
		}
	})
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestProfileRecordsAreTamperEvident(t *testing.T) {
	s := newStore(t)
	gh := mustAdd(t, s, bearer("a", "api.github.com"))
	evil := mustAdd(t, s, bearer("b", "evil.example.com"))
	_, tok, err := s.CreateProfile(ctx, NewProfile{Name: "ci", Grants: []string{gh.ID}})
	if err != nil {
		t.Fatal(err)
	}
	path := ProfilesPath(s.Path())
	orig, _ := os.ReadFile(path)
	edit := func(t *testing.T, change func(rec map[string]any)) {
		var f struct {
			Version  int              `json:"version"`
			Profiles []map[string]any `json:"profiles"`
		}
		if err := json.Unmarshal(orig, &f); err != nil {
			t.Fatal(err)
		}
		change(f.Profiles[0])
		out, _ := json.Marshal(f)
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		s.Refresh()
	}
	for name, change := range map[string]func(rec map[string]any){
		"a grant added":          func(r map[string]any) { r["grants"] = []string{gh.ID, evil.ID} },
		"deny_unmatched flipped": func(r map[string]any) { r["deny_unmatched"] = true },
		"another token's digest": func(r map[string]any) { d := profile.DigestOf("alt_p_x"); r["token_sha256"] = d[:] },
		"an unknown field":       func(r map[string]any) { r["allow_all"] = true },
		"no mac":                 func(r map[string]any) { delete(r, "mac") },
	} {
		t.Run(name, func(t *testing.T) {
			edit(t, change)
			_, err := s.ResolveProfileToken(ctx, profile.DigestOf(tok.Reveal()), time.Now())
			if !errors.Is(err, ErrGrantUnavailable) {
				t.Fatalf("by token: %v, want the unknown-token answer (an untrusted digest matches nothing)", err)
			}
			if _, err := s.ResolveProfileName(ctx, "ci", time.Now()); !errors.Is(err, ErrStoreUnavailable) {
				t.Fatalf("by name: %v, want ErrStoreUnavailable", err)
			}
			if _, err := s.RotateProfileToken(ctx, "ci"); !errors.Is(err, ErrStoreUnavailable) {
				t.Fatalf("re-signing a tampered record: %v", err)
			}
		})
	}
	t.Run("a record signed as a grant does not verify as a profile", func(t *testing.T) {
		var rec profileRecord
		if err := json.Unmarshal(orig[bytes.Index(orig, []byte("{\n      \"id\"")):bytes.LastIndex(orig, []byte("}\n  ]"))+1], &rec); err != nil {
			t.Fatal(err)
		}
		canon, _ := rec.canonical()
		rec.MAC = s.keys.sign(kindGrant, canon)
		raw, _ := json.Marshal(rec)
		if _, err := s.keys.openProfile(raw); err == nil {
			t.Fatal("a grant MAC vouched for a profile record")
		}
	})
	t.Run("restored, it resolves again", func(t *testing.T) {
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		s.Refresh()
		if _, err := s.ResolveProfileToken(ctx, profile.DigestOf(tok.Reveal()), time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an unreadable profiles file leaves grants alone", func(t *testing.T) {
		if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Refresh()
		if _, err := s.ResolveProfileToken(ctx, profile.DigestOf(tok.Reveal()), time.Now()); !errors.Is(err, ErrStoreUnavailable) {
			t.Fatalf("profile: %v", err)
		}
		if _, err := s.Resolve(ctx, gh.ID, time.Now()); err != nil {
			t.Fatalf("grant: %v", err)
		}
	})
}

func TestProfileWithRevokedOrDeletedGrant(t *testing.T) {
	s := newStore(t)
	gh := mustAdd(t, s, bearer("a", "api.github.com"))
	other := mustAdd(t, s, bearer("b", "other.example.com"))
	_, tok, err := s.CreateProfile(ctx, NewProfile{Name: "ci", Grants: []string{gh.ID, other.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, gh.ID); err != nil {
		t.Fatal(err)
	}
	b, err := s.ResolveProfileToken(ctx, profile.DigestOf(tok.Reveal()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The revoked grant still claims its host: the proxy then answers
	// grant_unavailable from Resolve, rather than passing the request on.
	if g, _ := b.Select("https", "api.github.com", 443); g != gh.ID {
		t.Fatalf("revoked member: Select = %q", g)
	}
	if _, err := s.Delete(ctx, gh.ID, false); err != nil {
		t.Fatal(err)
	}
	b, err = s.ResolveProfileToken(ctx, profile.DigestOf(tok.Reveal()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := b.Select("https", "api.github.com", 443); g != "" {
		t.Fatalf("deleted member: Select = %q", g)
	}
	info, err := s.GetProfile(ctx, "ci")
	if err != nil || info.Members[0].Status != StatusMissing || info.Members[1].Status != StatusActive {
		t.Fatalf("show: %+v %v", info, err)
	}
}

// TestProfileTokenLookupComparesEveryDigest: a lookup compares the
// presented digest with every stored one in constant time, whether it
// matches the first, the last or none.
func TestProfileTokenLookupComparesEveryDigest(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer("a", "api.github.com"))
	var toks []profile.Token
	for i := range 5 {
		_, tok, err := s.CreateProfile(ctx, NewProfile{Name: fmt.Sprintf("p%d", i), Grants: []string{g.ID}})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	calls := 0
	defer func(f func(a, b []byte) int) { constantTimeCompare = f }(constantTimeCompare)
	constantTimeCompare = func(a, b []byte) int { calls++; return subtle.ConstantTimeCompare(a, b) }
	for name, tok := range map[string]string{"the first": toks[0].Reveal(), "the last": toks[4].Reveal(), "none": "alt_p_" + strings.Repeat("x", 43)} {
		t.Run(name, func(t *testing.T) {
			calls = 0
			_, _ = s.ResolveProfileToken(ctx, profile.DigestOf(tok), time.Now())
			if calls != 5 {
				t.Fatalf("%d constant-time comparisons, want 5 (one per stored digest)", calls)
			}
		})
	}
}
