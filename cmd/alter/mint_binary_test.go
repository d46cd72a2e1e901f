package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

const (
	binClientSecret = "cs-bin-sentinel-3f9a1c77"
	binMintedPrefix = "minted-bin-token-"
)

var binTokenRequests atomic.Int64

// serveToken is a client-credentials token endpoint (RFC 6749 section
// 4.4, client authentication in the Basic header) on api.example.test.
func (e *binEnv) serveToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || !ok || id != "cid" || secret != binClientSecret ||
		r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "read write" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	n := binTokenRequests.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": binMintedPrefix + strings.Repeat("x", int(n)), "expires_in": 3600})
}

// TestMintedCredentialThroughBinary: alter secret add --type
// oauth2_client_credentials, then curl through alter proxy: the upstream
// gets a minted token, minted once for two requests; the client secret is
// in no output, log or audit record, and the store holds it sealed.
func TestMintedCredentialThroughBinary(t *testing.T) {
	binTokenRequests.Store(0) // -count runs the test again in this process
	e := startBinEnv(t)
	gid, err := e.alter("client_id=cid\nclient_secret="+binClientSecret+"\n", "secret", "add",
		"--type", "oauth2_client_credentials", "--param", "token_url=https://api.example.test/oauth/token",
		"--param", "scope=read,write", "--allow-host", "api.example.test", "--name", "minted")
	if err != nil {
		t.Fatal(err)
	}
	gid = strings.TrimSpace(gid)
	e.eventually("https://api.example.test/v1/me", gid, 200)
	code, body := e.curlGet("https://api.example.test/v1/me", gid)
	if code != 200 || !strings.Contains(body, `"Authorization":["Bearer `+binMintedPrefix+`x"]`) {
		t.Fatalf("through the proxy: %d %s", code, body)
	}
	if n := binTokenRequests.Load(); n != 1 {
		t.Fatalf("%d token requests for two API requests, want 1", n)
	}
	if strings.Contains(body, binClientSecret) {
		t.Fatal("the client secret reached the API")
	}
	var audit []byte
	waitFor(t, func() bool {
		audit, _ = os.ReadFile(e.audit)
		return strings.Count(string(audit), gid) >= 2 && strings.HasSuffix(string(audit), "\n")
	})
	store, _ := os.ReadFile(e.home + "/grants.json")
	for name, text := range map[string]string{"proxy stderr": e.stderr.String(), "proxy stdout": e.stdout.String(), "audit": string(audit), "store": string(store)} {
		if strings.Contains(text, binClientSecret) || strings.Contains(text, binMintedPrefix) {
			t.Errorf("the client secret or the minted token is in the %s", name)
		}
	}
}
