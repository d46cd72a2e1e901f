package api

import (
	"runtime"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestNestingBounded: 1 MiB of "[" (or of `{"a":`) is refused with 400 on
// every endpoint that takes a body, and checking it allocates little. The
// duplicate-key check used to allocate a frame and a map per level: 146
// MiB for one such body.
func TestNestingBounded(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t))
	id := e.addSecret("billing")
	arrays := strings.Repeat("[", wire.MaxBody)
	objects := strings.Repeat(`{"a":`, wire.MaxBody/5)
	for _, ep := range []struct{ method, path, token string }{
		{"POST", "/v1/secrets", e.admin},
		{"POST", "/v1/grants/" + id + "/clone", e.admin},
		{"POST", "/v1/grants/" + id + "/rotate", e.admin},
		{"PUT", "/v1/grants/" + id + "/policy", e.admin},
		{"POST", "/v1/tokens", e.admin},
		{"POST", "/v1/sidecar/audit", e.billing},
	} {
		for name, body := range map[string]string{"arrays": arrays, "objects": objects} {
			t.Run(ep.path+"/"+name, func(t *testing.T) {
				a := e.call(ep.method, ep.path, ep.token, body)
				checkError(t, a, 400, wire.CodeInvalid, "deeper than 64")
			})
		}
	}
}

func TestCheckKeysDepth(t *testing.T) {
	if e := checkKeys([]byte(strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth))); e != nil {
		t.Errorf("%d levels: %v", maxDepth, e)
	}
	if e := checkKeys([]byte(strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1))); e == nil {
		t.Errorf("%d levels accepted", maxDepth+1)
	}
	body := []byte(strings.Repeat("[", wire.MaxBody))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	checkKeys(body)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("checking 1 MiB of '[' allocated %d bytes, want under 1 MiB", got)
	}
}
