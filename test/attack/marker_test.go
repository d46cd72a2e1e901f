package attack

import (
	"strings"
	"testing"
)

// Class 3: the marker is read under any spelling, never reaches the
// upstream, and cannot be smuggled in a trailer or made ambiguous.
func TestAttackMarkerHandling(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
		e.addGrant("other", "--type", "bearer", "--allow-host", "api.attack.test")
	}})
	g, other := e.grants["api"], e.grants["other"]
	bearer := "Bearer " + e.secret("api")
	const url = "https://api.attack.test/m"
	get := func(lines ...string) func() *resp {
		return func() *resp {
			return e.send(req(append([]string{"GET " + url + " HTTP/1.1", "Host: api.attack.test"}, lines...)...))
		}
	}
	inTunnel := func(lines ...string) func() *resp {
		return func() *resp {
			return e.sendTLS("api.attack.test:443", "api.attack.test", req(append([]string{"GET /m HTTP/1.1", "Host: api.attack.test"}, lines...)...))
		}
	}
	injected := func(t *testing.T, s *seen) {
		t.Helper()
		noAlterUpstream(t, s)
		if v := s.Header.Values("Authorization"); len(v) != 1 || v[0] != bearer {
			t.Errorf("upstream Authorization: %d values, want exactly the injected one", len(v))
		}
	}

	for _, name := range []string{"X-Alter-Grant", "x-alter-grant", "X-ALTER-GRANT", "x-AlTeR-gRaNt"} {
		for kind, send := range map[string]func(...string) func() *resp{"plain": get, "tunnel": inTunnel} {
			t.Run(kind+"/name spelled "+name, func(t *testing.T) {
				injected(t, e.allowed(t, e.good, send(name+": "+g)))
			})
		}
	}
	for name, v := range map[string]string{"upper-case id": strings.ToUpper(g), "spaces around": "  " + g + "\t", "same id twice in headers": g} {
		t.Run("value/"+name, func(t *testing.T) {
			lines := []string{"X-Alter-Grant: " + v}
			if name == "same id twice in headers" {
				lines = append(lines, "x-alter-grant: "+g)
			}
			injected(t, e.allowed(t, e.good, get(lines...)))
		})
	}
	bad := map[string][]string{
		"two different ids":                {"X-Alter-Grant: " + g, "X-Alter-Grant: " + other},
		"two different ids, name cases":    {"X-Alter-Grant: " + g, "x-alter-grant: " + other},
		"comma list":                       {"X-Alter-Grant: " + g + ", " + other},
		"same id as a comma list":          {"X-Alter-Grant: " + g + "," + g},
		"braces":                           {"X-Alter-Grant: {" + g + "}"},
		"urn form":                         {"X-Alter-Grant: urn:uuid:" + g},
		"no hyphens":                       {"X-Alter-Grant: " + strings.ReplaceAll(g, "-", "")},
		"empty value":                      {"X-Alter-Grant: "},
		"trailing junk":                    {"X-Alter-Grant: " + g + "x"},
		"announced trailer":                {"X-Alter-Grant: " + g, "Trailer: X-Alter-Grant"},
		"announced trailer, other case":    {"X-Alter-Grant: " + g, "Trailer: Content-MD5, x-alter-reason"},
		"announced trailer without marker": {"Trailer: X-Alter-Grant", "Content-Length: 0"},
	}
	for name, lines := range bad {
		for kind, send := range map[string]func(...string) func() *resp{"plain": get, "tunnel": inTunnel} {
			t.Run(kind+"/"+name, func(t *testing.T) {
				e.refused(t, 400, "bad_request", send(lines...))
			})
		}
	}
	// net/http refuses these before our code sees them.
	for name, line := range map[string]string{
		"space before colon":   "X-Alter-Grant : " + g,
		"tab in name":          "X-Alter-Grant\t: " + g,
		"non-ASCII look-alike": "X-A\u029fter-Grant: " + g,
		"NUL in value":         "X-Alter-Grant: " + g + "\x00",
		"obs-fold first line":  " X-Alter-Grant: " + g,
	} {
		t.Run("malformed/"+name, func(t *testing.T) { e.refused(t, 400, "", get(line)) })
	}

	t.Run("trailer/marker arriving after the body is never used", func(t *testing.T) {
		s := e.allowed(t, e.good, func() *resp {
			return e.send("POST " + url + " HTTP/1.1\r\nHost: api.attack.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"2\r\nhi\r\n0\r\nX-Alter-Grant: " + g + "\r\n\r\n")
		})
		if s.Header.Get("Authorization") != "" {
			t.Error("a marker in an unannounced trailer injected the credential")
		}
		noAlterUpstream(t, s)
	})
	t.Run("trailer/second marker after the body is not forwarded", func(t *testing.T) {
		s := e.allowed(t, e.good, func() *resp {
			return e.send("POST " + url + " HTTP/1.1\r\nHost: api.attack.test\r\nX-Alter-Grant: " + g + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"2\r\nhi\r\n0\r\nX-Alter-Grant: " + other + "\r\n\r\n")
		})
		injected(t, s)
	})
	for _, conn := range []string{"X-Alter-Grant", "x-alter-grant, close", "Authorization", "Authorization, X-Alter-Grant, Keep-Alive"} {
		t.Run("Connection lists "+conn, func(t *testing.T) {
			// The marker is read before Connection-listed headers go, and
			// the credential is injected after: neither can be dropped.
			injected(t, e.allowed(t, e.good, get("X-Alter-Grant: "+g, "Authorization: Bearer client-own", "Connection: "+conn)))
		})
	}
	t.Run("other X-Alter-* and Proxy-Authorization never reach upstream", func(t *testing.T) {
		injected(t, e.allowed(t, e.good, get("X-Alter-Grant: "+g, "X-Alter-Reason: audit me", "x-alter-foo: 1",
			"X-ALTER-ERROR: none", "X-Alter-Request-Id: forged", "Proxy-Authorization: Basic Zm9vOmJhcg==")))
	})
	t.Run("passthrough strips X-Alter-* too", func(t *testing.T) {
		noAlterUpstream(t, e.allowed(t, e.good, get("X-Alter-Foo: 1", "x-alter-reason: r")))
	})
	t.Run("marker on the CONNECT only", func(t *testing.T) {
		s := e.allowed(t, e.good, func() *resp {
			return e.sendTLS("api.attack.test:443", "api.attack.test", req("GET /m HTTP/1.1", "Host: api.attack.test"), "X-Alter-Grant: "+g)
		})
		if s.Header.Get("Authorization") != "" {
			t.Error("a marker on the CONNECT injected into an unmarked inner request")
		}
	})
	t.Run("marker in the query string is not a marker", func(t *testing.T) {
		s := e.allowed(t, e.good, func() *resp {
			return e.send(req("GET "+url+"?X-Alter-Grant="+g+" HTTP/1.1", "Host: api.attack.test"))
		})
		if s.Header.Get("Authorization") != "" {
			t.Error("a query parameter acted as a marker")
		}
	})
	for kind, send := range map[string]func(...string) func() *resp{"plain": get, "tunnel": inTunnel} {
		t.Run(kind+"/response X-Alter-* from upstream removed", func(t *testing.T) {
			r := send("X-Alter-Grant: " + g)()
			if r.status != 200 {
				t.Fatalf("%s", r)
			}
			onlyAlterRequestID(t, r.header)
		})
		t.Run(kind+"/passthrough response X-Alter-* removed", func(t *testing.T) {
			r := send()()
			if r.status != 200 {
				t.Fatalf("%s", r)
			}
			for k := range r.header {
				if strings.HasPrefix(strings.ToLower(k), "x-alter-") {
					t.Errorf("passthrough response carries %s: %q", k, r.header.Values(k))
				}
			}
		})
	}
}
