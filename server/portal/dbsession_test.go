package portal

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testkeys"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
)

// The portal on the real storage, on both engines: SQLite always,
// PostgreSQL when ALTER_TEST_DATABASE_URL is set (as server/storage's
// tests), each test in a fresh schema.

var dbTestKeyring = testkeys.Fixed(5)

// openDB opens a storage.DB on addr: call it twice for two replicas.
func openDB(t *testing.T, addr string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), addr, dbTestKeyring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

const alicePassword = "correct horse battery staple"

func addUser(t *testing.T, db storage.Storage, name, password string) {
	t.Helper()
	h, err := HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(context.Background(), name, h); err != nil {
		t.Fatal(err)
	}
}

func TestDBUsers(t *testing.T) {
	for _, e := range testdb.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			addr := e.Fresh(t)
			raw := testdb.Raw(t, addr)
			db := openDB(t, addr)
			addUser(t, db, "alice", alicePassword)
			addUser(t, db, "bob", alicePassword)
			addUser(t, db, "mallory", alicePassword)
			if _, err := db.DisableUser(t.Context(), "bob"); err != nil {
				t.Fatal(err)
			}
			// mallory's row gets the hash of a password the attacker chose.
			planted, _ := HashPassword("the attacker's password")
			if _, err := raw.Exec(rebind(e.Name, `UPDATE users SET password_hash = ? WHERE name = ?`), planted, "mallory"); err != nil {
				t.Fatal(err)
			}
			users := DBUsers{Store: db}
			for _, tc := range []struct {
				name, user, password string
				ok, badCredentials   bool // badCredentials: a plain "not accepted", not a logged 503
			}{
				{"right password", "alice", alicePassword, true, false},
				{"wrong password", "alice", alicePassword + "!", false, true},
				{"unknown user", "nobody", alicePassword, false, true},
				{"malformed name", "token ops", alicePassword, false, true},
				{"disabled user, right password", "bob", alicePassword, false, true},
				{"tampered hash row, planted password", "mallory", "the attacker's password", false, false},
				{"tampered hash row, old password", "mallory", alicePassword, false, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					name, err := users.Check(t.Context(), tc.user, tc.password)
					if tc.ok {
						if err != nil || name != tc.user {
							t.Fatalf("Check: %q %v", name, err)
						}
						return
					}
					if err == nil || name != "" {
						t.Fatalf("Check accepted: %q", name)
					}
					if errors.Is(err, ErrBadCredentials) != tc.badCredentials {
						t.Fatalf("Check: %v; want ErrBadCredentials %v", err, tc.badCredentials)
					}
				})
			}

			// An unknown name costs a hash, as a wrong password does. Loose
			// bounds (the hash is ~30 ms, the lookup well under 1 ms), the
			// fastest of a few runs, so a busy machine does not fail it.
			fastest := func(user string) time.Duration {
				best := time.Hour
				for range 3 {
					start := time.Now()
					_, _ = users.Check(t.Context(), user, "wrong password!")
					best = min(best, time.Since(start))
				}
				return best
			}
			if unknown, wrong := fastest("nobody"), fastest("alice"); unknown < wrong/3 {
				t.Errorf("an unknown user is checked in %s, a wrong password in %s: timing tells names apart", unknown, wrong)
			}
		})
	}
}

func rebind(engine, q string) string {
	if engine != "postgres" {
		return q
	}
	for i := 1; strings.Contains(q, "?"); i++ {
		q = strings.Replace(q, "?", "$"+string(rune('0'+i)), 1)
	}
	return q
}

// Two portals, as two replicas of `alter server`: each with its own
// storage.DB (its own pool) on one database. A session made by logging in
// through one is accepted by the other, its forms' CSRF token included;
// logout through either ends it for both; expiry holds everywhere.
func TestDBSessionsAcrossReplicas(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		dbA, dbB := openDB(t, addr), openDB(t, addr)
		addUser(t, dbA, "alice", alicePassword)
		replica := func(db *storage.DB) *harness {
			return newHarness(t, &StorageBackend{Store: db, CheckUser: DBUsers{Store: db}.Check}, false, func(c *Config) {
				c.Sessions = NewDBSessions(db, DBSessionsConfig{IdleTimeout: c.IdleTimeout, MaxAge: c.MaxAge, Now: c.Now})
			})
		}
		a, b := replica(dbA), replica(dbB)
		// One clock for both replicas.
		b.clockMu.Lock()
		b.clock = a.now()
		b.clockMu.Unlock()
		advance := func(d time.Duration) { a.advance(d); b.advance(d) }

		// login logs in through a fresh browser on a, and gives b its
		// cookies.
		login := func(t *testing.T) {
			for _, h := range []*harness{a, b} {
				h.client.Jar, _ = cookiejar.New(nil)
			}
			_, body := a.get(Prefix + "/login")
			resp, _ := a.post(Prefix+"/login", url.Values{"csrf": {a.csrfOf(body)}, "method": {"password"},
				"username": {"alice"}, "password": {alicePassword}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("password login through a: %d", resp.StatusCode)
			}
			ua, _ := url.Parse(a.srv.URL + Prefix + "/")
			ub, _ := url.Parse(b.srv.URL + Prefix + "/")
			b.client.Jar.SetCookies(ub, a.client.Jar.Cookies(ua))
		}

		t.Run("session made on a works on b", func(t *testing.T) {
			login(t)
			resp, body := b.get(Prefix + "/grants")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in as alice") {
				t.Fatalf("b: %d, want the grants page for alice", resp.StatusCode)
			}
			// The CSRF token a's pages carry is the session's, so b takes a
			// form built on a.
			_, body = a.get(Prefix + "/grants")
			resp, body = b.post(Prefix+"/secrets", url.Values{"csrf": {a.csrfOf(body)}, "kind": {"type:bearer"},
				"field_token": {sentinel}, "hosts": {"api.example.com"}, "name": {"example"}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("a form from a, posted to b: %d\n%s", resp.StatusCode, body)
			}
			// A stale or foreign token is still refused there.
			resp, _ = b.post(Prefix+"/secrets", url.Values{"csrf": {newToken()}, "kind": {"type:bearer"},
				"field_token": {sentinel}, "hosts": {"api.example.com"}})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("wrong CSRF token on b: %d", resp.StatusCode)
			}
		})

		t.Run("logout on b ends it on a", func(t *testing.T) {
			_, body := b.get(Prefix + "/grants")
			resp, _ := b.post(Prefix+"/logout", url.Values{"csrf": {b.csrfOf(body)}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout on b: %d", resp.StatusCode)
			}
			if resp, _ := a.get(Prefix + "/grants"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix+"/login" {
				t.Fatalf("a after logout on b: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
		})

		for _, tc := range []struct {
			name  string
			steps []time.Duration // requests on b, this long apart
			live  bool
		}{
			{"used every 20 minutes for an hour", repeat(20*time.Minute, 3), true},
			{"idle for 31 minutes", []time.Duration{31 * time.Minute}, false},
			{"past the absolute age, though never idle", repeat(25*time.Minute, 29), false},
		} {
			t.Run("expiry: "+tc.name, func(t *testing.T) {
				login(t)
				var resp *http.Response
				for _, d := range tc.steps {
					advance(d)
					resp, _ = b.get(Prefix + "/grants")
				}
				if live := resp.StatusCode == http.StatusOK; live != tc.live {
					t.Fatalf("b: %d, want live %v", resp.StatusCode, tc.live)
				}
				if resp, _ := a.get(Prefix + "/grants"); (resp.StatusCode == http.StatusOK) != tc.live {
					t.Fatalf("a disagrees with b: %d", resp.StatusCode)
				}
			})
		}

		t.Run("disabling the user ends the session", func(t *testing.T) {
			login(t)
			if _, err := dbA.DisableUser(t.Context(), "alice"); err != nil {
				t.Fatal(err)
			}
			if resp, _ := b.get(Prefix + "/grants"); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("b after disabling alice: %d", resp.StatusCode)
			}
		})
	})
}

// The control: with per-process sessions (the default), the other
// replica does not know the session, so the test above would catch a
// server that lost its shared store.
func TestMemorySessionsAreNotShared(t *testing.T) {
	addr := testdb.SQLite(t)
	db := openDB(t, addr)
	addUser(t, db, "alice", alicePassword)
	backend := &StorageBackend{Store: db, CheckUser: DBUsers{Store: db}.Check}
	a, b := newHarness(t, backend, false, nil), newHarness(t, backend, false, nil)
	_, body := a.get(Prefix + "/login")
	if resp, _ := a.post(Prefix+"/login", url.Values{"csrf": {a.csrfOf(body)}, "method": {"password"},
		"username": {"alice"}, "password": {alicePassword}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	ua, _ := url.Parse(a.srv.URL + Prefix + "/")
	ub, _ := url.Parse(b.srv.URL + Prefix + "/")
	b.client.Jar.SetCookies(ub, a.client.Jar.Cookies(ua))
	if resp, _ := b.get(Prefix + "/grants"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("b accepted a's in-memory session: %d", resp.StatusCode)
	}
}
