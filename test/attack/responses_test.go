package attack

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/internal/testnet"
)

// Class 6: redirects go back to the client, never followed; upstream
// headers that imitate ours are removed; an upstream that reflects the
// credential must not hand it to the application.
func TestAttackRedirectsAndResponses(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
	}})
	g := e.grants["api"]
	for _, code := range []int{301, 302, 303, 307, 308} {
		for kind, send := range map[string]func(path string) *resp{
			"plain": func(p string) *resp { return e.send(absGet("https://api.attack.test"+p, "api.attack.test", g)) },
			"tunnel": func(p string) *resp {
				return e.sendTLS("api.attack.test:443", "api.attack.test", req("GET "+p+" HTTP/1.1", "Host: api.attack.test", "X-Alter-Grant: "+g))
			},
		} {
			t.Run(fmt.Sprintf("%s/%d returned, not followed", kind, code), func(t *testing.T) {
				evil, hits := e.evil.bytes.Load(), e.good.hits.Load()
				r := send(fmt.Sprintf("/redirect/%d", code))
				if r.status != code || r.header.Get("Location") != "https://evil.attack.test/steal?from=redirect" {
					t.Errorf("got %s, Location %q", r, r.header.Get("Location"))
				}
				if e.evil.bytes.Load() != evil || e.good.hits.Load() != hits+1 {
					t.Errorf("the redirect was followed")
				}
				onlyAlterRequestID(t, r.header)
			})
		}
	}
}

// TestAttackEchoedCredential: an allowed upstream that reflects its request
// (httpbin /headers, debug and error pages) must not hand the injected
// secret to the application. With scrub_echo: body the proxy masks it in
// headers and body, plain and inside tunnels. (The default, headers,
// masks headers only; proxy/scrub_test.go covers it.)
func TestAttackEchoedCredential(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{scrubEcho: "body", setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
	}})
	g := e.grants["api"]
	for kind, send := range map[string]func() *resp{
		"plain": func() *resp { return e.send(absGet("https://api.attack.test/echo", "api.attack.test", g)) },
		"http":  func() *resp { return e.send(absGet("http://api.attack.test/echo", "api.attack.test", g)) },
		"tunnel": func() *resp {
			return e.sendTLS("api.attack.test:443", "api.attack.test", req("GET /echo HTTP/1.1", "Host: api.attack.test", "X-Alter-Grant: "+g))
		},
	} {
		t.Run(kind, func(t *testing.T) {
			// e.send fails the test with LEAK if the sentinel reaches the client.
			r := send()
			if r.status != 200 {
				t.Errorf("%s", r)
			}
			if strings.Contains(r.raw, e.sentinel) {
				t.Errorf("CREDENTIAL LEAK TO THE APPLICATION: the echoed secret reached the client")
			}
			if !strings.Contains(r.raw, "*****") {
				t.Errorf("the echo was not masked: %s", r.raw)
			}
		})
	}
}

// Class 7: upstream TLS is verified whatever the client asked, and the
// proxy's environment cannot reroute injected requests.
func TestAttackUpstreamTrust(t *testing.T) {
	t.Parallel()
	var selfSigned, wrongName *upstream
	e := startEnv(t, envOpts{setup: func(e *env) {
		untrusted := newUpstreamCA(t, e.dir, "untrusted")
		selfSigned = startUpstream(t, "self-signed", untrusted.forSNI())
		wrongName = startUpstream(t, "wrong-name", e.upCA.fixed("other.attack.test"))
		e.pins["selfsigned.attack.test:443"] = selfSigned.addr
		e.pins["wrongname.attack.test:443"] = wrongName.addr
		e.addGrant("self", "--type", "bearer", "--allow-host", "selfsigned.attack.test")
		e.addGrant("wrong", "--type", "bearer", "--allow-host", "wrongname.attack.test")
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
	}})
	for name, c := range map[string]struct {
		up    *upstream
		host  string
		grant string
	}{"untrusted certificate": {selfSigned, "selfsigned.attack.test", "self"}, "certificate for another name": {wrongName, "wrongname.attack.test", "wrong"}} {
		for kind, send := range map[string]func() *resp{
			"plain":         func() *resp { return e.send(absGet("https://"+c.host+"/", c.host, e.grants[c.grant])) },
			"http upgraded": func() *resp { return e.send(absGet("http://"+c.host+"/", c.host, e.grants[c.grant])) },
			"tunnel": func() *resp {
				return e.sendTLS(c.host+":443", c.host, req("GET / HTTP/1.1", "Host: "+c.host, "X-Alter-Grant: "+e.grants[c.grant]))
			},
		} {
			t.Run(kind+"/"+name, func(t *testing.T) {
				if r := send(); r.status != 502 || r.code() != "upstream_error" {
					t.Errorf("want 502 upstream_error, got %s", r)
				}
				// The handshake bytes arrive, but no request was ever sent.
				if c.up.hits.Load() != 0 {
					t.Errorf("CREDENTIAL LEAK: a request reached an upstream whose certificate does not verify")
				}
			})
		}
	}
	t.Run("http request for an https-only grant never goes out in clear", func(t *testing.T) {
		before := e.evilPlain.bytes.Load()
		s := e.allowed(t, e.good, func() *resp { return e.send(absGet("http://api.attack.test/", "api.attack.test", e.grants["api"])) })
		if e.evilPlain.bytes.Load() != before || s.Header.Get("Authorization") == "" {
			t.Errorf("the credential was sent over plain http to api.attack.test:80")
		}
	})
	t.Run("HTTPS_PROXY in the proxy's environment is ignored", func(t *testing.T) {
		e.allowed(t, e.good, func() *resp { return e.send(absGet("https://api.attack.test/", "api.attack.test", e.grants["api"])) })
		e.allowed(t, e.good, func() *resp { return e.send(req("GET https://api.attack.test/ HTTP/1.1", "Host: api.attack.test")) })
		if n := e.trap.bytes.Load(); n != 0 {
			t.Errorf("%d bytes went to the environment's proxy", n)
		}
	})
}

// Class 7 with upstream.proxy: every upstream connection is a CONNECT on
// the corporate proxy naming an address the proxy checked, the TLS inside
// is verified end to end (the credential never crosses the corporate proxy
// in clear), the proxy's password goes only in Proxy-Authorization, and a
// name resolving to an internal address is refused before the corporate
// proxy hears of it.
func TestAttackUpstreamProxy(t *testing.T) {
	t.Parallel()
	var corp *testnet.ConnectProxy
	var corpPass string
	e := startEnv(t, envOpts{
		setup: func(e *env) {
			_, port, _ := net.SplitHostPort(e.good.addr)
			e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
			e.addGrant("localhost", "--type", "bearer", "--allow-host", "localhost:"+port)
		},
		upstreamProxy: func(e *env) string {
			corpPass = e.secret("corp")
			corp = testnet.NewConnectProxy(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("svc:"+corpPass)), 0)
			return (&url.URL{Scheme: "http", User: url.UserPassword("svc", corpPass), Host: corp.Addr()}).String()
		},
	})
	api := e.grants["api"]
	for name, send := range map[string]func() *resp{
		"plain, with a grant": func() *resp { return e.send(absGet("https://api.attack.test/", "api.attack.test", api)) },
		"tunnel, with a grant": func() *resp {
			return e.sendTLS("api.attack.test:443", "api.attack.test", req("GET / HTTP/1.1", "Host: api.attack.test", "X-Alter-Grant: "+api))
		},
		"tunnel, no grant": func() *resp {
			return e.sendTLS("api.attack.test:443", "api.attack.test", req("GET / HTTP/1.1", "Host: api.attack.test"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(corp.Seen().Connects)
			e.allowed(t, e.good, send)
			seen := corp.Seen()
			if len(seen.Others) != 0 {
				t.Fatalf("the corporate proxy got requests that are not CONNECT: %q", seen.Others)
			}
			for i, target := range seen.Connects[before:] {
				if target != e.good.addr || seen.Auths[before+i] != "Basic "+base64.StdEncoding.EncodeToString([]byte("svc:"+corpPass)) {
					t.Errorf("CONNECT %s with %q", target, seen.Auths[before+i])
				}
			}
		})
	}
	t.Run("a name resolving to loopback is refused before the corporate proxy", func(t *testing.T) {
		accepts := corp.Accepts()
		_, port, _ := net.SplitHostPort(e.good.addr)
		r := e.send(absGet("https://localhost:"+port+"/", "localhost", e.grants["localhost"]))
		if r.status != 403 || r.code() != "policy_denied" || !strings.Contains(r.body, `"rule":"destination"`) {
			t.Fatalf("want 403 policy_denied destination, got %s", r)
		}
		if corp.Accepts() != accepts {
			t.Fatal("the corporate proxy was asked")
		}
	})
	if seen := corp.Seen(); strings.Contains(seen.Relayed, e.sentinel) || len(seen.Connects) == 0 {
		t.Errorf("CONNECTs %q; the credential crossed the corporate proxy in clear: %t", seen.Connects, strings.Contains(seen.Relayed, e.sentinel))
	}
	if n := e.trap.bytes.Load(); n != 0 {
		t.Errorf("%d bytes went to the environment's proxy", n)
	}
}
