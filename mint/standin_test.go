package mint_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// tokenEndpoint is a stand-in token endpoint: check sees every request
// (and may fail the test or answer an error); otherwise it answers with a
// fresh access token "at-N" and expires_in.
type tokenEndpoint struct {
	srv      *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	issued   []string
	check    func(t *testing.T, r *http.Request, form url.Values) (status int, body any)
	t        *testing.T
	// gate, when set, holds every request until it is closed.
	gate    chan struct{}
	arrived chan struct{} // told of each gated request (buffered)
}

func newTokenEndpoint(t *testing.T, check func(t *testing.T, r *http.Request, form url.Values) (int, any)) *tokenEndpoint {
	te := &tokenEndpoint{check: check, t: t}
	te.srv = httptest.NewTLSServer(http.HandlerFunc(te.serve))
	t.Cleanup(te.srv.Close)
	return te
}

func (te *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	n := te.requests.Add(1)
	if te.gate != nil {
		te.arrived <- struct{}{}
		<-te.gate
	}
	if r.Method != http.MethodPost {
		te.t.Errorf("token request method %s, want POST", r.Method)
	}
	if err := r.ParseForm(); err != nil {
		te.t.Errorf("token request form: %v", err)
	}
	status, body := te.check(te.t, r, r.PostForm)
	if body == nil {
		tok := "at-" + string(rune('A'+n%26)) + "-minted-token-" + itoa(n)
		te.mu.Lock()
		te.issued = append(te.issued, tok)
		te.mu.Unlock()
		body = map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (te *tokenEndpoint) lastIssued() string {
	te.mu.Lock()
	defer te.mu.Unlock()
	if len(te.issued) == 0 {
		return ""
	}
	return te.issued[len(te.issued)-1]
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func rsaKeyPEM(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func ecKeyPEM(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}
