package controlplane

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/alter-sidecar/alter/certs"
)

const tokenHost = "login.billing.test"

// TestServerMintsThroughTheBinary: a client-credentials grant on alter
// server whose token endpoint is internal (a name the operator pins in
// server.yaml's mint.resolve, verified by mint.ca_file): the sidecar on
// replica b gets the minted token from the server and injects it;
// the client secret never leaves the server; one token request serves
// every request, and the audit trail names the mint and the sidecar
// token that asked. Without the mint section the same grant is refused
// with credential_unavailable (the server does not dial internal names).
func TestServerMintsThroughTheBinary(t *testing.T) {
	c := newCluster(t)
	clientSecret := newSecret()
	var requests atomic.Int64
	dir := t.TempDir()
	caFile := filepath.Join(dir, "login-ca.pem")
	ca, err := certs.CreateCA(caFile, filepath.Join(dir, "login-ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.NewLeafCache(ca, 4).Get(tokenHost)
	if err != nil {
		t.Fatal(err)
	}
	login := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if err := r.ParseForm(); err != nil || !ok || id != "billing-client" || secret != clientSecret ||
			r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		n := requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("minted-by-server-%d", n), "token_type": "Bearer", "expires_in": 3600})
	}))
	login.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	login.StartTLS()
	t.Cleanup(login.Close)

	c.serverExtra = fmt.Sprintf("mint:\n  resolve: {\"%s:443\": %q}\n  ca_file: %q\n", tokenHost, login.Listener.Addr().String(), caFile)
	c.startReplica("a")
	c.startReplica("b")
	s1 := c.startSidecar("s1", "b", c.sidecarToken("billing", "s1"), maxStale)
	t.Cleanup(func() { c.checkNoLeak(clientSecret, s1) })
	g := strings.TrimSpace(c.must(c.alter("a", "client_id=billing-client\nclient_secret="+clientSecret+"\n", "secret", "add",
		"--type", "oauth2_client_credentials", "--param", "token_url=https://"+tokenHost+"/token",
		"--allow-host", upstreamHost, "--app", "billing", "--name", "billing-minted")))

	for i := 0; i < 3; i++ {
		if code, e := s1.use(g); code != http.StatusOK {
			t.Fatalf("request %d through the sidecar: %d %s", i, code, e)
		}
	}
	if got := c.up.lastAuth(); got != "Bearer minted-by-server-1" {
		t.Fatalf("the upstream got Authorization %q, want the server's minted token", got)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d token requests for three API requests, want 1", n)
	}
	out := c.must(c.alter("a", "", "audit", "query", "--grant", g, "--event", "mint", "--json"))
	if !strings.Contains(out, `"event":"mint"`) || !strings.Contains(out, `"actor":"token:s1"`) || strings.Contains(out, clientSecret) || strings.Contains(out, "minted-by-server") {
		t.Fatalf("the server's audit of the mint:\n%s", out)
	}

	// A replica without the mint section does not reach the internal name.
	c.serverExtra = ""
	c.replicas["b"].kill(syscall.SIGTERM)
	c.restartReplica("b")
	s1.kill(syscall.SIGKILL) // a new sidecar: no token cached from the first replica
	c.runSidecar(s1, "s1")
	second := strings.TrimSpace(c.must(c.alter("a", "client_id=billing-client\nclient_secret="+clientSecret+"\n", "secret", "add",
		"--type", "oauth2_client_credentials", "--param", "token_url=https://"+tokenHost+"/token",
		"--allow-host", upstreamHost, "--app", "billing", "--name", "billing-minted-2")))
	if code, e := s1.use(second); code != http.StatusBadGateway || e != "credential_unavailable" {
		t.Fatalf("minting through a replica without mint.resolve: %d %s, want 502 credential_unavailable", code, e)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("the token endpoint got %d requests, want still 1", n)
	}
}
