package secretstore

import (
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// The functions in this file let another store (the control plane's
// server/storage) apply exactly the file store's sealing and input rules,
// so they live in one place.

// Seal encrypts fields for secret secretID under the keyring's active key
// (AES-256-GCM, fresh nonce, bound to the secret id and key id) and returns
// the key id and one opaque blob (nonce followed by ciphertext).
func (k *Keyring) Seal(secretID string, fields inject.Fields) (keyID string, blob []byte, err error) {
	keyID, nonce, ciphertext, err := k.seal(secretID, fields)
	if err != nil {
		return "", nil, err
	}
	return keyID, append(nonce, ciphertext...), nil
}

// Open decrypts a blob made by Seal for the same secret id. A blob moved to
// another secret, a flipped byte or a missing key is an error wrapping
// ErrStoreUnavailable, never garbage.
func (k *Keyring) Open(secretID, keyID string, blob []byte) (inject.Fields, error) {
	if len(blob) < nonceSize {
		return nil, fmt.Errorf("%w: secret %s: sealed value too short", ErrStoreUnavailable, secretID)
	}
	return k.open(secretID, keyID, blob[:nonceSize], blob[nonceSize:])
}

// ValidateNew checks a NewSecret as Add does, before anything is sealed or
// written, and returns its canonical policy. Errors wrap ErrInvalid.
func ValidateNew(ns NewSecret, now time.Time) (policy.Spec, error) {
	if err := validateNew(ns, now); err != nil {
		return policy.Spec{}, err
	}
	pol, err := ns.Policy.Canonical()
	if err != nil {
		return policy.Spec{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return pol, nil
}

// CheckText refuses invalid UTF-8, control characters and text longer than
// a name may be; the error names the field, never the text.
func CheckText(what, s string) error { return checkText(what, s) }

// CheckLabels checks a grant's labels.
func CheckLabels(labels []string) error { return checkLabels(labels) }
