package controlplane

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/alter-sidecar/alter/certs"
)

// upstream is the API the grants are for: a TLS server posing as
// upstreamHost with a certificate from its own CA, which the sidecars are
// told to trust. It remembers the Authorization header of each request.
type upstream struct {
	srv    *httptest.Server
	caFile string
	mu     sync.Mutex
	auth   []string
}

const upstreamHost = "api.billing.test"

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	dir := t.TempDir()
	u := &upstream{caFile: filepath.Join(dir, "upstream-ca.pem")}
	ca, err := certs.CreateCA(u.caFile, filepath.Join(dir, "upstream-ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.NewLeafCache(ca, 4).Get(upstreamHost)
	if err != nil {
		t.Fatal(err)
	}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		u.mu.Unlock()
		_, _ = w.Write([]byte("ok\n"))
	}))
	u.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	return u
}

// lastAuth is the Authorization header of the latest request.
func (u *upstream) lastAuth() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.auth) == 0 {
		return ""
	}
	return u.auth[len(u.auth)-1]
}

// count is how many requests the upstream has served.
func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.auth)
}
