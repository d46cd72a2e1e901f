package attack

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// Class 12: unknown, revoked and expired grants get byte-identical answers
// (but for the request id and date); their timing is only logged.
func TestAttackEnumeration(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
		e.addGrant("revoked", "--type", "bearer", "--allow-host", "api.attack.test")
		if _, err := e.alter("", "grant", "revoke", e.grants["revoked"]); err != nil {
			t.Fatal(err)
		}
	}})
	out, err := e.alter("", "grant", "clone", e.grants["api"], "--ttl", "2s")
	if err != nil {
		t.Fatal(err)
	}
	expired := strings.TrimSpace(out)
	time.Sleep(2500 * time.Millisecond)
	kinds := map[string]string{
		"unknown":       "3f2c1a9e-7b4d-4e8f-9a1b-2c3d4e5f6a7b",
		"revoked":       e.grants["revoked"],
		"expired clone": expired,
	}
	answer := func(id string, tunnel bool) *resp {
		if tunnel {
			return e.sendTLS("api.attack.test:443", "api.attack.test", req("GET /e HTTP/1.1", "Host: api.attack.test", "X-Alter-Grant: "+id))
		}
		return e.send(absGet("https://api.attack.test/e", "api.attack.test", id))
	}
	for _, tunnel := range []bool{false, true} {
		var first string
		for kind, id := range kinds {
			r := e.refused(t, 403, "grant_unavailable", func() *resp { return answer(id, tunnel) })
			n := normalised(r)
			if first == "" {
				first = n
			} else if n != first {
				t.Errorf("tunnel=%v: %s answers differently:\n%s\n---\n%s", tunnel, kind, n, first)
			}
		}
	}

	// Timing: interleaved samples, medians logged, never asserted.
	samples := map[string][]time.Duration{}
	for i := 0; i < 30; i++ {
		for kind, id := range kinds {
			start := time.Now()
			answer(id, false)
			samples[kind] = append(samples[kind], time.Since(start))
		}
	}
	for kind, s := range samples {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		t.Logf("median answer time, %s grant: %v", kind, s[len(s)/2])
	}
}

// normalised is the answer without what differs per request.
func normalised(r *resp) string {
	h := r.header.Clone()
	h.Del("Date")
	h.Del("X-Alter-Request-Id")
	var b strings.Builder
	b.WriteString(http.StatusText(r.status) + "\n")
	_ = h.Write(&b)
	b.WriteString(r.body)
	return b.String()
}
