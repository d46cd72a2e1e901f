package profile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"strings"
)

// TokenPrefix starts every profile token, so one is recognised in a proxy
// URL, a leaked log or a secret scanner's rules, and never taken for a grant
// id (a UUID) or anything else.
const TokenPrefix = "alt_p_"

// tokenBytes is the token's randomness: 256 bits.
const tokenBytes = 32

// tokenLen is the length of a token: the prefix and 43 base64url digits.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// Token is a profile token. It is shown once, when made, and stored only as
// its Digest. Its String and LogValue never print it.
type Token string

// String redacts the token.
func (Token) String() string { return TokenPrefix + "…(redacted)" }

// LogValue redacts the token in slog records.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Reveal returns the token itself, to be printed once to the person who
// asked for it or put in a child process's proxy URL.
func (t Token) Reveal() string { return string(t) }

// Digest is the SHA-256 of a token: all a store keeps of it.
type Digest [sha256.Size]byte

// DigestOf returns the digest of a token as presented.
func DigestOf(token string) Digest { return sha256.Sum256([]byte(token)) }

// NewToken returns a fresh token and its digest.
func NewToken() (Token, Digest, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", Digest{}, err
	}
	t := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return Token(t), DigestOf(t), nil
}

// LooksLikeToken reports whether s has a token's form: the prefix and 43
// base64url digits. It says nothing about whether any store knows it.
func LooksLikeToken(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	for _, c := range s[len(TokenPrefix):] {
		ok := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}
