package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/alter-sidecar/alter/internal/testkeys"

	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/portal"
	"github.com/alter-sidecar/alter/server/storage"
)

// TestServerRoutesRedirects: the paths the server's own ServeMux used to
// redirect in text/html ("/portal", "//v1/grants") now get the portal's
// security headers or the API's JSON error.
func TestServerRoutesRedirects(t *testing.T) {
	keys := testkeys.Keyring(t, 3)
	db, err := storage.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "s.db"), keys)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := api.New(api.Options{Store: db})
	defer h.Close()
	srv := httptest.NewServer(serverRoutes(h, portal.New(portal.Config{Backend: &portal.StorageBackend{Store: db}})))
	defer srv.Close()
	get := func(p string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.URL.Opaque = p
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("/portal"); r.StatusCode/100 != 3 || r.Header.Get("Content-Security-Policy") == "" || r.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/portal: %d without the portal's headers %v", r.StatusCode, r.Header)
	}
	const link = "/approvals/6f1c2d3e-0000-4000-8000-000000000001" // approval/notify's link under portal_url
	if r := get(link); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != portal.Prefix+link || r.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("%s: %d to %q, want the portal's redirect to its approval page", link, r.StatusCode, r.Header.Get("Location"))
	}
	for _, p := range []string{"//v1/grants", "/v1/../portal/grants", "/x/../v1/grants"} {
		if r := get(p); r.StatusCode != http.StatusNotFound || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q, want a JSON 404", p, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
}
