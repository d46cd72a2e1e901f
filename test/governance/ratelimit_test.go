package governance

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Rates: at most N in any window, counted over a clone's chain, refused
// with 429 and Retry-After before anything is forwarded.

func TestRateThreePerMinuteRefusesTheFourth(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--rate", "3/m")
	e.startProxy()
	c := e.client(g)
	for i := 1; i <= 3; i++ {
		if a := e.call(t, c, "GET", "/v1/items", ""); a.status != 200 {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	before := e.up.bytes.Load()
	a := e.call(t, c, "GET", "/v1/items", "")
	retry, err := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != http.StatusTooManyRequests || a.err.Error != "rate_limited" || a.err.Rule != "rate_limit" || err != nil || retry < 1 || retry > 60 {
		t.Fatalf("the 4th request: %d Retry-After %q %s", a.status, a.header.Get("Retry-After"), a.body)
	}
	if n := len(e.up.requests()); n != 3 || e.up.bytes.Load() != before {
		t.Fatalf("the stand-in saw %d requests (and %d more bytes), want 3", n, e.up.bytes.Load()-before)
	}
	waitAudit(t, e, func(rec map[string]any) bool {
		return rec["rule"] == "rate_limit" && rec["decision"] == "deny" && rec["grant_id"] == g
	}, "the refused request's audit record with rule rate_limit")
	if m := e.metrics(t); !regexp.MustCompile(`(?m)^alter_rate_limited_total 1$`).MatchString(m) {
		t.Fatalf("metrics lack alter_rate_limited_total 1:\n%s", grepLines(m, "alter_rate"))
	}
}

func TestParentRateLimitsItsClone(t *testing.T) {
	e := newEnv(t, options{})
	parent := e.grant(t, "--rate", "3/m")
	clone := strings.TrimSpace(e.alter(t, "", "grant", "clone", parent, "--name", "ci"))
	e.startProxy()
	pc, cc := e.client(parent), e.client(clone)
	for i, c := range []*http.Client{pc, pc, cc} {
		if a := e.call(t, c, "GET", "/v1/items", ""); a.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, a.status, a.body)
		}
	}
	a := e.call(t, cc, "GET", "/v1/items", "")
	if a.status != http.StatusTooManyRequests || !strings.Contains(a.err.Message, "parent grant's limit 3/m") {
		t.Fatalf("the clone past its parent's rate: %d %s", a.status, a.body)
	}
	if b := e.call(t, pc, "GET", "/v1/items", ""); b.status != http.StatusTooManyRequests {
		t.Fatalf("the parent past its rate: %d %s", b.status, b.body)
	}
	if n := len(e.up.requests()); n != 3 {
		t.Fatalf("the stand-in saw %d requests, want 3", n)
	}
}

func TestMetricsCountApprovalOutcomesWithoutIDs(t *testing.T) {
	e := newEnv(t, options{approvals: "approvals: {hold: 1s}"})
	g := e.grant(t, "--require-approval", "POST", "--rate", "100/m")
	e.startProxy()
	c := e.client(g)

	async := e.call(t, c, "POST", "/v1/a", `{"a":1}`, "Prefer", "respond-async")
	e.alter(t, "", "approvals", "approve", async.err.ApprovalID)
	if a := e.call(t, c, "POST", "/v1/a", `{"a":1}`); a.status != 200 {
		t.Fatalf("approved: %d %s", a.status, a.body)
	}
	held := e.call(t, c, "POST", "/v1/b", `{"b":1}`)
	if held.status != http.StatusForbidden || held.err.Error != "approval_pending" {
		t.Fatalf("held: %d %s", held.status, held.body)
	}
	e.alter(t, "", "approvals", "deny", held.err.ApprovalID)
	if a := e.call(t, c, "POST", "/v1/b", `{"b":1}`); a.err.Error != "approval_denied" {
		t.Fatalf("denied: %d %s", a.status, a.body)
	}
	m := e.metrics(t)
	for _, want := range []string{
		`alter_approvals_total{outcome="created"} 2`,
		`alter_approvals_total{outcome="async"} 1`,
		`alter_approvals_total{outcome="approved"} 1`,
		`alter_approvals_total{outcome="pending_timeout"} 1`,
		`alter_approvals_total{outcome="denied"} 1`,
		`alter_rate_limited_total 0`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "alter_approvals", "alter_rate"))
		}
	}
	for _, id := range []string{g, async.err.ApprovalID, held.err.ApprovalID} {
		if strings.Contains(m, id) {
			t.Errorf("the metrics name the id %s", id)
		}
	}
}

func grepLines(text string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
