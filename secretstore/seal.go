package secretstore

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/alter-sidecar/alter/inject"
)

// Sealing: a secret's fields are encrypted with AES-256-GCM under a master
// key. The associated data names the secret and the key, so a ciphertext
// copied into another secret's record, or relabelled with another key id,
// fails to open instead of yielding someone else's credential.

const (
	nonceSize = 12 // GCM's standard nonce; random per seal
	sealLabel = "alter-secret-v1\x00"
)

// errOpen is the one error for every way opening can fail (wrong key,
// flipped byte, moved record): GCM cannot tell them apart, and neither
// should a reader of the log.
var errOpen = errors.New("secret does not open: wrong key, or the record was changed or moved")

// sealAD is the associated data binding a ciphertext to its record.
func sealAD(secretID, keyID string) []byte {
	ad := make([]byte, 0, len(sealLabel)+len(secretID)+1+len(keyID))
	ad = append(ad, sealLabel...)
	ad = append(ad, secretID...)
	ad = append(ad, 0)
	ad = append(ad, keyID...)
	return ad
}

// seal encrypts fields for the secret secretID under the keyring's active
// key. It returns the id of the key used, the nonce and the ciphertext.
func (k *Keyring) seal(secretID string, fields inject.Fields) (keyID string, nonce, ciphertext []byte, err error) {
	// inject.Fields redacts itself in MarshalJSON; the plain map is what
	// must be sealed.
	plain, err := json.Marshal(map[string]string(fields))
	if err != nil {
		return "", nil, nil, fmt.Errorf("seal secret %s: %w", secretID, err)
	}
	defer clear(plain)
	m := k.active()
	nonce = make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, nil, fmt.Errorf("seal secret %s: %w", secretID, err)
	}
	ciphertext = m.aead.Seal(nil, nonce, plain, sealAD(secretID, m.id))
	return m.id, nonce, ciphertext, nil
}

// open decrypts a sealed secret. Every failure wraps ErrStoreUnavailable:
// a record that does not open is never returned as garbage.
func (k *Keyring) open(secretID, keyID string, nonce, ciphertext []byte) (inject.Fields, error) {
	m, err := k.key(keyID)
	if err != nil {
		return nil, fmt.Errorf("%w: secret %s: %v", ErrStoreUnavailable, secretID, err)
	}
	if len(nonce) != nonceSize {
		return nil, fmt.Errorf("%w: secret %s: nonce is %d bytes, want %d", ErrStoreUnavailable, secretID, len(nonce), nonceSize)
	}
	plain, err := m.aead.Open(nil, nonce, ciphertext, sealAD(secretID, keyID))
	if err != nil {
		return nil, fmt.Errorf("%w: secret %s: %v", ErrStoreUnavailable, secretID, errOpen)
	}
	defer clear(plain)
	var f map[string]string
	if err := json.Unmarshal(plain, &f); err != nil || f == nil {
		// Authenticated but not our JSON: only a bug can get here. The
		// error text must not quote the plaintext, so drop err.
		return nil, fmt.Errorf("%w: secret %s: sealed value is not a field map", ErrStoreUnavailable, secretID)
	}
	return inject.Fields(f), nil
}
