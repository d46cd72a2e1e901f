package controlplane

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestProfileThroughTheControlPlane: a profile made with `alter --server
// ... profile create` on one replica works through a sidecar on the other
// (store.type remote) with its token as the proxy password, the credential
// injected; a host none of its grants reaches is refused with nothing
// dialled (--deny-unmatched); and its revocation reaches the sidecar within
// a second.
func TestProfileThroughTheControlPlane(t *testing.T) {
	c := newCluster(t)
	// unlisted.test resolves to a listener that counts connections: the
	// profile must refuse it before anything is dialled.
	var dialled atomic.Int64
	trap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trap.Close() })
	go func() {
		for {
			conn, err := trap.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			conn.Close()
		}
	}()
	c.resolve = map[string]string{"unlisted.test:80": trap.Addr().String(), "unlisted.test:443": trap.Addr().String()}
	c.startReplica("a")
	c.startReplica("b")
	s := c.startSidecar("s1", "b", c.sidecarToken("billing", "s1"), maxStale)
	secret := newSecret()
	t.Cleanup(func() { c.checkNoLeak(secret, s) })

	billing := strings.TrimSpace(c.must(c.alter("a", secret, "secret", "add", "--type", "bearer",
		"--allow-host", upstreamHost, "--app", "billing", "--name", "billing-api")))
	other := strings.TrimSpace(c.must(c.alter("a", secret+"-other", "secret", "add", "--type", "bearer",
		"--allow-host", "api.other.test", "--app", "billing", "--name", "other-api")))
	tok := strings.TrimSpace(c.must(c.alter("a", "", "profile", "create", "ci", "--app", "billing",
		"--grant", billing, "--grant", other, "--deny-unmatched")))
	if !strings.HasPrefix(tok, "alt_p_") || len(tok) != len("alt_p_")+43 {
		t.Fatalf("profile create printed %d characters, not a profile token", len(tok))
	}
	t.Cleanup(func() { c.checkNoLeak(tok, s) })

	// A client that knows only the token: no grant header.
	proxyURL, _ := url.Parse("http://" + s.addr)
	proxyURL.User = url.UserPassword("ci", tok)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), DisableKeepAlives: true}, Timeout: 10 * time.Second}
	get := func(target string) (int, string) {
		resp, err := client.Get(target)
		if err != nil {
			return 0, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Alter-Error")
	}

	if code, e := get("http://" + upstreamHost + "/v1/invoices"); code != http.StatusOK {
		t.Fatalf("request with the profile token: %d %s", code, e)
	}
	if got := c.up.lastAuth(); got != "Bearer "+secret {
		t.Fatalf("upstream saw Authorization %q, want the billing grant's token", redact(got, secret))
	}
	if code, e := get("http://unlisted.test/"); code != http.StatusForbidden || e != "destination_not_allowed" {
		t.Fatalf("a host none of the profile's grants reaches: %d %s, want 403 destination_not_allowed", code, e)
	}
	if code, _ := get("https://unlisted.test/"); code == http.StatusOK {
		t.Fatal("a CONNECT to a host none of the profile's grants reaches was let through")
	}
	if n := dialled.Load(); n != 0 {
		t.Fatalf("the refused host was dialled %d times", n)
	}

	c.must(c.alter("a", "", "profile", "revoke", "ci"))
	took, ok := within(5*time.Second, func() bool {
		code, e := get("http://" + upstreamHost + "/v1/invoices")
		return code == http.StatusForbidden && e == "grant_unavailable"
	})
	t.Logf("the profile's revocation through replica a reached the sidecar on b %v after the command returned", took.Round(time.Millisecond))
	if !ok || took > propagation {
		t.Fatalf("revocation took %v to reach the sidecar (ok=%v), want < %v", took, ok, propagation)
	}
	// The grants themselves are untouched.
	if code, e := s.use(billing); code != http.StatusOK {
		t.Fatalf("the grant, by its id, after the profile's revocation: %d %s", code, e)
	}
}
