package secretstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
)

// Record integrity. Grant records are not secret, but an edit to one is an
// attack: widening destinations, clearing "revoked", re-pointing a grant at
// another secret. Each record therefore carries an HMAC-SHA256, under a key
// derived from a master key, over its canonical JSON (the record as this
// package marshals it, without the mac field). Because the MAC is computed
// over the re-marshalled struct, a field this binary does not know (say, a
// policy rule added by a newer alter) makes the check fail: the record is
// unusable rather than silently broader.

// recordMAC is the "mac" member of a record.
type recordMAC struct {
	KeyID string `json:"key_id"` // master key whose MAC key signed the record
	Sum   []byte `json:"sum"`    // HMAC-SHA256, base64 in JSON
}

// Record kinds: part of the MACed message, so a grant's MAC can never vouch
// for a secret record or the other way round.
const (
	kindGrant  = "grant"
	kindSecret = "secret"
)

// errTampered is the problem of a record whose MAC does not match.
var errTampered = errors.New("integrity check failed: the record was changed outside alter")

// macMessage is what a record's MAC covers.
func macMessage(kind string, canonical []byte) []byte {
	msg := make([]byte, 0, len(macKeyLabel)+len(kind)+2+len(canonical))
	msg = append(msg, macKeyLabel...)
	msg = append(msg, 0)
	msg = append(msg, kind...)
	msg = append(msg, 0)
	return append(msg, canonical...)
}

func macSum(m *masterKey, kind string, canonical []byte) []byte {
	h := hmac.New(sha256.New, m.macKey)
	h.Write(macMessage(kind, canonical))
	return h.Sum(nil)
}

// sign returns the MAC of a record's canonical JSON under the active key.
// canonical must be the record marshalled with its mac unset.
func (k *Keyring) sign(kind string, canonical []byte) *recordMAC {
	m := k.active()
	return &recordMAC{KeyID: m.id, Sum: macSum(m, kind, canonical)}
}

// verify checks a record's MAC. Any key in the ring may have signed it.
func (k *Keyring) verify(kind string, canonical []byte, mac *recordMAC) error {
	if mac == nil {
		return errors.New("integrity check failed: the record has no mac")
	}
	m, err := k.key(mac.KeyID)
	if err != nil {
		return fmt.Errorf("integrity check failed: %v", err)
	}
	if !hmac.Equal(mac.Sum, macSum(m, kind, canonical)) {
		return errTampered
	}
	return nil
}

// canonicalJSON is a record's signed form. encoding/json marshals struct
// fields in declaration order and map keys sorted, so the bytes depend only
// on the values. It fails only for values JSON cannot hold (a time after
// year 9999).
func canonicalJSON(v any) ([]byte, error) {
	return json.Marshal(v)
}
