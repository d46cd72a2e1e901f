package secretstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecodeStoreFile feeds arbitrary bytes to the store file decoder and
// the snapshot builder: neither may panic, and a file that decodes must
// build a snapshot whose every grant either resolves or fails with one of
// the store's errors.
func FuzzDecodeStoreFile(f *testing.F) {
	kr := mustKeyring(f, testKey(1))
	// A real file with a grant, a revoked grant and a clone.
	s := openAt(f, filepath.Join(f.TempDir(), "grants.json"), kr)
	g := mustAdd(f, s, bearer("tok"))
	addClone(f, s, g, nil)
	if err := s.Revoke(ctx, mustAdd(f, s, bearer("tok2")).ID); err != nil {
		f.Fatal(err)
	}
	real, err := os.ReadFile(s.Path())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte(`{"version":1,"grants":[],"secrets":[]}`))
	f.Add([]byte(`{"version":1,"grants":[null,1,{"id":"x","parent":"x"}],"secrets":[{"id":""}]}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := decodeStoreFile(data)
		if err != nil {
			return
		}
		snap := buildSnapshot(sf, kr, "fuzz", fileID{}, time.Now())
		st := &FileStore{path: "fuzz", keys: kr, cache: newTestCache()}
		st.snap.Store(snap)
		for id := range snap.grants {
			_, err := st.Resolve(ctx, id, time.Now())
			if err != nil && !isStoreError(err) {
				t.Fatalf("Resolve(%q): unexpected error %v", id, err)
			}
		}
		if _, err := sf.encode(); err != nil {
			t.Fatalf("a decoded file does not encode: %v", err)
		}
	})
}
