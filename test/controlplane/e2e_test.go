package controlplane

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// propagation is the promise: a change made through any replica reaches
// every connected sidecar within this long.
const propagation = time.Second

// maxStale is the sidecars' store.max_stale (its smallest allowed value).
const maxStale = 10 * time.Second

func newSecret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "sk_e2e_" + hex.EncodeToString(b)
}

// within polls check until it returns true or d has passed, and returns
// how long it took (or false).
func within(d time.Duration, check func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if check() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTwoReplicasTwoSidecars(t *testing.T) {
	c := newCluster(t)
	c.startReplica("a")
	c.startReplica("b")
	s1 := c.startSidecar("s1", "a", c.sidecarToken("billing", "s1"), maxStale)
	s2 := c.startSidecar("s2", "b", c.sidecarToken("billing", "s2"), maxStale)
	secret := newSecret()
	t.Cleanup(func() { c.checkNoLeak(secret, s1, s2) })

	g := strings.TrimSpace(c.must(c.alter("a", secret, "secret", "add", "--type", "bearer",
		"--allow-host", upstreamHost, "--app", "billing", "--name", "billing-api")))
	for _, s := range []*sidecar{s1, s2} {
		if code, e := s.use(g); code != http.StatusOK {
			t.Fatalf("%s: grant stored through replica a: %d %s", s.name, code, e)
		}
		if got := c.up.lastAuth(); got != "Bearer "+secret {
			t.Fatalf("%s: upstream saw Authorization %q, want the stored bearer token", s.name, redact(got, secret))
		}
	}

	clone := strings.TrimSpace(c.must(c.alter("b", "", "grant", "clone", g, "--ttl", "1h")))
	if code, e := s1.use(clone); code != http.StatusOK {
		t.Fatalf("clone made through replica b, used on s1 (replica a): %d %s", code, e)
	}
	if code, e := s2.use(clone); code != http.StatusOK {
		t.Fatalf("clone used on s2: %d %s", code, e)
	}

	t.Run("revocation through a reaches the sidecar on b", func(t *testing.T) {
		c.must(c.alter("a", "", "grant", "revoke", g))
		took, ok := within(5*time.Second, func() bool {
			code, e := s2.use(g)
			return code == http.StatusForbidden && e == "grant_unavailable"
		})
		t.Logf("revocation reached s2 (connected to replica b) %v after the command returned", took.Round(time.Millisecond))
		if !ok || took > propagation {
			t.Fatalf("revocation took %v to reach s2 (ok=%v), want < %v", took, ok, propagation)
		}
		// The clone dies with its parent on both sidecars, each following
		// its own replica: within the same second, not at the same instant.
		for _, s := range []*sidecar{s1, s2} {
			took, ok := within(5*time.Second, func() bool {
				code, e := s.use(clone)
				return code == http.StatusForbidden && e == "grant_unavailable"
			})
			if !ok || took > propagation {
				t.Errorf("%s: the clone of the revoked grant was still served %v later (ok=%v), want < %v", s.name, took, ok, propagation)
			}
		}
	})

	g2 := strings.TrimSpace(c.must(c.alter("b", secret+"-2", "secret", "add", "--type", "bearer",
		"--allow-host", upstreamHost, "--app", "billing", "--name", "billing-api-2")))
	for _, s := range []*sidecar{s1, s2} {
		if code, e := s.use(g2); code != http.StatusOK {
			t.Fatalf("%s: second grant: %d %s", s.name, code, e)
		}
	}

	t.Run("rotation through b reaches the sidecar on a", func(t *testing.T) {
		c.must(c.alter("b", secret+"-3", "grant", "rotate", g2))
		rotated := time.Now()
		took, ok := within(5*time.Second, func() bool {
			code, _ := s1.use(g2)
			return code == http.StatusOK && c.up.lastAuth() == "Bearer "+secret+"-3"
		})
		t.Logf("rotation reached s1 (connected to replica a) %v after the command returned", took.Round(time.Millisecond))
		if !ok || took > propagation {
			t.Fatalf("rotation took %v to reach s1 (ok=%v), want < %v", took, ok, propagation)
		}
		// s2 follows replica b on its own stream: within the same second,
		// not necessarily by the time s1 has it.
		var code int
		var e string
		_, ok = within(5*time.Second, func() bool {
			code, e = s2.use(g2)
			return code == http.StatusOK && c.up.lastAuth() == "Bearer "+secret+"-3"
		})
		took = time.Since(rotated)
		t.Logf("rotation reached s2 (connected to replica b) %v after the command returned", took.Round(time.Millisecond))
		if !ok || took > propagation {
			t.Fatalf("rotation took %v to reach s2 (ok=%v, last: %d %s), want < %v", took, ok, code, e, propagation)
		}
	})

	t.Run("servers down: cached grants until max_stale, then 503", func(t *testing.T) {
		// A fetch that raced the rotation's change is served but not
		// cached (it may predate the change); one more use caches g2.
		for _, s := range []*sidecar{s1, s2} {
			if code, e := s.use(g2); code != http.StatusOK {
				t.Fatalf("%s: %d %s", s.name, code, e)
			}
		}
		c.replicas["a"].kill(syscall.SIGKILL)
		c.replicas["b"].kill(syscall.SIGKILL)
		for _, s := range []*sidecar{s1, s2} {
			if code, e := s.use(g2); code != http.StatusOK {
				t.Fatalf("%s: cached grant right after the servers died: %d %s", s.name, code, e)
			}
			// Dropped from the cache when it was revoked, it cannot be
			// looked up now: refused either way (403 or 503), never served.
			if code, e := s.use(g); code != http.StatusForbidden && code != http.StatusServiceUnavailable {
				t.Errorf("%s: revoked grant while the servers are down: %d %s, want a refusal", s.name, code, e)
			}
		}
		// max_stale counts from the last contact; soon after, both refuse.
		took, ok := within(maxStale+6*time.Second, func() bool {
			code, e := s1.use(g2)
			return code == http.StatusServiceUnavailable && e == "store_unavailable"
		})
		if !ok {
			t.Fatalf("s1 still served the cached grant %v after the servers died", took)
		}
		t.Logf("s1 refused %v after the servers died (max_stale %v)", took.Round(time.Millisecond), maxStale)
		if took < maxStale-time.Second {
			t.Errorf("s1 gave up after %v, before max_stale (%v)", took, maxStale)
		}
		// s2 heard from its replica a moment later than s1 did.
		if _, ok := within(2*time.Second, func() bool {
			code, e := s2.use(g2)
			return code == http.StatusServiceUnavailable && e == "store_unavailable"
		}); !ok {
			t.Errorf("s2 still served the cached grant 2s after s1 stopped")
		}
	})

	// s1 dies too, hard, with audit records the servers have not had:
	// they must reach the server after both come back.
	s1.kill(syscall.SIGKILL)

	t.Run("servers back: sidecars recover", func(t *testing.T) {
		c.restartReplica("a")
		c.restartReplica("b")
		c.runSidecar(s1, "s1")
		for _, s := range []*sidecar{s1, s2} {
			if _, ok := within(10*time.Second, func() bool { code, _ := s.use(g2); return code == http.StatusOK }); !ok {
				t.Fatalf("%s did not recover after the servers came back", s.name)
			}
		}
	})

	t.Run("no audit record lost", func(t *testing.T) {
		for _, grant := range []string{g, clone, g2} {
			local := s1.localAudit(t, grant) + s2.localAudit(t, grant)
			var shipped int
			_, ok := within(20*time.Second, func() bool {
				shipped = c.serverAudit(t, "a", grant)
				return shipped >= local
			})
			t.Logf("grant %s: %d records in the sidecars' logs, %d on the server", grant, local, shipped)
			if !ok || shipped != local || local == 0 {
				t.Errorf("grant %s: %d records in the sidecars' logs, %d on the server", grant, local, shipped)
			}
		}
	})

	// After the audit check, so shipping has caught up with the outage.
	t.Run("sidecar metrics", func(t *testing.T) {
		for _, s := range []*sidecar{s1, s2} {
			age, err := strconv.ParseFloat(s.metric(t, "alter_store_contact_age_seconds"), 64)
			if err != nil || age < 0 || age > maxStale.Seconds() {
				t.Errorf("%s: alter_store_contact_age_seconds %v (%v), want 0..%v", s.name, age, err, maxStale.Seconds())
			}
			if v, err := strconv.ParseFloat(s.metric(t, "alter_audit_shipped_seq"), 64); err != nil || v <= 0 {
				t.Errorf("%s: alter_audit_shipped_seq %v (%v), want > 0", s.name, v, err)
			}
			if v := s.metric(t, "alter_audit_ship_failing"); v != "0" {
				t.Errorf("%s: alter_audit_ship_failing %q, want 0", s.name, v)
			}
		}
		if v := s2.metric(t, "alter_store_stale_served_total"); v == "" {
			t.Error("s2 has no alter_store_stale_served_total")
		}
	})
}

func redact(s, secret string) string { return strings.ReplaceAll(s, secret, "<secret>") }
