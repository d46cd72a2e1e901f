package api

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testclock"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestAuditBudget: one sidecar token ships at most so many records (and
// bytes) a second after a burst; beyond, 429 with Retry-After, and the
// budget refills with time. Another token has its own. (20,000 records,
// 27 MB, went in in 1.2 s.)
func TestAuditBudget(t *testing.T) {
	c := testclock.New()
	e := newEnv(t, testdb.SQLite(t), func(o *Options) { o.Now, o.AuditRecordRate = c.Now, 10 })
	batch := func(prefix string, n int) map[string]any {
		recs := make([]any, n)
		for i := range recs {
			recs[i] = map[string]any{"id": fmt.Sprintf("%s-%d", prefix, i), "time": c.Now(), "decision": "allow", "actor": "svc", "body": auditBody(c.Now(), "", "svc", "allow")}
		}
		return map[string]any{"records": recs}
	}
	e.must(200, "POST", "/v1/sidecar/audit", e.billing, batch("a", 100), nil) // the burst: ten seconds' worth
	a := e.call("POST", "/v1/sidecar/audit", e.billing, batch("b", 5))
	checkError(t, a, 429, wire.CodeTooManyRequests, "budget")
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", a.header.Get("Retry-After"))
	}
	e.must(200, "POST", "/v1/sidecar/audit", e.search, batch("c", 5), nil)
	c.Advance(time.Second)
	e.must(200, "POST", "/v1/sidecar/audit", e.billing, batch("b", 5), nil)

	// Bytes too: a second env whose byte budget a few large records use up.
	c2 := testclock.New()
	e2 := newEnv(t, testdb.SQLite(t), func(o *Options) { o.Now, o.AuditByteRate = c2.Now, 1000 })
	big := map[string]any{"ts": c2.Now().UTC().Format(time.RFC3339Nano), "decision": "allow", "pad": strings.Repeat("a", 4000)}
	rec := func(id string) map[string]any {
		return map[string]any{"records": []any{map[string]any{"id": id, "time": c2.Now(), "decision": "allow", "body": big}}}
	}
	e2.must(200, "POST", "/v1/sidecar/audit", e2.billing, rec("x1"), nil)
	e2.must(200, "POST", "/v1/sidecar/audit", e2.billing, rec("x2"), nil)
	checkError(t, e2.call("POST", "/v1/sidecar/audit", e2.billing, rec("x3")), 429, wire.CodeTooManyRequests, "budget")
}

// TestPoliciesBudget: /v1/sidecar/policies is rate limited per token.
func TestPoliciesBudget(t *testing.T) {
	c := testclock.New()
	e := newEnv(t, testdb.SQLite(t), func(o *Options) { o.Now, o.PoliciesRate, o.PoliciesBurst = c.Now, 1, 3 })
	for range 3 {
		e.must(200, "GET", "/v1/sidecar/policies", e.billing, nil, nil)
	}
	checkError(t, e.call("GET", "/v1/sidecar/policies", e.billing, nil), 429, wire.CodeTooManyRequests, "budget")
	e.must(200, "GET", "/v1/sidecar/policies", e.search, nil, nil)
	c.Advance(time.Second)
	e.must(200, "GET", "/v1/sidecar/policies", e.billing, nil, nil)
}
