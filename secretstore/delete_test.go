package secretstore

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDelete(t *testing.T) {
	past := time.Now().Add(-time.Minute)
	t.Run("active grant is refused", func(t *testing.T) {
		s := newStore(t)
		g := mustAdd(t, s, bearer("tok-delete-1"))
		_, err := s.Delete(ctx, g.ID, false)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "revoke it first") {
			t.Fatalf("err = %v, want ErrInvalid saying to revoke first", err)
		}
		if _, err := s.Get(ctx, g.ID); err != nil {
			t.Fatalf("refused delete removed the grant: %v", err)
		}
	})
	t.Run("unknown grant", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Delete(ctx, "00000000-0000-4000-8000-000000000000", false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("revoked grant and its secret go", func(t *testing.T) {
		s := newStore(t)
		keep := mustAdd(t, s, bearer("tok-delete-keep"))
		g := mustAdd(t, s, bearer("tok-delete-2"))
		if err := s.Revoke(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		res, err := s.Delete(ctx, g.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Grants, []string{g.ID}) || !slices.Equal(res.Secrets, []string{g.SecretID}) {
			t.Fatalf("deleted %+v, want grant %s and secret %s", res, g.ID, g.SecretID)
		}
		if _, err := s.Get(ctx, g.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after delete: %v", err)
		}
		data, _ := os.ReadFile(s.Path())
		if strings.Contains(string(data), g.SecretID) {
			t.Fatal("the secret record is still in the file")
		}
		if _, err := s.Resolve(ctx, keep.ID, time.Now()); err != nil {
			t.Fatalf("the other grant broke: %v", err)
		}
	})
	t.Run("expired grant", func(t *testing.T) {
		s := newStore(t)
		g := mustAdd(t, s, bearer("tok-delete-3"))
		addRaw(t, s, Grant{ID: "e0000000-0000-4000-8000-000000000001", SecretID: g.SecretID, Policy: g.Policy, ExpiresAt: &past, CreatedAt: past, UpdatedAt: past})
		res, err := s.Delete(ctx, "e0000000-0000-4000-8000-000000000001", false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Secrets) != 0 {
			t.Fatalf("deleted secret %v that grant %s still uses", res.Secrets, g.ID)
		}
		if _, err := s.Resolve(ctx, g.ID, time.Now()); err != nil {
			t.Fatalf("the grant sharing the secret broke: %v", err)
		}
	})
	t.Run("clones need withClones", func(t *testing.T) {
		s := newStore(t)
		g := mustAdd(t, s, bearer("tok-delete-4"))
		c := addClone(t, s, g, nil)
		cc := addClone(t, s, c, nil)
		if err := s.Revoke(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		_, err := s.Delete(ctx, g.ID, false)
		var ce *ClonesError
		if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) || !slices.Equal(ce.Clones, []string{c.ID, cc.ID}) {
			t.Fatalf("err = %v, want a ClonesError naming %s and %s", err, c.ID, cc.ID)
		}
		res, err := s.Delete(ctx, g.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Grants, []string{g.ID, c.ID, cc.ID}) || !slices.Equal(res.Secrets, []string{g.SecretID}) {
			t.Fatalf("deleted %+v", res)
		}
		if list, _ := s.List(ctx); len(list) != 0 {
			t.Fatalf("left %d grants", len(list))
		}
	})
	t.Run("revoked clone of an active parent", func(t *testing.T) {
		s := newStore(t)
		g := mustAdd(t, s, bearer("tok-delete-5"))
		c := addClone(t, s, g, nil)
		if _, err := s.Delete(ctx, c.ID, false); !errors.Is(err, ErrInvalid) {
			t.Fatalf("active clone: err = %v", err)
		}
		if err := s.Revoke(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		res, err := s.Delete(ctx, c.ID, false)
		if err != nil || len(res.Secrets) != 0 {
			t.Fatalf("res = %+v, err = %v; want the clone alone deleted", res, err)
		}
		if _, err := s.Resolve(ctx, g.ID, time.Now()); err != nil {
			t.Fatalf("parent broke: %v", err)
		}
	})
	t.Run("tampered record is refused", func(t *testing.T) {
		s := newStore(t)
		g := mustAdd(t, s, bearer("tok-delete-6"))
		if err := s.Revoke(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		editFile(t, s.Path(), func(doc map[string]any) { record(t, doc, "grants", g.ID)["name"] = "edited" })
		before, _ := os.ReadFile(s.Path())
		if _, err := s.Delete(ctx, g.ID, false); !errors.Is(err, ErrStoreUnavailable) {
			t.Fatalf("err = %v, want ErrStoreUnavailable", err)
		}
		if after, _ := os.ReadFile(s.Path()); string(after) != string(before) {
			t.Fatal("a refused delete wrote the file")
		}
	})
}

// TestDeleteKeepsUntrustedSecret: a grant that is not revoked or expired
// but unusable because its secret record fails its integrity check (a
// flipped byte, or a key missing from the ring) is not deletable: the
// secret record cannot be trusted, and deleting it cannot be undone once
// the right key is back.
func TestDeleteKeepsUntrustedSecret(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer("tok-delete-untrusted"))
	editFile(t, s.Path(), func(doc map[string]any) { record(t, doc, "secrets", g.SecretID)["version"] = 7 })
	s.reload()
	before, _ := os.ReadFile(s.Path())
	if _, err := s.Delete(ctx, g.ID, false); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("err = %v, want ErrStoreUnavailable: the grant is neither revoked nor expired and its secret record cannot be trusted", err)
	}
	if after, _ := os.ReadFile(s.Path()); string(after) != string(before) {
		t.Fatal("a refused delete wrote the file (the secret record is gone)")
	}
}
