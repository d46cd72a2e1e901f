package proxy

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/alter-sidecar/alter/inject"
)

func TestProxyAuthentication(t *testing.T) {
	clients := []AuthClient{
		{Name: "billing", Digest: sha256.Sum256([]byte("billing-pass"))},
		{Name: "search", Digest: sha256.Sum256([]byte("search-token"))},
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		name   string
		auth   string
		status int
		actor  string
	}{
		{"none", "", 407, ""},
		{"basic right", basic("billing", "billing-pass"), 200, "billing"},
		{"basic wrong password", basic("billing", "nope"), 407, ""},
		{"basic another client's password", basic("billing", "search-token"), 407, ""},
		{"bearer right", "Bearer search-token", 200, "search"},
		{"bearer wrong", "Bearer guess", 407, ""},
		{"unknown scheme", "Digest x", 407, ""},
		{"empty bearer", "Bearer ", 407, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Clients = clients })
			up := e.tlsUpstream("api.example.test", nil)
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			for _, target := range []string{"http://api.example.test/", "https://api.example.test/"} {
				c := e.client()
				tr := c.Transport.(*http.Transport)
				tr.ProxyConnectHeader = http.Header{}
				h := http.Header{"X-Alter-Grant": {grantA}}
				if tt.auth != "" {
					h.Set("Proxy-Authorization", tt.auth)
					tr.ProxyConnectHeader.Set("Proxy-Authorization", tt.auth)
				}
				req, _ := http.NewRequest("GET", target, nil)
				req.Header = h
				resp, err := c.Do(req)
				if tt.status == 407 && target[:5] == "https" {
					// Go's client reports a refused CONNECT as an error.
					if err == nil {
						resp.Body.Close()
						t.Fatalf("%s: CONNECT without valid credentials succeeded", target)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", target, err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Fatalf("%s: status %d, want %d", target, resp.StatusCode, tt.status)
				}
				if tt.status == 407 && len(resp.Header.Values("Proxy-Authenticate")) != 2 {
					t.Fatalf("407 without Proxy-Authenticate: %v", resp.Header)
				}
			}
			if tt.status == 407 {
				if up.bytes.Load() != 0 {
					t.Fatal("an unauthenticated request reached the upstream")
				}
				return
			}
			for _, r := range e.waitAudit(2) {
				if r.Actor != tt.actor {
					t.Fatalf("audit actor %q, want %q", r.Actor, tt.actor)
				}
			}
			// The proxy credential never reaches the upstream.
			_, body := e.do("GET", "http://api.example.test/", http.Header{"X-Alter-Grant": {grantA}, "Proxy-Authorization": {tt.auth}})
			if v := decodeView(t, body); v.Headers["Proxy-Authorization"] != nil {
				t.Fatalf("Proxy-Authorization forwarded: %v", v.Headers)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	if _, err := ParseDigest("abc"); err == nil {
		t.Fatal("short digest accepted")
	}
	d := sha256.Sum256([]byte("x"))
	got, err := ParseDigest(hex.EncodeToString(d[:]))
	if err != nil || got != d {
		t.Fatalf("ParseDigest: %v %x", err, got)
	}
}
