package portal

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "horse") {
		t.Errorf("hash %q", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		name, hash, pw string
		ok             bool
		bad            bool
	}{
		{"right", h, "correct horse battery", true, false},
		{"wrong", h, "correct horse batterY", false, false},
		{"empty hash", "", "x", false, true},
		{"bcrypt hash", "$2a$10$abcdefghijklmnopqrstuu", "x", false, true},
		{"huge memory", strings.Replace(h, "m=19456", "m=99999999", 1), "correct horse battery", false, true},
		{"zero passes", strings.Replace(h, "t=2", "t=0", 1), "correct horse battery", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := CheckPassword(tc.hash, tc.pw)
			if ok != tc.ok || (err != nil) != tc.bad {
				t.Errorf("got %v, %v", ok, err)
			}
		})
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-byte password was hashed")
	}
	u := Users{"alice": h}
	if _, err := u.Check(t.Context(), "bob", "correct horse battery"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("unknown user: %v", err)
	}
	if name, err := u.Check(t.Context(), "alice", "correct horse battery"); err != nil || name != "alice" {
		t.Errorf("alice: %q %v", name, err)
	}
}
