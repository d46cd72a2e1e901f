package secretstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/alter-sidecar/alter/inject"
)

func TestExportedSealOpen(t *testing.T) {
	k := mustKeyring(t, testKey(1))
	const sentinel = "sentinel-exported-seal-9f1"
	keyID, blob, err := k.Seal("secret-a", inject.Fields{"token": sentinel})
	if err != nil {
		t.Fatal(err)
	}
	if keyID != k.ActiveID() || bytes.Contains(blob, []byte(sentinel)) {
		t.Fatalf("key %s, blob holds the plaintext: %v", keyID, bytes.Contains(blob, []byte(sentinel)))
	}
	if f, err := k.Open("secret-a", keyID, blob); err != nil || f["token"] != sentinel {
		t.Fatalf("round trip: %v", err)
	}
	for name, tc := range map[string]struct {
		id, key string
		blob    []byte
	}{
		"moved to another secret": {"secret-b", keyID, blob},
		"flipped byte":            {"secret-a", keyID, append(bytes.Clone(blob[:len(blob)-1]), blob[len(blob)-1]^1)},
		"unknown key":             {"secret-a", "0000000000000000", blob},
		"too short":               {"secret-a", keyID, blob[:5]},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := k.Open(tc.id, tc.key, tc.blob); !errors.Is(err, ErrStoreUnavailable) {
				t.Fatalf("err = %v, want ErrStoreUnavailable", err)
			}
		})
	}
}
