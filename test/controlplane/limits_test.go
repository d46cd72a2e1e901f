package controlplane

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestRateLimitAcrossSidecars: a --rate 20/m grant used through two
// sidecars (one on each replica) serves 20 requests between them in the
// minute, not 20 each: alter server counts the uses (leases it hands out
// are counted at once). The rest get 429 rate_limited with Retry-After,
// and the upstream sees exactly the 20.
func TestRateLimitAcrossSidecars(t *testing.T) {
	c := newCluster(t)
	c.startReplica("a")
	c.startReplica("b")
	s1 := c.startSidecar("s1", "a", c.sidecarToken("billing", "s1"), maxStale)
	s2 := c.startSidecar("s2", "b", c.sidecarToken("billing", "s2"), maxStale)
	secret := newSecret()
	t.Cleanup(func() { c.checkNoLeak(secret, s1, s2) })
	g := strings.TrimSpace(c.must(c.alter("a", secret, "secret", "add", "--type", "bearer",
		"--allow-host", upstreamHost, "--app", "billing", "--name", "billing-api", "--rate", "20/m")))

	before := c.up.count()
	ok, limited := 0, 0
	for i := 0; i < 40; i++ {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+upstreamHost+"/v1/invoices", nil)
		req.Header.Set("X-Alter-Grant", g)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("X-Alter-Error") != "rate_limited" {
				t.Fatalf("429 with code %q", resp.Header.Get("X-Alter-Error"))
			}
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
				t.Fatalf("Retry-After %q, want 1 to 60 seconds", resp.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, resp.Header.Get("X-Alter-Error"))
		}
	}
	if ok != 20 || limited != 20 {
		t.Fatalf("%d served and %d refused across two sidecars, want 20 and 20", ok, limited)
	}
	if n := c.up.count() - before; n != 20 {
		t.Fatalf("the upstream saw %d requests, want 20", n)
	}
}
