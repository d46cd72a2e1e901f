package secretstore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

func TestAddAndResolve(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer(sentinel))
	if g.ID == g.SecretID || len(g.ID) != 36 || g.ID[14] != '4' {
		t.Fatalf("grant id %q / secret id %q: want two distinct UUIDv4s", g.ID, g.SecretID)
	}
	r, err := s.Resolve(ctx, g.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Fields["token"] != sentinel || r.Injector == nil || r.Grant.ID != g.ID || r.Secret.Version != 1 {
		t.Fatalf("resolved %+v", r)
	}
	if d := r.Policy.Decide(policy.Input{Scheme: "https", Host: "api.example.com", Port: 443}); !d.Allowed {
		t.Fatalf("policy denies its own destination: %s", d.Reason)
	}
	if _, err := s.Resolve(ctx, g.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.CacheHits != 1 || st.CacheMisses != 1 || st.CacheSize != 1 {
		t.Fatalf("stats %+v, want 1 hit, 1 miss, size 1", st)
	}
	// A second store on the same file sees the grant too.
	other := openAt(t, s.Path(), mustKeyring(t, testKey(1)))
	if _, err := other.Resolve(ctx, g.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestResolvedNeverPrintsSecret(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer(sentinel))
	r, err := s.Resolve(ctx, g.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if forms := r.EchoForms(); len(forms) == 0 {
		t.Fatal("no echo forms: the check below would not cover them")
	}
	for _, out := range []string{fmt.Sprint(r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r), fmt.Sprint(s)} {
		if strings.Contains(out, sentinel) {
			t.Fatalf("formatted value contains the secret: %s", out)
		}
	}
}

func TestStoreFileHoldsNoSecret(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer(sentinel))
	if err := s.Rotate(ctx, g.ID, inject.Fields{"token": sentinel + "-2"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{sentinel, base64.StdEncoding.EncodeToString([]byte(sentinel))[:20]} {
		if bytes.Contains(data, []byte(needle)) {
			t.Fatalf("store file contains the secret (%q)", needle)
		}
	}
	for _, name := range []string{s.Path(), s.Path() + ".lock"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

func TestAddRefusesBadInput(t *testing.T) {
	past := time.Now().Add(-time.Second)
	tests := []struct {
		name string
		edit func(ns *NewSecret)
	}{
		{"unknown type", func(ns *NewSecret) { ns.Spec.Type = "magic" }},
		{"reserved header", func(ns *NewSecret) { ns.Spec.Header = "Host" }},
		{"missing field", func(ns *NewSecret) { ns.Fields = inject.Fields{} }},
		{"extra field", func(ns *NewSecret) { ns.Fields["extra"] = sentinel }},
		{"CRLF in value", func(ns *NewSecret) { ns.Fields["token"] = sentinel + "\r\nX-Evil: 1" }},
		{"no destination", func(ns *NewSecret) { ns.Policy.Destinations = nil }},
		{"bad destination", func(ns *NewSecret) { ns.Policy.Destinations = []string{"https://a.com/path"} }},
		{"long name", func(ns *NewSecret) { ns.Name = strings.Repeat("n", 201) }},
		{"control char in name", func(ns *NewSecret) { ns.Name = "a\x1b[31m" }},
		{"newline in label", func(ns *NewSecret) { ns.Labels = []string{"ok", "a\nb"} }},
		{"expiry in the past", func(ns *NewSecret) { ns.ExpiresAt = &past }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			before, _ := os.ReadFile(s.Path())
			ns := bearer(sentinel)
			tc.edit(&ns)
			_, err := s.Add(ctx, ns)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if strings.Contains(err.Error(), sentinel) {
				t.Fatalf("error contains the secret: %v", err)
			}
			after, _ := os.ReadFile(s.Path())
			if !bytes.Equal(before, after) {
				t.Fatal("a refused Add changed the store file")
			}
		})
	}
	t.Run("200 characters is fine", func(t *testing.T) {
		ns := bearer("tok")
		ns.Name = strings.Repeat("é", 200)
		mustAdd(t, newStore(t), ns)
	})
}

func TestResolveUnavailable(t *testing.T) {
	s := newStore(t)
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	live := mustAdd(t, s, bearer("a"))
	revoked := mustAdd(t, s, bearer("b"))
	if err := s.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	exp := now.Add(-time.Hour)
	expired := addClone(t, s, live, &exp)

	tests := []struct {
		name, id string
	}{
		{"unknown", "00000000-0000-4000-8000-000000000000"},
		{"empty", ""},
		{"revoked", revoked.ID},
		{"expired", expired.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.Resolve(ctx, tc.id, now)
			if err != ErrGrantUnavailable || r != nil {
				// The bare sentinel: no detail that tells the cases apart.
				t.Fatalf("err = %v, want exactly ErrGrantUnavailable", err)
			}
		})
	}
	if st := s.Stats(); st.CacheMisses != 0 {
		t.Fatalf("an unavailable grant was decrypted (%d misses)", st.CacheMisses)
	}
}

func TestExpiryBoundary(t *testing.T) {
	s := newStore(t)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	ns := bearer("tok")
	ns.ExpiresAt = &at
	g := mustAdd(t, s, ns)
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"one second before", at.Add(-time.Second), true},
		{"one nanosecond before", at.Add(-time.Nanosecond), true},
		{"exactly at", at, false},
		{"exactly at, other zone", at.In(time.FixedZone("X", 5*3600)), false},
		{"one second after", at.Add(time.Second), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Resolve(ctx, g.ID, tc.now)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrGrantUnavailable)) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestClones(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		setup   func(t *testing.T, s *FileStore, parent Grant) Grant // returns the clone
		wantErr error
	}{
		{"healthy clone", func(t *testing.T, s *FileStore, p Grant) Grant { return addClone(t, s, p, nil) }, nil},
		{"parent revoked", func(t *testing.T, s *FileStore, p Grant) Grant {
			c := addClone(t, s, p, nil)
			if err := s.Revoke(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			return c
		}, ErrGrantUnavailable},
		{"grandparent revoked", func(t *testing.T, s *FileStore, p Grant) Grant {
			c := addClone(t, s, addClone(t, s, p, nil), nil)
			if err := s.Revoke(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			return c
		}, ErrGrantUnavailable},
		{"parent expired", func(t *testing.T, s *FileStore, p Grant) Grant {
			past := now.Add(-time.Minute)
			return addClone(t, s, addClone(t, s, p, &past), nil)
		}, ErrGrantUnavailable},
		{"parent unknown", func(t *testing.T, s *FileStore, p Grant) Grant {
			p.ID = "00000000-0000-4000-8000-000000000000"
			return addClone(t, s, p, nil)
		}, ErrGrantUnavailable},
		{"parents in a loop", func(t *testing.T, s *FileStore, p Grant) Grant {
			a, b := p, p
			a.ID, b.ID = "loop-a", "loop-b"
			a.Parent, b.Parent = b.ID, a.ID
			addRaw(t, s, a)
			addRaw(t, s, b)
			return a
		}, ErrStoreUnavailable},
		{"parent tampered", func(t *testing.T, s *FileStore, p Grant) Grant {
			c := addClone(t, s, p, nil)
			editFile(t, s.Path(), func(doc map[string]any) { record(t, doc, "grants", p.ID)["name"] = "edited" })
			s.refresh()
			return c
		}, ErrStoreUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			parent := mustAdd(t, s, bearer("tok"))
			clone := tc.setup(t, s, parent)
			_, err := s.Resolve(ctx, clone.ID, now)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer("old-value"))
	clone := addClone(t, s, g, nil)
	if _, err := s.Resolve(ctx, g.ID, time.Now()); err != nil { // warm the cache
		t.Fatal(err)
	}
	if err := s.Rotate(ctx, g.ID, inject.Fields{"token": "new-value"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{g.ID, clone.ID} {
		r, err := s.Resolve(ctx, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if r.Fields["token"] != "new-value" || r.Secret.Version != 2 || r.Grant.ID != id {
			t.Fatalf("after rotation: version %d, grant %s, old value served: %v", r.Secret.Version, r.Grant.ID, r.Fields["token"] == "old-value")
		}
	}
	if st := s.Stats(); st.CacheSize != 1 {
		t.Fatalf("cache holds %d entries; the rotated-away version should be gone", st.CacheSize)
	}

	t.Run("bad fields", func(t *testing.T) {
		err := s.Rotate(ctx, g.ID, inject.Fields{"token": sentinel + "\n"})
		if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), sentinel) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown grant", func(t *testing.T) {
		if err := s.Rotate(ctx, "nope", inject.Fields{"token": "x"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestRevoke(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer("tok"))
	if _, err := s.Resolve(ctx, g.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // twice is not an error
		if err := s.Revoke(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Resolve(ctx, g.ID, time.Now()); err != ErrGrantUnavailable {
		t.Fatalf("err = %v", err)
	}
	if st := s.Stats(); st.CacheSize != 0 {
		t.Fatal("revoked secret still cached")
	}
	info, err := s.Get(ctx, g.ID)
	if err != nil || !info.Revoked || !info.UpdatedAt.After(info.CreatedAt) && !info.UpdatedAt.Equal(info.CreatedAt) {
		t.Fatalf("Get: %+v, %v", info, err)
	}
	if err := s.Revoke(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestListAndGet(t *testing.T) {
	s := newStore(t)
	a := mustAdd(t, s, bearer("a"))
	b := mustAdd(t, s, bearer("b", "api.example.com", "*.example.org"))
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("list %+v", list)
	}
	if got := list[1]; got.Problem != "" || got.Secret.Spec.Type != "bearer" || got.Secret.Fields[0] != "token" || len(got.Policy.Destinations) != 2 {
		t.Fatalf("info %+v", got)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if len(s.Policies()) != 2 {
		t.Fatalf("%d policies, want 2", len(s.Policies()))
	}
	if err := s.Revoke(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if len(s.Policies()) != 2 {
		t.Fatalf("%d policies after a revocation, want 2 (revoked grants keep their hosts terminated)", len(s.Policies()))
	}
}

func TestCacheBounded(t *testing.T) {
	s := newStore(t, Options{CacheSize: 2})
	for i := 0; i < 3; i++ {
		g := mustAdd(t, s, bearer(fmt.Sprint("tok", i)))
		if _, err := s.Resolve(ctx, g.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.CacheSize != 2 || st.CacheMisses != 3 {
		t.Fatalf("stats %+v, want size 2 after 3 misses", st)
	}
}

func TestOpenFileCreatesStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	path := filepath.Join(dir, "grants.json")
	s := openAt(t, path, mustKeyring(t, testKey(1)))
	if list, err := s.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("new store: %v, %v", list, err)
	}
	for name, want := range map[string]fs.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(name)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v, %v; want mode %v", name, fi.Mode(), err, want)
		}
	}
	if err := Create(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing store: %v, want fs.ErrExist", err)
	}
	other := filepath.Join(dir, "new.json")
	if err := Create(other); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(other, nil); err == nil {
		t.Fatal("OpenFile without a keyring succeeded")
	}
}

func TestKeyringRotationInStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grants.json")
	a := openAt(t, path, mustKeyring(t, testKey(1)))
	old := mustAdd(t, a, bearer("old"))

	ab := openAt(t, path, mustKeyring(t, testKey(1), testKey(2)))
	if r, err := ab.Resolve(ctx, old.ID, time.Now()); err != nil || r.Fields["token"] != "old" {
		t.Fatalf("record sealed with key A after B was appended: %v", err)
	}
	fresh := mustAdd(t, ab, bearer("new"))
	info, _ := ab.Get(ctx, fresh.ID)
	if info.Secret.KeyID != ab.keys.ActiveID() || info.Secret.KeyID == a.keys.ActiveID() {
		t.Fatalf("new secret sealed with %s, want the new key", info.Secret.KeyID)
	}
	if err := ab.Rotate(ctx, old.ID, inject.Fields{"token": "old2"}); err != nil {
		t.Fatal(err)
	}
	if info, _ := ab.Get(ctx, old.ID); info.Secret.KeyID != ab.keys.ActiveID() {
		t.Fatalf("rotated secret sealed with %s, want the active key", info.Secret.KeyID)
	}

	// A store opened with a key that never sealed anything here: no
	// record passes, so the store refuses to open (the proxy does not
	// start, /readyz would fail) and nothing opens as garbage.
	if _, err := OpenFile(path, mustKeyring(t, testKey(3))); !errors.Is(err, ErrStoreUnavailable) || !strings.Contains(err.Error(), "different master key") {
		t.Fatalf("wrong key: err = %v, want ErrStoreUnavailable naming the key", err)
	}
}
