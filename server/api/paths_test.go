package api

import (
	"net/http"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestNonCanonicalPaths: a path that is not clean gets 404 in the API's
// error shape, not the mux's text/html redirect.
func TestNonCanonicalPaths(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t))
	for _, p := range []string{"//v1/grants", "/v1/grants/../tokens", "/v1/./grants", "/v1//sidecar/policies"} {
		req, err := http.NewRequest("GET", e.srv.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = p // sent exactly as written
		req.Header.Set("Authorization", "Bearer "+e.admin)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get(wire.HeaderError) != wire.CodeNotFound ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %q, want a JSON 404", p, resp.StatusCode, resp.Header.Get(wire.HeaderError), resp.Header.Get("Content-Type"))
		}
	}
}
