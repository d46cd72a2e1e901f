package attack

import (
	"net"
	"strings"
	"testing"
	"time"
)

// Class 2: an allowed destination whose address is internal is refused at
// dial time (403 policy_denied, rule destination), before any byte is sent.
// The proxy listens on 127.0.0.2 with allow_private [127.0.0.2/32], so the
// one internal address grants may reach is the proxy's own, which must
// still be refused.
func TestAttackSSRF(t *testing.T) {
	t.Parallel()
	var inside *upstream // on 127.0.0.2, reachable through allow_private
	e := startEnv(t, envOpts{listenHost: "127.0.0.2", allowPrivate: `["127.0.0.2/32"]`, setup: func(e *env) {
		_, port, _ := net.SplitHostPort(e.good.addr)
		inside = startUpstreamOn(t, "127.0.0.2:0", "inside", nil)
		e.addGrant("localhost", "--type", "bearer", "--allow-host", "localhost:"+port)
		e.addGrant("loopback", "--type", "bearer", "--allow-host", "127.0.0.1:"+port, "--allow-host", "http://127.0.0.1:"+port)
		e.addGrant("v6loop", "--type", "bearer", "--allow-host", "[::1]:"+port)
		e.addGrant("unspecified", "--type", "bearer", "--allow-host", "http://0.0.0.0:"+port)
		e.addGrant("metadata", "--type", "bearer", "--allow-host", "http://169.254.169.254:80", "--allow-host", "http://[fe80::a9fe:a9fe]:80")
		e.addGrant("private", "--type", "bearer", "--allow-host", "http://10.0.0.1:80", "--allow-host", "http://172.16.0.1:80",
			"--allow-host", "http://192.168.0.1:80", "--allow-host", "http://100.64.0.1:80", "--allow-host", "http://[fd00::1]:80")
		e.addGrant("inside", "--type", "bearer", "--allow-host", "http://"+inside.addr)
	}})
	_, port, _ := net.SplitHostPort(e.good.addr)
	cases := []struct{ name, grant, url string }{
		{"allowed name resolving to loopback", "localhost", "https://localhost:" + port + "/"},
		{"same, upper case and trailing dot", "localhost", "https://LOCALHOST.:" + port + "/"},
		{"loopback literal https", "loopback", "https://127.0.0.1:" + port + "/"},
		{"loopback literal http", "loopback", "http://127.0.0.1:" + port + "/"},
		{"IPv4-mapped IPv6 loopback", "loopback", "http://[::ffff:127.0.0.1]:" + port + "/"},
		{"IPv6 loopback", "v6loop", "https://[::1]:" + port + "/"},
		{"IPv6 loopback long form", "v6loop", "https://[0:0:0:0:0:0:0:1]:" + port + "/"},
		{"unspecified address reaches loopback", "unspecified", "http://0.0.0.0:" + port + "/"},
		{"cloud metadata", "metadata", "http://169.254.169.254/latest/meta-data/"},
		{"cloud metadata IPv4-mapped", "metadata", "http://[::ffff:169.254.169.254]/"},
		{"link-local IPv6", "metadata", "http://[fe80::a9fe:a9fe]/"},
		{"private 10/8", "private", "http://10.0.0.1/"},
		{"private 172.16/12", "private", "http://172.16.0.1/"},
		{"private 192.168/16", "private", "http://192.168.0.1/"},
		{"CGNAT 100.64/10", "private", "http://100.64.0.1/"},
		{"IPv6 unique local", "private", "http://[fd00::1]/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			r := e.refused(t, 403, "policy_denied", func() *resp { return e.send(absGet(c.url, "x", e.grants[c.grant])) })
			if !strings.Contains(r.body, `"rule":"destination"`) {
				t.Errorf("403 does not name the destination rule: %s", r.body)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("refusal took %v: was a dial attempted?", time.Since(start))
			}
		})
	}
	t.Run("inside a tunnel to a name resolving to loopback", func(t *testing.T) {
		e.refused(t, 403, "policy_denied", func() *resp {
			return e.sendTLS("localhost:"+port, "localhost", req("GET / HTTP/1.1", "Host: localhost:"+port, "X-Alter-Grant: "+e.grants["localhost"]))
		})
	})
	t.Run("allow_private positive control", func(t *testing.T) {
		e.allowed(t, inside, func() *resp { return e.send(absGet("http://"+inside.addr+"/", inside.addr, e.grants["inside"])) })
	})
	t.Run("the proxy's own listeners, even inside allow_private", func(t *testing.T) {
		self := e.addGrant("self", "--type", "bearer", "--allow-host", "http://"+e.proxyAddr, "--allow-host", "http://"+e.adminAddr)
		waitGrant(t, e, self)
		for _, addr := range []string{e.proxyAddr, e.adminAddr} {
			r := e.send(absGet("http://"+addr+"/metrics", addr, self))
			if r.status != 403 || r.code() != "policy_denied" {
				t.Errorf("grant request to the proxy's own %s: %s", addr, r)
			}
		}
	})
	t.Run("DNS rebinding between check and dial", func(t *testing.T) {
		t.Skip("not testable through the binary: its resolver cannot be pointed at a test DNS server; " +
			"the check runs in the dialer's Control hook on the address connected to (proxy/transport.go), and the names above show it applies after DNS")
	})
}

// waitGrant waits until the running proxy knows grant id (it polls the
// store): any answer but grant_unavailable will do.
func waitGrant(t *testing.T, e *env, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		r := e.send(absGet("http://unknown-name.invalid/", "x", id))
		if r.code() != "grant_unavailable" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the proxy did not pick up grant %s", id)
}
