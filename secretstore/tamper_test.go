package secretstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Someone with write access to the store file but not the key edits it.
// Each edit must make the affected grant unusable (ErrStoreUnavailable),
// leave the other grant working, and show up in List.
func TestHandEditedRecordsAreDetected(t *testing.T) {
	type grants struct{ target, bystander Grant }
	tests := []struct {
		name   string
		before func(t *testing.T, s *FileStore, g grants)
		edit   func(t *testing.T, doc map[string]any, g grants)
		secret bool // the edit is to the secret record, not the grant's
	}{
		{name: "destinations widened", edit: func(t *testing.T, doc map[string]any, g grants) {
			pol := record(t, doc, "grants", g.target.ID)["policy"].(map[string]any)
			pol["destinations"] = append(pol["destinations"].([]any), "evil.example")
		}},
		{name: "revoked flipped to false",
			before: func(t *testing.T, s *FileStore, g grants) {
				if err := s.Revoke(ctx, g.target.ID); err != nil {
					t.Fatal(err)
				}
			},
			edit: func(t *testing.T, doc map[string]any, g grants) {
				record(t, doc, "grants", g.target.ID)["revoked"] = false
			}},
		{name: "revoked member removed", before: func(t *testing.T, s *FileStore, g grants) {
			if err := s.Revoke(ctx, g.target.ID); err != nil {
				t.Fatal(err)
			}
		}, edit: func(t *testing.T, doc map[string]any, g grants) {
			delete(record(t, doc, "grants", g.target.ID), "revoked")
		}},
		{name: "expiry removed", before: nil, edit: func(t *testing.T, doc map[string]any, g grants) {
			record(t, doc, "grants", g.target.ID)["expires_at"] = "2999-01-01T00:00:00Z"
		}},
		{name: "grant re-pointed at another secret", edit: func(t *testing.T, doc map[string]any, g grants) {
			record(t, doc, "grants", g.target.ID)["secret_id"] = g.bystander.SecretID
		}},
		{name: "mac removed", edit: func(t *testing.T, doc map[string]any, g grants) {
			delete(record(t, doc, "grants", g.target.ID), "mac")
		}},
		{name: "unknown field added", edit: func(t *testing.T, doc map[string]any, g grants) {
			record(t, doc, "grants", g.target.ID)["methods"] = []any{"GET"}
		}},
		{name: "injection header changed", edit: func(t *testing.T, doc map[string]any, g grants) {
			record(t, doc, "secrets", g.target.SecretID)["injection"] = map[string]any{"type": "api_key", "header": "X-Leak"}
		}, secret: true},
		{name: "ciphertexts swapped", edit: func(t *testing.T, doc map[string]any, g grants) {
			a := record(t, doc, "secrets", g.target.SecretID)
			b := record(t, doc, "secrets", g.bystander.SecretID)
			a["ciphertext"], a["nonce"] = b["ciphertext"], b["nonce"]
		}, secret: true},
		{name: "version rolled back", edit: func(t *testing.T, doc map[string]any, g grants) {
			record(t, doc, "secrets", g.target.SecretID)["version"] = 7
		}, secret: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			g := grants{mustAdd(t, s, bearer("target")), mustAdd(t, s, bearer("bystander"))}
			if tc.before != nil {
				tc.before(t, s, g)
			}
			editFile(t, s.Path(), func(doc map[string]any) { tc.edit(t, doc, g) })

			fresh := openAt(t, s.Path(), mustKeyring(t, testKey(1)))
			s.refresh()
			for name, st := range map[string]*FileStore{"fresh store": fresh, "reloaded store": s} {
				r, err := st.Resolve(ctx, g.target.ID, time.Now())
				if !errors.Is(err, ErrStoreUnavailable) || r != nil {
					t.Fatalf("%s: tampered grant: err = %v, want ErrStoreUnavailable", name, err)
				}
				if _, err := st.Resolve(ctx, g.bystander.ID, time.Now()); err != nil {
					t.Fatalf("%s: the untouched grant stopped working: %v", name, err)
				}
			}
			info, err := fresh.Get(ctx, g.target.ID)
			if err != nil || info.Problem == "" {
				t.Fatalf("Get shows no problem: %+v, %v", info, err)
			}
			for _, p := range fresh.Policies() {
				if p.CoversHost("evil.example", 443) {
					t.Fatal("a tampered policy is in Policies()")
				}
			}
			// Admin calls refuse to re-sign a tampered record: that would
			// make the edit look authentic.
			err = fresh.Rotate(ctx, g.target.ID, map[string]string{"token": "new"})
			if !errors.Is(err, ErrStoreUnavailable) {
				t.Fatalf("Rotate over a tampered record: err = %v", err)
			}
			if err := fresh.Revoke(ctx, g.target.ID); !tc.secret && !errors.Is(err, ErrStoreUnavailable) {
				t.Fatalf("Revoke of a tampered grant: err = %v", err)
			}
		})
	}
}

func TestMalformedFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{"empty", "", "file is empty"},
		{"syntax", "{\n  \"version\": 1,\n  \"grants\": [}\n", "line 3, column 14"},
		{"truncated", `{"version": 1, "grants": [`, "truncated"},
		{"wrong type", `{"version": "1"}`, `"version" should be int`},
		{"unknown member", `{"version": 1, "extra": true}`, `unknown field "extra"`},
		{"no version", `{"grants": []}`, `no "version"`},
		{"future version", `{"version": 2}`, "version 2 is not supported"},
		{"trailing data", `{"version": 1} {}`, "data after the JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "grants.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenFile(path, mustKeyring(t, testKey(1)))
			if !errors.Is(err, ErrStoreUnavailable) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want it to name %s and contain %q", err, path, tc.wantErr)
			}
			if after, _ := os.ReadFile(path); string(after) != tc.content {
				t.Fatal("a malformed store file was rewritten")
			}
		})
	}
}

func TestCorruptFileFailsClosedUntilFixed(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer("tok"))
	good, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(), good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	if _, err := s.Resolve(ctx, g.ID, time.Now()); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("corrupt file: err = %v, want ErrStoreUnavailable", err)
	}
	if _, err := s.Resolve(ctx, "unknown", time.Now()); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("corrupt file, unknown grant: err = %v, want ErrStoreUnavailable", err)
	}
	// Policies (used only to choose which tunnels to terminate) stay the
	// last known ones: forgetting them would send requests to the grant's
	// host through a raw tunnel instead of to the proxy's 503.
	if len(s.Policies()) != 1 {
		t.Fatalf("%d policies after the file broke, want the last known 1", len(s.Policies()))
	}
	if _, err := s.Add(ctx, bearer("x")); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Add on a corrupt file: %v", err)
	}
	if after, _ := os.ReadFile(s.Path()); !bytes.Equal(after, good[:len(good)/2]) {
		t.Fatal("Add rewrote a corrupt file")
	}
	if err := os.WriteFile(s.Path(), good, 0o600); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	if _, err := s.Resolve(ctx, g.ID, time.Now()); err != nil {
		t.Fatalf("after fixing the file: %v", err)
	}
}

func TestMissingFileAfterOpenFailsClosed(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer("tok"))
	if err := os.Rename(s.Path(), s.Path()+".bak"); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	if _, err := s.Resolve(ctx, g.ID, time.Now()); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("err = %v, want ErrStoreUnavailable", err)
	}
	if err := os.Rename(s.Path()+".bak", s.Path()); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	if _, err := s.Resolve(ctx, g.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestWritesKeepUnreadableRecords(t *testing.T) {
	s := newStore(t)
	g := mustAdd(t, s, bearer("tok"))
	editFile(t, s.Path(), func(doc map[string]any) {
		record(t, doc, "grants", g.ID)["from_the_future"] = "x"
	})
	mustAdd(t, s, bearer("other"))
	data, _ := os.ReadFile(s.Path())
	if !bytes.Contains(data, []byte("from_the_future")) {
		t.Fatal("a write dropped a record it could not read")
	}
}
