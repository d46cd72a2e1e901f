package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Passwords are stored as argon2id hashes in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash). argon2id rather than
// bcrypt: it is memory-hard (GPUs and ASICs gain little), it takes the
// whole password (bcrypt silently ignores bytes past 72), and it is what
// RFC 9106 and OWASP recommend. The parameters are OWASP's minimum
// (19 MiB, 2 passes, 1 lane): about 30 ms here, affordable on a 2-core
// server under a rate-limited login form.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Limits on hashes read back, so a planted hash cannot make a login burn
// minutes of CPU or gigabytes of memory.
const (
	maxArgonMemory  = 1 << 20 // KiB: 1 GiB
	maxArgonTime    = 10
	maxArgonThreads = 16
)

// Passwords are 8 to 1024 bytes of UTF-8.
const (
	MinPassword = 8
	maxPassword = 1024
)

// HashPassword returns the argon2id hash of password, for storing.
func HashPassword(password string) (string, error) {
	if len(password) < MinPassword || len(password) > maxPassword || !utf8.ValidString(password) {
		return "", fmt.Errorf("a password is %d to %d bytes of UTF-8", MinPassword, maxPassword)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var b64 = base64.RawStdEncoding

// errBadHash: a stored hash is not one we can check.
var errBadHash = errors.New("malformed argon2id hash")

// CheckPassword reports whether password matches hash, in constant time
// for the comparison. A malformed hash is an error, never a match.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errBadHash
	}
	var m, t uint32
	var th uint8
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); n != 3 || err != nil {
		return false, errBadHash
	}
	if m == 0 || m > maxArgonMemory || t == 0 || t > maxArgonTime || th == 0 || th > maxArgonThreads {
		return false, errBadHash
	}
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	if len(password) > maxPassword {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, t, m, th, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Users is a fixed set of portal users: name -> argon2id hash. A
// Backend may use it for CheckPassword (StorageBackend does, until users
// live in the database).
type Users map[string]string

// dummyHash is checked when the user is unknown, so a login takes as long
// for a name that does not exist as for a wrong password.
// It is made on first use, not at init, so importing the package costs
// nothing.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("not a real password, only for timing")
	if err != nil {
		panic(err)
	}
	return h
})

// Check returns the user's name if password is theirs, or ErrBadCredentials.
func (u Users) Check(_ context.Context, user, password string) (string, error) {
	hash, ok := u[user]
	if !ok {
		hash = dummyHash()
	}
	match, err := CheckPassword(hash, password)
	if err != nil {
		return "", fmt.Errorf("user %q: %w", user, err)
	}
	if !ok || !match {
		return "", ErrBadCredentials
	}
	return user, nil
}
