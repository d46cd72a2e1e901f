package governance

import (
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// The operator's flows: a grant that needs approval for POST, decided with
// `alter approvals` from another shell while curl or a Go client waits.

// startCurl starts curl through the proxy with grant as its proxy
// password; it prints the body, a newline and the status code.
func (e *env) startCurl(t *testing.T, grant string, args ...string) *testbin.Proc {
	t.Helper()
	curl, err := exec.LookPath("curl")
	testbin.Need(t, "curl", err)
	proxy := url.URL{Scheme: "http", User: url.UserPassword("alter", grant), Host: e.proxyAddr}
	cmd := exec.Command(curl, append([]string{"-sS", "-x", proxy.String(), "--cacert", e.caFile, "-w", "\n%{http_code}"}, args...)...)
	cmd.Env = testbin.CleanEnv(e.dir)
	return testbin.Start(t, cmd)
}

// curlResult waits for curl to exit and returns the status and body.
func (e *env) curlResult(t *testing.T, p *testbin.Proc) (int, string) {
	t.Helper()
	select {
	case <-p.Exited:
	case <-time.After(testbin.StartTimeout):
		t.Fatalf("curl did not finish:\n%s", p.Out.String())
	}
	out := p.Out.String()
	e.keep(out)
	i := strings.LastIndexByte(out, '\n')
	code, err := strconv.Atoi(strings.TrimSpace(out[i+1:]))
	if i < 0 || err != nil || p.Cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("curl: exit %d:\n%s", p.Cmd.ProcessState.ExitCode(), out)
	}
	return code, out[:i]
}

func postArgs(path, body string, extra ...string) []string {
	return append([]string{"-X", "POST", "-H", "Content-Type: application/json", "-d", body}, append(extra, "https://"+host+path)...)
}

func TestGetFlowsPostHeldUntilApprovedFromAnotherShell(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST", "--name", "payments")
	e.startProxy()

	code, body := e.curlResult(t, e.startCurl(t, g, "https://"+host+"/v1/balance"))
	if code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("GET: %d %s", code, body)
	}
	if n := len(e.approvals(t, "--status", "all")); n != 0 {
		t.Fatalf("a GET made %d approvals", n)
	}

	curl := e.startCurl(t, g, postArgs("/v1/refunds", `{"amount":42}`, "-H", "X-Alter-Reason: refund for order 7")...)
	pending := e.waitPending(t, 1)[0]
	if pending.Method != "POST" || pending.Path != "/v1/refunds" || pending.GrantID != g || pending.Reason != "refund for order 7" ||
		pending.Preview != `{"amount":42}` || pending.Host != host {
		t.Fatalf("the pending approval describes the request wrongly: %+v", pending)
	}
	if n := len(e.up.requests()); n != 1 {
		t.Fatalf("the stand-in saw %d requests while the POST was held, want the GET only", n)
	}
	out := e.alterResult(t, "", "approvals", "list")
	if !strings.Contains(out.stdout, pending.ID) || !strings.Contains(out.stdout, "refund for order 7") {
		t.Fatalf("approvals list does not show the held request:\n%s", out.stdout)
	}

	r := e.alterResult(t, "", "approvals", "approve", pending.ID, "--note", "ok by finance")
	if r.code != 0 || !strings.Contains(r.stderr, "approved "+pending.ID) {
		t.Fatalf("approve: exit %d: %s", r.code, r.stderr)
	}
	code, body = e.curlResult(t, curl)
	if code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("the approved POST got %d %s", code, body)
	}
	reqs := e.up.requests()
	if len(reqs) != 2 {
		t.Fatalf("the stand-in saw %d requests, want 2", len(reqs))
	}
	post := reqs[1]
	if post.Method != "POST" || post.Path != "/v1/refunds" || post.Body != `{"amount":42}` || post.Header.Get("Authorization") != "Bearer "+e.secret {
		t.Fatalf("the stand-in got %s %s %q, credential injected: %v", post.Method, post.Path, post.Body, post.Header.Get("Authorization") == "Bearer "+e.secret)
	}
	used := e.approvals(t, "--status", "used")
	if len(used) != 1 || used[0].ID != pending.ID || used[0].Decision == nil || used[0].Decision.Note != "ok by finance" {
		t.Fatalf("after the release: %+v", used)
	}
	waitAudit(t, e, func(rec map[string]any) bool {
		return rec["approval_id"] == pending.ID && rec["decision"] == "allow" && rec["method"] == "POST"
	}, "the forwarded POST's audit record with its approval_id")
}

// waitAudit waits for an audit record that ok accepts.
func waitAudit(t *testing.T, e *env, ok func(map[string]any) bool, what string) map[string]any {
	t.Helper()
	var found map[string]any
	eventually(t, what, func() bool {
		for _, rec := range e.auditRecords(t) {
			if ok(rec) {
				found = rec
				return true
			}
		}
		return false
	})
	return found
}

func TestDenyRefusesAndNothingReachesTheUpstream(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()

	curl := e.startCurl(t, g, postArgs("/v1/transfers", `{"to":"mallory"}`)...)
	pending := e.waitPending(t, 1)[0]
	r := e.alterResult(t, "", "approvals", "deny", pending.ID, "--note", "not today")
	if r.code != 0 || !strings.Contains(r.stderr, "denied "+pending.ID) {
		t.Fatalf("deny: exit %d: %s", r.code, r.stderr)
	}
	code, body := e.curlResult(t, curl)
	if code != http.StatusForbidden || !strings.Contains(body, `"error":"approval_denied"`) || !strings.Contains(body, `"note":"not today"`) ||
		!strings.Contains(body, pending.ID) {
		t.Fatalf("the denied POST got %d %s", code, body)
	}
	// A decision is final: approving the denied request fails.
	if r := e.alterResult(t, "", "approvals", "approve", pending.ID); r.code == 0 || !strings.Contains(r.stderr, "already decided") {
		t.Fatalf("approving a denied approval: exit %d: %s", r.code, r.stderr)
	}
	// The same request again is refused at once: a denial stands.
	a := e.call(t, e.client(g), "POST", "/v1/transfers", `{"to":"mallory"}`)
	if a.status != http.StatusForbidden || a.err.Error != "approval_denied" || a.err.ApprovalID != pending.ID {
		t.Fatalf("the denied request retried: %d %s", a.status, a.body)
	}
	if n := e.up.bytes.Load(); n != 0 {
		t.Fatalf("the stand-in received %d bytes; a denied request must send nothing", n)
	}
	waitAudit(t, e, func(rec map[string]any) bool {
		return rec["approval_id"] == pending.ID && rec["decision"] == "deny" && rec["rule"] == "approval"
	}, "the denied POST's audit record")
}

func TestHoldEndsWithApprovalPendingAndTheRetryPassesOnce(t *testing.T) {
	e := newEnv(t, options{approvals: "approvals: {hold: 1s}"})
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	c := e.client(g)

	a := e.call(t, c, "POST", "/v1/refunds?order=7", `{"amount":1}`)
	if a.status != http.StatusForbidden || a.err.Error != "approval_pending" || a.err.ApprovalID == "" || a.err.ExpiresAt == "" ||
		a.header.Get("X-Alter-Approval") != a.err.ApprovalID || a.header.Get("X-Alter-Error") != "approval_pending" {
		t.Fatalf("after the hold: %d %v %s", a.status, a.header, a.body)
	}
	if exp, err := time.Parse(time.RFC3339Nano, a.err.ExpiresAt); err != nil || !exp.After(time.Now()) {
		t.Fatalf("expires_at %q is not a future time", a.err.ExpiresAt)
	}
	e.alter(t, "", "approvals", "approve", a.err.ApprovalID)

	ok := e.call(t, c, "POST", "/v1/refunds?order=7", `{"amount":1}`)
	if ok.status != 200 {
		t.Fatalf("the retry after approval: %d %s", ok.status, ok.body)
	}
	again := e.call(t, c, "POST", "/v1/refunds?order=7", `{"amount":1}`)
	if again.status != http.StatusForbidden || again.err.Error != "approval_pending" || again.err.ApprovalID == a.err.ApprovalID {
		t.Fatalf("a second retry of a one-request approval: %d %s", again.status, again.body)
	}
	if reqs := e.up.requests(); len(reqs) != 1 || reqs[0].Query != "order=7" {
		t.Fatalf("the stand-in saw %+v, want the one approved request", reqs)
	}
}

func TestRespondAsyncAnswers202AndTheNamedRetryPasses(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "*")
	e.startProxy()
	c := e.client(g)

	a := e.call(t, c, "DELETE", "/v1/customers/9", "", "Prefer", "return=minimal, respond-async")
	if a.status != http.StatusAccepted || a.err.ApprovalID == "" || a.err.Status != "pending" || a.err.ExpiresAt == "" {
		t.Fatalf("Prefer: respond-async: %d %s", a.status, a.body)
	}
	if p := e.waitPending(t, 1)[0]; p.ID != a.err.ApprovalID {
		t.Fatalf("the pending approval is %s, the 202 named %s", p.ID, a.err.ApprovalID)
	}
	e.alter(t, "", "approvals", "approve", a.err.ApprovalID)
	ok := e.call(t, c, "DELETE", "/v1/customers/9", "", "Prefer", "return=minimal, respond-async", "X-Alter-Approval", a.err.ApprovalID)
	if ok.status != 200 {
		t.Fatalf("the named retry: %d %s", ok.status, ok.body)
	}
	reqs := e.up.requests()
	if len(reqs) != 1 || reqs[0].Method != "DELETE" {
		t.Fatalf("the stand-in saw %+v", reqs)
	}
	// The upstream's own preferences pass; the one the proxy answered does not
	// (checkNoLeak looks for respond-async and X-Alter-* on every request).
	if got := strings.Join(reqs[0].Header.Values("Prefer"), ","); !strings.Contains(got, "return=minimal") {
		t.Fatalf("the upstream got Prefer %q, want return=minimal kept", got)
	}
}

func TestApproveForCoversTheGrantMethodAndPrefixForAWhile(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST,DELETE", "--approval-path-prefix", "/v1/refunds")
	e.startProxy()
	c := e.client(g)

	a := e.call(t, c, "POST", "/v1/refunds/1", `{"n":1}`, "Prefer", "respond-async")
	if a.status != http.StatusAccepted {
		t.Fatalf("first POST: %d %s", a.status, a.body)
	}
	r := e.alterResult(t, "", "approvals", "approve", a.err.ApprovalID, "--for", "15m")
	if r.code != 0 || !strings.Contains(r.stderr, "under /v1/refunds until") {
		t.Fatalf("approve --for: exit %d: %s", r.code, r.stderr)
	}
	for _, path := range []string{"/v1/refunds/1", "/v1/refunds/2", "/v1/refunds/3/items"} {
		if got := e.call(t, c, "POST", path, `{"n":2}`); got.status != 200 {
			t.Fatalf("POST %s within --for: %d %s", path, got.status, got.body)
		}
	}
	if got := e.call(t, c, "POST", "/v1/charges", `{"n":3}`); got.status != 200 {
		t.Fatalf("POST outside the approval prefix needs no approval: %d %s", got.status, got.body)
	}
	del := e.call(t, c, "DELETE", "/v1/refunds/1", "", "Prefer", "respond-async")
	if del.status != http.StatusAccepted {
		t.Fatalf("DELETE is not covered by an approval of POST: %d %s", del.status, del.body)
	}
	if n := len(e.up.requests()); n != 4 {
		t.Fatalf("the stand-in saw %d requests, want 4", n)
	}
	approved := e.approvals(t, "--status", "approved")
	if len(approved) != 1 || approved[0].CoversUntil == nil || time.Until(*approved[0].CoversUntil) < 14*time.Minute {
		t.Fatalf("approved approvals: %+v", approved)
	}
	waitAudit(t, e, func(rec map[string]any) bool {
		return rec["path"] == "/v1/refunds/3/items" && rec["approval_id"] == a.err.ApprovalID && rec["decision"] == "allow"
	}, "a covered request's audit record naming the time-boxed approval")
}
