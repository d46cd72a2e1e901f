package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Token is an API token. Its String, GoString and Format never show it,
// so a Client or a config printed by accident leaks nothing.
type Token string

// String hides the token.
func (Token) String() string { return "[token redacted]" }

// GoString hides the token from %#v.
func (Token) GoString() string { return "client.Token([redacted])" }

// maxTokenBytes bounds a token file; real tokens are under 60 bytes.
const maxTokenBytes = 4096

// checkToken refuses a token that could not travel in a header as is.
// The error never contains the token.
func checkToken(t string) error {
	if t == "" {
		return errors.New("token is empty")
	}
	if len(t) > 1024 {
		return errors.New("token is longer than 1024 bytes")
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f {
			return errors.New("token contains a space, control or non-ASCII character")
		}
	}
	return nil
}

// LoadTokenFile reads a token from a file that only its owner may read
// (mode 0600 or stricter, like the master key file). Surrounding white
// space (a trailing newline) is ignored.
func LoadTokenFile(path string) (Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("token file %s: mode %04o lets others read or change it; run: chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	if len(data) > maxTokenBytes {
		return "", fmt.Errorf("token file %s: larger than %d bytes", path, maxTokenBytes)
	}
	t := strings.TrimSpace(string(data))
	if err := checkToken(t); err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	return Token(t), nil
}

// TokenFromEnv reads a token from the environment variable name.
func TokenFromEnv(name string) (Token, error) {
	v, ok := os.LookupEnv(name)
	if !ok {
		return "", fmt.Errorf("token $%s: not set", name)
	}
	t := strings.TrimSpace(v)
	if err := checkToken(t); err != nil {
		return "", fmt.Errorf("token $%s: %w", name, err)
	}
	return Token(t), nil
}
