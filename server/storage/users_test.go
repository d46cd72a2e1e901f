package storage

import (
	"context"
	"errors"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/secretstore"
)

// A made-up PHC string: storage keeps hashes, it does not check them.
const (
	hashA = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	hashB = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNob3RoZXJoYXNob3RoZXJoYXNob3RoZXI"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		alice, err := d.CreateUser(ctx, "alice", hashA)
		if err != nil || alice.Name != "alice" || alice.ID == "" || alice.DisabledAt != nil {
			t.Fatalf("CreateUser: %+v %v", alice, err)
		}
		if _, err := d.CreateUser(ctx, "bob@example.com", hashB); err != nil {
			t.Fatalf("CreateUser bob: %v", err)
		}

		for _, tc := range []struct {
			name, user, hash string
			want             error
		}{
			{"duplicate name", "alice", hashB, ErrUserExists},
			{"empty name", "", hashA, secretstore.ErrInvalid},
			{"space in name", "token ops", hashA, secretstore.ErrInvalid},
			{"name too long", string(make([]byte, 65)), hashA, secretstore.ErrInvalid},
			{"plain password as hash", "carol", "hunter2hunter2", secretstore.ErrInvalid},
			{"empty hash", "carol", "", secretstore.ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := d.CreateUser(ctx, tc.user, tc.hash); !errors.Is(err, tc.want) {
					t.Fatalf("CreateUser(%q): %v, want %v", tc.user, err, tc.want)
				}
			})
		}

		t.Run("hash", func(t *testing.T) {
			u, h, err := d.UserHash(ctx, "alice")
			if err != nil || u.ID != alice.ID || h != hashA {
				t.Fatalf("UserHash: %+v %q %v", u, h, err)
			}
			for _, name := range []string{"nobody", "", "Alice", "token ops"} {
				if _, _, err := d.UserHash(ctx, name); !errors.Is(err, ErrUserNotFound) {
					t.Errorf("UserHash(%q): %v", name, err)
				}
			}
		})

		t.Run("disable", func(t *testing.T) {
			s := testSession(t, "bob@example.com")
			if err := d.CreatePortalSession(ctx, s); err != nil {
				t.Fatal(err)
			}
			u, err := d.DisableUser(ctx, "bob@example.com")
			if err != nil || u.DisabledAt == nil {
				t.Fatalf("DisableUser: %+v %v", u, err)
			}
			if _, err := d.DisableUser(ctx, "bob@example.com"); err != nil {
				t.Fatalf("disabling twice: %v", err)
			}
			if u, _, err := d.UserHash(ctx, "bob@example.com"); err != nil || u.DisabledAt == nil {
				t.Fatalf("disabled user reads as %+v %v", u, err)
			}
			if _, err := d.GetPortalSession(ctx, s.Digest, s.CreatedAt); !errors.Is(err, ErrSessionNotFound) {
				t.Fatalf("a disabled user's session lives on: %v", err)
			}
			if _, err := d.DisableUser(ctx, "nobody"); !errors.Is(err, ErrUserNotFound) {
				t.Fatalf("DisableUser unknown: %v", err)
			}
		})

		list, err := d.ListUsers(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "alice" || list[1].DisabledAt == nil {
			t.Fatalf("ListUsers: %+v %v", list, err)
		}

		// Edited rows fail closed: a hash swapped for one the attacker knows
		// the password of, or a disabled user re-enabled in SQL.
		for _, tc := range []struct{ name, user, sql string }{
			{"hash swapped", "alice", `UPDATE users SET password_hash = '` + hashB + `' WHERE name = ?`},
			{"re-enabled", "bob@example.com", `UPDATE users SET disabled_at = NULL WHERE name = ?`},
		} {
			t.Run("tampered "+tc.name, func(t *testing.T) {
				if _, err := d.db.Exec(d.q(tc.sql), tc.user); err != nil {
					t.Fatal(err)
				}
				if _, _, err := d.UserHash(ctx, tc.user); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("UserHash of an edited row: %v", err)
				}
				if _, err := d.DisableUser(ctx, tc.user); !errors.Is(err, secretstore.ErrStoreUnavailable) {
					t.Fatalf("DisableUser re-signed an edited row: %v", err)
				}
			})
		}
		if list, _ := d.ListUsers(ctx); len(list) != 0 {
			t.Fatalf("ListUsers shows edited rows: %+v", list)
		}
	})
}
