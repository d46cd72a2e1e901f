package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/secretstore"
)

func testSession(t *testing.T, subject string) PortalSession {
	t.Helper()
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	sum := sha256.Sum256(id)
	at := time.Now().UTC().Truncate(time.Microsecond)
	return PortalSession{Digest: hex.EncodeToString(sum[:]), Subject: subject, CSRF: rand.Text(),
		CreatedAt: at, LastSeen: at, ExpiresAt: at.Add(30 * time.Minute)}
}

func TestPortalSessions(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		// Two replicas: two DBs, each its own pool, on one database.
		a, b := openT(t, addr), openT(t, addr)

		t.Run("two replicas", func(t *testing.T) {
			s := testSession(t, "alice")
			if err := a.CreatePortalSession(ctx, s); err != nil {
				t.Fatal(err)
			}
			got, err := b.GetPortalSession(ctx, s.Digest, s.CreatedAt.Add(time.Minute))
			if err != nil || got != s {
				t.Fatalf("replica b reads %+v %v, want %+v", got, err, s)
			}
			seen := s.CreatedAt.Add(10 * time.Minute)
			if err := b.TouchPortalSession(ctx, s.Digest, seen, seen.Add(30*time.Minute)); err != nil {
				t.Fatal(err)
			}
			got, err = a.GetPortalSession(ctx, s.Digest, s.CreatedAt.Add(35*time.Minute))
			if err != nil || !got.LastSeen.Equal(seen) {
				t.Fatalf("replica a after b's touch: %+v %v", got, err)
			}
			if err := b.DeletePortalSession(ctx, s.Digest); err != nil {
				t.Fatal(err)
			}
			if _, err := a.GetPortalSession(ctx, s.Digest, seen); !errors.Is(err, ErrSessionNotFound) {
				t.Fatalf("logout on b, still live on a: %v", err)
			}
			// A touch racing the logout does not bring the row back.
			if err := a.TouchPortalSession(ctx, s.Digest, seen, seen.Add(time.Hour)); !errors.Is(err, ErrSessionNotFound) {
				t.Fatalf("touch after delete: %v", err)
			}
		})

		t.Run("expiry", func(t *testing.T) {
			s := testSession(t, "alice")
			if err := a.CreatePortalSession(ctx, s); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				at   time.Time
				live bool
			}{
				{"a microsecond before", s.ExpiresAt.Add(-time.Microsecond), true},
				{"at expiry", s.ExpiresAt, false},
				{"earlier again: that read deleted it", s.ExpiresAt.Add(-time.Second), false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := b.GetPortalSession(ctx, s.Digest, tc.at)
					if tc.live != (err == nil) || (!tc.live && !errors.Is(err, ErrSessionNotFound)) {
						t.Fatalf("Get at %s: %v", tc.at, err)
					}
				})
			}
		})

		t.Run("sweep", func(t *testing.T) {
			old, live := testSession(t, "alice"), testSession(t, "bob")
			old.CreatedAt, old.LastSeen, old.ExpiresAt = old.CreatedAt.Add(-2*time.Hour), old.LastSeen.Add(-2*time.Hour), old.ExpiresAt.Add(-2*time.Hour)
			for _, s := range []PortalSession{live, old} {
				if err := a.CreatePortalSession(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			n, err := b.DeleteExpiredPortalSessions(ctx, live.CreatedAt)
			if err != nil || n != 1 {
				t.Fatalf("swept %d, %v; want 1", n, err)
			}
			if _, err := a.GetPortalSession(ctx, live.Digest, live.CreatedAt); err != nil {
				t.Fatalf("the live session was swept: %v", err)
			}
			// A login sweeps too, so rows nobody comes back for do not pile up.
			if err := a.CreatePortalSession(ctx, old); err != nil {
				t.Fatal(err)
			}
			if err := b.CreatePortalSession(ctx, testSession(t, "carol")); err != nil {
				t.Fatal(err)
			}
			var left int
			if err := a.db.QueryRow(a.q(`SELECT COUNT(*) FROM portal_sessions WHERE digest = ?`), old.Digest).Scan(&left); err != nil || left != 0 {
				t.Fatalf("an expired session outlived a login: %d %v", left, err)
			}
		})

		t.Run("refused input", func(t *testing.T) {
			for name, mod := range map[string]func(*PortalSession){
				"raw id as digest":  func(s *PortalSession) { s.Digest = rand.Text() },
				"no subject":        func(s *PortalSession) { s.Subject = "" },
				"no csrf":           func(s *PortalSession) { s.CSRF = "" },
				"expires at create": func(s *PortalSession) { s.ExpiresAt = s.LastSeen },
			} {
				s := testSession(t, "alice")
				mod(&s)
				if err := a.CreatePortalSession(ctx, s); !errors.Is(err, secretstore.ErrInvalid) {
					t.Errorf("%s: %v", name, err)
				}
			}
		})

		// Rows edited in SQL fail closed: an inserted session, or one whose
		// expiry or subject was changed, is unknown.
		for _, tc := range []struct{ name, sql string }{
			{"extended", `UPDATE portal_sessions SET expires_at = expires_at + 86400000000 WHERE digest = ?`},
			{"subject changed", `UPDATE portal_sessions SET subject = 'token root' WHERE digest = ?`},
			{"no mac", `UPDATE portal_sessions SET mac = '' WHERE digest = ?`},
		} {
			t.Run("tampered "+tc.name, func(t *testing.T) {
				s := testSession(t, "alice")
				if err := a.CreatePortalSession(ctx, s); err != nil {
					t.Fatal(err)
				}
				if _, err := a.db.Exec(a.q(tc.sql), s.Digest); err != nil {
					t.Fatal(err)
				}
				if _, err := b.GetPortalSession(ctx, s.Digest, s.CreatedAt); !errors.Is(err, ErrSessionNotFound) {
					t.Fatalf("edited row: %v", err)
				}
				if err := b.TouchPortalSession(ctx, s.Digest, s.CreatedAt, s.ExpiresAt); !errors.Is(err, ErrSessionNotFound) {
					t.Fatalf("touch re-signed an edited row: %v", err)
				}
			})
		}
	})
}

// TestRevokedTokenEndsItsSessions: revoking an admin token logs out, on
// every replica, whoever logged in to the portal with it; other people's
// sessions stay.
func TestRevokedTokenEndsItsSessions(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		a, b := openT(t, addr), openT(t, addr)
		tok, _, err := a.CreateToken(ctx, NewToken{Kind: TokenAdmin, Name: "ops"})
		if err != nil {
			t.Fatal(err)
		}
		withToken := testSession(t, TokenSessionSubject("ops"))
		other := testSession(t, "alice")
		for _, s := range []PortalSession{withToken, other} {
			if err := a.CreatePortalSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		at := withToken.CreatedAt.Add(time.Minute)
		if _, err := a.GetPortalSession(ctx, withToken.Digest, at); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("session opened with the revoked token: %v, want ErrSessionNotFound", err)
		}
		if _, err := a.GetPortalSession(ctx, other.Digest, at); err != nil {
			t.Fatalf("another user's session ended too: %v", err)
		}
	})
}
