package secretstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/alter-sidecar/alter/inject"
)

// The Vault barrier tests: what a sealed secret must and must not be.

const sentinel = "SENTINEL-7f3c9a1e-do-not-leak"

func TestSealCiphertextHidesPlaintext(t *testing.T) {
	kr := mustKeyring(t, testKey(1))
	_, nonce, ct, err := kr.seal("s1", inject.Fields{"token": sentinel})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte(sentinel)) || bytes.Contains(ct, []byte("token")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	if len(nonce) != nonceSize {
		t.Fatalf("nonce is %d bytes", len(nonce))
	}
	f, err := kr.open("s1", kr.ActiveID(), nonce, ct)
	if err != nil {
		t.Fatal(err)
	}
	if f["token"] != sentinel || len(f) != 1 {
		t.Fatalf("opened %d fields, wrong value", len(f))
	}
}

func TestSealTwiceDiffers(t *testing.T) {
	kr := mustKeyring(t, testKey(1))
	fields := inject.Fields{"token": sentinel}
	_, n1, c1, _ := kr.seal("s1", fields)
	_, n2, c2, _ := kr.seal("s1", fields)
	if bytes.Equal(n1, n2) || bytes.Equal(c1, c2) {
		t.Fatal("the same plaintext sealed twice gave the same nonce or ciphertext")
	}
}

func TestOpenRefusesTampering(t *testing.T) {
	kr := mustKeyring(t, testKey(1))
	keyID, nonce, ct, err := kr.seal("s1", inject.Fields{"token": sentinel})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	other := mustKeyring(t, testKey(2))
	rotated := mustKeyring(t, testKey(2), testKey(1)) // holds key 1, not active
	tests := []struct {
		name      string
		kr        *Keyring
		secretID  string
		keyID     string
		nonce, ct []byte
	}{
		{"first ciphertext byte flipped", kr, "s1", keyID, nonce, flip(ct, 0)},
		{"last ciphertext byte (tag) flipped", kr, "s1", keyID, nonce, flip(ct, len(ct)-1)},
		{"nonce byte flipped", kr, "s1", keyID, flip(nonce, 5), ct},
		{"truncated ciphertext", kr, "s1", keyID, nonce, ct[:len(ct)-1]},
		{"moved to another secret id", kr, "s2", keyID, nonce, ct},
		{"relabelled with another key id", rotated, "s1", rotated.IDs()[0], nonce, ct},
		{"wrong key with the same id", forgeID(other, keyID), "s1", keyID, nonce, ct},
		{"key not in keyring", other, "s1", keyID, nonce, ct},
		{"short nonce", kr, "s1", keyID, nonce[:8], ct},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.kr.open(tc.secretID, tc.keyID, tc.nonce, tc.ct)
			if !errors.Is(err, ErrStoreUnavailable) {
				t.Fatalf("err = %v, want ErrStoreUnavailable", err)
			}
			if f != nil {
				t.Fatal("fields returned with an error")
			}
			if bytes.Contains([]byte(err.Error()), []byte(sentinel)) {
				t.Fatal("error contains the secret")
			}
		})
	}
}

// forgeID returns a keyring whose only key claims the id id: what a wrong
// key file with a doctored id would look like.
func forgeID(kr *Keyring, id string) *Keyring {
	m := *kr.keys[0]
	m.id = id
	return &Keyring{source: "forged", keys: []*masterKey{&m}, byID: map[string]*masterKey{id: &m}}
}

func TestSealSwappedBetweenRecords(t *testing.T) {
	kr := mustKeyring(t, testKey(1))
	k, nA, cA, _ := kr.seal("secret-a", inject.Fields{"token": "value-a"})
	_, nB, cB, _ := kr.seal("secret-b", inject.Fields{"token": "value-b"})
	if _, err := kr.open("secret-a", k, nB, cB); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("b's ciphertext opened as a: %v", err)
	}
	if _, err := kr.open("secret-b", k, nA, cA); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("a's ciphertext opened as b: %v", err)
	}
}

func TestRotationOpensOldRecords(t *testing.T) {
	a := mustKeyring(t, testKey(1))
	keyA, nonce, ct, _ := a.seal("s1", inject.Fields{"token": "old"})
	ab := mustKeyring(t, testKey(1), testKey(2))
	f, err := ab.open("s1", keyA, nonce, ct)
	if err != nil || f["token"] != "old" {
		t.Fatalf("record sealed with key A does not open after key B was appended: %v", err)
	}
	keyB, _, _, _ := ab.seal("s2", inject.Fields{"token": "new"})
	if keyB == keyA || keyB != ab.ActiveID() {
		t.Fatalf("new record sealed with %s, want the new key %s", keyB, ab.ActiveID())
	}
}

func TestRecordMAC(t *testing.T) {
	a := mustKeyring(t, testKey(1))
	canon := []byte(`{"id":"g1","revoked":false}`)
	mac := a.sign(kindGrant, canon)
	tests := []struct {
		name  string
		kr    *Keyring
		kind  string
		canon []byte
		mac   *recordMAC
		ok    bool
	}{
		{"intact", a, kindGrant, canon, mac, true},
		{"after rotation", mustKeyring(t, testKey(1), testKey(2)), kindGrant, canon, mac, true},
		{"edited", a, kindGrant, []byte(`{"id":"g1","revoked":true}`), mac, false},
		{"grant mac on a secret", a, kindSecret, canon, mac, false},
		{"missing mac", a, kindGrant, canon, nil, false},
		{"unknown key", mustKeyring(t, testKey(2)), kindGrant, canon, mac, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.kr.verify(tc.kind, tc.canon, tc.mac)
			if (err == nil) != tc.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
