package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

var ctx = context.Background()

// newStore opens a store in a fresh directory with key 1.
func newStore(t testing.TB, opts ...Options) *FileStore {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "grants.json"), mustKeyring(t, testKey(1)), opts...)
}

func openAt(t testing.TB, path string, kr *Keyring, opts ...Options) *FileStore {
	t.Helper()
	s, err := OpenFile(path, kr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bearer is a valid NewSecret for a bearer token sent to hosts.
func bearer(token string, hosts ...string) NewSecret {
	if len(hosts) == 0 {
		hosts = []string{"api.example.com"}
	}
	return NewSecret{
		Spec:   inject.Spec{Type: inject.TypeBearer},
		Fields: inject.Fields{"token": token},
		Name:   "test",
		Policy: policy.Spec{Destinations: hosts},
	}
}

func mustAdd(t testing.TB, s *FileStore, ns NewSecret) Grant {
	t.Helper()
	g, err := s.Add(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// addClone appends a signed clone of parent, as the clone command will.
func addClone(t testing.TB, s *FileStore, parent Grant, expires *time.Time) Grant {
	t.Helper()
	g := parent
	g.ID = uuid.NewString()
	g.Parent = parent.ID
	g.ExpiresAt = expires
	addRaw(t, s, g)
	return g
}

// addRaw appends a signed grant record exactly as given.
func addRaw(t testing.TB, s *FileStore, g Grant) {
	t.Helper()
	raw, err := s.keys.signGrant(g)
	if err != nil {
		t.Fatal(err)
	}
	err = s.update(ctx, func(f *storeFile) (bool, error) {
		f.Grants = append(f.Grants, raw)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// editFile edits the store file by hand, as an attacker with write access
// to it would: decode, change, encode, write in place.
func editFile(t testing.TB, path string, edit func(doc map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// record returns the record with the given id from a decoded file.
func record(t testing.TB, doc map[string]any, list, id string) map[string]any {
	t.Helper()
	for _, r := range doc[list].([]any) {
		if m := r.(map[string]any); m["id"] == id {
			return m
		}
	}
	t.Fatalf("no %s record %s", list, id)
	return nil
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newTestCache() *expirable.LRU[cacheKey, *opened] {
	return expirable.NewLRU[cacheKey, *opened](10, nil, 0)
}

// isStoreError reports whether err is one Resolve may return.
func isStoreError(err error) bool {
	return errors.Is(err, ErrGrantUnavailable) || errors.Is(err, ErrStoreUnavailable)
}
