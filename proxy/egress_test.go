package proxy

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testnet"
)

const corpUser, corpPass = "corp-user", sentinel + "-corp"

func corpAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func viaProxy(addr, user, pass string) envOption {
	return func(o *Options) { o.Upstream.Proxy = &UpstreamProxy{Addr: addr, Username: user, Password: pass} }
}

// Every upstream connection, with a grant or without, from either upstream
// client and for untouched tunnels, is a CONNECT on upstream.proxy naming
// the address the SSRF guard checked; TLS inside is verified end to end.
func TestUpstreamProxy(t *testing.T) {
	cp := testnet.NewConnectProxy(t, corpAuth(corpUser, corpPass), 0)
	e := newEnv(t, viaProxy(cp.Addr(), corpUser, corpPass))
	api := e.tlsUpstream("api.example.test", nil)
	blind := e.tlsUpstream("blind.example.test", nil) // no grant: tunnelled untouched
	plain := e.plainUpstream("plain.example.test:80")
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test", "http://plain.example.test")
	grant := http.Header{HeaderGrant: {grantA}}
	blindClient := func() *http.Client {
		proxyURL, _ := url.Parse(e.proxySrv.URL)
		return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: e.roots}}}
	}
	cases := []struct {
		name     string
		do       func(t *testing.T) *http.Response
		up       *upstream
		target   string // what the CONNECT must name
		wantCred bool
	}{
		{"grant, https", func(t *testing.T) *http.Response { r, _ := e.do("GET", "https://api.example.test/a", grant); return r },
			api, api.srv.Listener.Addr().String(), true},
		{"grant, http:// upgraded to https", func(t *testing.T) *http.Response { r, _ := e.do("GET", "http://api.example.test/a", grant); return r },
			api, api.srv.Listener.Addr().String(), true},
		{"grant, plain http upstream", func(t *testing.T) *http.Response {
			r, _ := e.do("GET", "http://plain.example.test/a", grant)
			return r
		}, plain, plain.srv.Listener.Addr().String(), true},
		{"no grant, in a terminated tunnel", func(t *testing.T) *http.Response { r, _ := e.do("GET", "https://api.example.test/a", nil); return r },
			api, api.srv.Listener.Addr().String(), false},
		{"no grant, tunnelled untouched", func(t *testing.T) *http.Response {
			r, err := blindClient().Get("https://blind.example.test/a")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			return r
		}, blind, blind.srv.Listener.Addr().String(), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.proxy.CloseIdleConnections() // each case dials: pooled connections were tunnels already
			before := cp.Seen().Connects
			hits := c.up.hits.Load()
			if resp := c.do(t); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if c.up.hits.Load() != hits+1 {
				t.Fatal("the upstream did not get the request")
			}
			seen := cp.Seen()
			connects, auths, others := seen.Connects, seen.Auths, seen.Others
			if len(others) > 0 {
				t.Fatalf("the upstream proxy got requests that are not CONNECT: %q", others)
			}
			if len(connects) != len(before)+1 || connects[len(connects)-1] != c.target {
				t.Fatalf("CONNECTs %q, want one more to %s", connects[len(before):], c.target)
			}
			if auths[len(auths)-1] != corpAuth(corpUser, corpPass) {
				t.Errorf("Proxy-Authorization %q", auths[len(auths)-1])
			}
		})
	}
	// Over TLS the credential crossed the upstream proxy encrypted; only
	// the grant for plain http:// sent it in clear, as it says.
	if n := strings.Count(cp.Seen().Relayed, "Bearer "+sentinel); n != 1 {
		t.Errorf("the credential crossed the upstream proxy in clear %d times, want 1 (the http:// grant)", n)
	}
	e.checkLogsAndAudit()
}

func TestUpstreamProxyFailures(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	cases := []struct {
		name      string
		proxy     func(t *testing.T) string // the upstream.proxy address
		user      string
		pass      string
		status    int
		reason    string
		wantInMsg string
	}{
		{"wrong credentials", func(t *testing.T) string {
			return testnet.NewConnectProxy(t, corpAuth(corpUser, corpPass), 0).Addr()
		}, corpUser, "wrong-" + sentinel, 502, ReasonUpstreamProxy, "407"},
		{"no credentials where some are needed", func(t *testing.T) string {
			return testnet.NewConnectProxy(t, corpAuth(corpUser, corpPass), 0).Addr()
		}, "", "", 502, ReasonUpstreamProxy, "407"},
		{"the proxy refuses the tunnel", func(t *testing.T) string { return testnet.NewConnectProxy(t, "", http.StatusForbidden).Addr() },
			"", "", 502, ReasonUpstreamProxy, "403"},
		{"the proxy cannot be reached", func(t *testing.T) string { return closedAddr }, corpUser, corpPass, 502, ReasonUpstreamProxy, "could not be reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, viaProxy(c.proxy(t), c.user, c.pass))
			up := e.tlsUpstream("api.example.test", nil)
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			for _, grant := range []string{grantA, ""} {
				h := http.Header{}
				if grant != "" {
					h.Set(HeaderGrant, grant)
				}
				resp, body := e.do("GET", "https://api.example.test/", h)
				var eb errorBody
				_ = json.Unmarshal(body, &eb)
				if resp.StatusCode != c.status || eb.Reason != c.reason || !strings.Contains(eb.Message, c.wantInMsg) {
					t.Fatalf("grant %q: got %d %s, want %d %s with %q", grant, resp.StatusCode, body, c.status, c.reason, c.wantInMsg)
				}
				if strings.Contains(string(body), "127.0.0.1") {
					t.Errorf("the answer names an address: %s", body)
				}
			}
			if up.hits.Load() != 0 {
				t.Fatal("the upstream was reached")
			}
			e.checkLogsAndAudit()
		})
	}
}

// A grant for a name that resolves to an internal address is refused
// before anything is sent to the upstream proxy: the name is resolved and
// checked here, and only a checked address is ever named in a CONNECT.
func TestUpstreamProxySSRF(t *testing.T) {
	cp := testnet.NewConnectProxy(t, "", 0)
	// self stands for one of the proxy's own listeners.
	self, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	e := newEnv(t, viaProxy(cp.Addr(), "", ""),
		func(o *Options) { o.Upstream.Self = []netip.AddrPort{netip.MustParseAddrPort(self.Addr().String())} })
	up := e.tlsUpstream("api.example.test", nil)
	_, port, _ := net.SplitHostPort(up.srv.Listener.Addr().String())
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "localhost:"+port, "http://127.0.0.1:"+port, "http://[::1]:"+port)
	cases := []struct{ name, url string }{
		{"a name resolving to loopback", "https://localhost:" + port + "/"},
		{"a loopback literal", "http://127.0.0.1:" + port + "/"},
		{"an IPv6 loopback literal", "http://[::1]:" + port + "/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.do("GET", c.url, http.Header{HeaderGrant: {grantA}})
			if rule := denied(t, resp, body); rule != "destination" {
				t.Fatalf("rule %q", rule)
			}
		})
	}
	t.Run("without a grant, the proxy's own listener", func(t *testing.T) {
		resp, body := e.do("GET", "http://"+self.Addr().String()+"/", nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d %s", resp.StatusCode, body)
		}
	})
	if n := cp.Accepts(); n != 0 {
		t.Fatalf("%d connections reached the upstream proxy", n)
	}
	e.checkLogsAndAudit()
}

// A WebSocket's upstream connection is a CONNECT on upstream.proxy too.
func TestUpstreamProxyWebSocket(t *testing.T) {
	cp := testnet.NewConnectProxy(t, "", 0)
	e := newWSEnv(t, viaProxy(cp.Addr(), "", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _ := e.open(t, ctx, "wss://api.example.test/ws", grantA)
	echo(t, ctx, conn, "hi")
	_ = conn.Close(websocket.StatusNormalClosure, "")
	seen := cp.Seen()
	if len(seen.Connects) != 1 || len(seen.Others) != 0 || strings.Contains(seen.Relayed, sentinel) {
		t.Fatalf("CONNECTs %q, others %q, credential in clear: %t", seen.Connects, seen.Others, strings.Contains(seen.Relayed, sentinel))
	}
}

func TestUpstreamProxyRedacted(t *testing.T) {
	u := UpstreamProxy{Addr: "corp.example:3128", Username: corpUser, Password: corpPass}
	for _, s := range []string{u.String(), u.GoString(), (&egress{addr: u.Addr}).String()} {
		if strings.Contains(s, corpPass) {
			t.Fatalf("the password is printed: %s", s)
		}
	}
	if got := u.String(); got != "http://corp-user:xxxxx@corp.example:3128" {
		t.Errorf("String() = %q", got)
	}
}
