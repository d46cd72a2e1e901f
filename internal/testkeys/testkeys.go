// Package testkeys makes the master keyrings tests seal with: one helper
// instead of a base64 line assembled in every package. Only tests import it.
package testkeys

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/alter-sidecar/alter/secretstore"
)

// Line is the keyring text for one key made of seed repeated, so two tests
// that pass the same seed share a key and different seeds never do.
func Line(seed byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{seed}, secretstore.KeySize))
}

// Keyring is a keyring of one key per seed, the last the one that seals.
func Keyring(t testing.TB, seeds ...byte) *secretstore.Keyring {
	t.Helper()
	if len(seeds) == 0 {
		seeds = []byte{1}
	}
	var text []byte
	for _, s := range seeds {
		text = append(text, Line(s)+"\n"...)
	}
	k, err := secretstore.ParseKeyring(text, "test keyring")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Fixed is Keyring for a package-level variable, where there is no test to
// fail: a keyring of one key made of seed. It cannot fail.
func Fixed(seed byte) *secretstore.Keyring {
	k, err := secretstore.ParseKeyring([]byte(Line(seed)+"\n"), "test keyring")
	if err != nil {
		panic(err) // a 32-byte key always parses
	}
	return k
}
