package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/errcode"
	"github.com/alter-sidecar/alter/internal/testclock"
	"github.com/alter-sidecar/alter/policy"
)

const (
	governedGrant = "7f4c2a1e-9b3d-4e8f-a6c5-0d1e2f3a4b5c"
	parentGrant   = "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"
)

// governEnv is a proxy with an in-memory approval store whose creations
// the test hears of (Notify), a settable clock and one grant on
// api.example.com with the given rules.
type governEnv struct {
	*env
	approvals *approval.Memory
	created   chan approval.Approval
	clock     *testclock.Clock
	up        *upstream
}

func newGovernEnv(t *testing.T, spec policy.Spec, opts ...envOption) *governEnv {
	t.Helper()
	g := &governEnv{approvals: approval.NewMemory(), created: make(chan approval.Approval, 128), clock: testclock.New()}
	base := []envOption{func(o *Options) {
		o.Approvals, o.Now = g.approvals, g.clock.Now
		o.Notify = func(a approval.Approval) { g.created <- a }
	}}
	g.env = newEnv(t, append(base, opts...)...)
	g.up = g.tlsUpstream("api.example.com", nil)
	spec.Destinations = []string{"https://api.example.com"}
	g.setGrant(governedGrant, spec)
	return g
}

// setGrant stores a grant with a bearer credential and the given rules;
// with parent rules, as a clone of parentGrant.
func (g *governEnv) setGrant(id string, spec policy.Spec, parent ...policy.Spec) {
	g.t.Helper()
	if len(parent) == 0 {
		g.addPolicyGrant(id, spec, "", nil)
		return
	}
	ps := parent[0]
	ps.Destinations = spec.Destinations
	g.addPolicyGrant(id, spec, parentGrant, &ps)
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// send makes one request with the grant and a JSON body.
func (g *governEnv) send(method, path, body string, header ...string) answer {
	g.t.Helper()
	a, err := g.try(method, path, body, header...)
	if err != nil {
		g.t.Fatal(err)
	}
	return a
}

// try is send for any goroutine: it reports instead of failing the test.
func (g *governEnv) try(method, path, body string, header ...string) (answer, error) {
	req, err := http.NewRequest(method, "https://api.example.com"+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set(HeaderGrant, governedGrant)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := g.client().Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if resp.Header.Get(HeaderError) != "" || !strings.Contains(a.raw, `"headers"`) {
		// Only the echoing upstream may repeat the credential it received.
		if strings.Contains(a.raw, sentinel) {
			return a, fmt.Errorf("the secret leaked into the response body: %s", raw)
		}
	}
	_ = json.Unmarshal(raw, &a.body)
	return a, nil
}

// sendAsync starts a request in the background; its answer arrives on
// the channel (status 0 and the error in raw if it failed).
func (g *governEnv) sendAsync(method, path, body string, header ...string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		a, err := g.try(method, path, body, header...)
		if err != nil {
			a = answer{raw: err.Error()}
		}
		ch <- a
	}()
	return ch
}

func (g *governEnv) nextCreated() approval.Approval {
	g.t.Helper()
	select {
	case a := <-g.created:
		return a
	case <-time.After(10 * time.Second):
		g.t.Fatal("no approval was created")
		return approval.Approval{}
	}
}

func (g *governEnv) decide(id string, approve bool, note string, d time.Duration) {
	g.t.Helper()
	if _, err := g.approvals.Decide(context.Background(), id, approval.Decision{Approve: approve, By: "alice", Note: note, At: g.clock.Now(), For: d}); err != nil {
		g.t.Fatal(err)
	}
}

// recordOf is the first audit record of a request with this method
// (records are written when bodies close, not in request order).
func recordOf(recs []audit.Record, method string) audit.Record {
	for _, r := range recs {
		if r.Method == method {
			return r
		}
	}
	return audit.Record{}
}

func (a answer) code() string { return a.header.Get(HeaderError) }

func TestApprovalHeldThenApproved(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{RequireApproval: []string{"POST"}})
	if a := g.send("GET", "/v1/charges", ""); a.status != 200 {
		t.Fatalf("GET needs no approval: %d %s", a.status, a.raw)
	}
	held := g.sendAsync("POST", "/v1/refunds?order=7", `{"amount":100}`, HeaderReason, "customer asked")
	pending := g.nextCreated()
	if g.up.hits.Load() != 1 {
		t.Fatal("a held request reached the upstream")
	}
	if pending.Method != "POST" || pending.Host != "api.example.com" || pending.Path != "/v1/refunds" ||
		strings.Join(pending.QueryKeys, ",") != "order" || pending.Reason != "customer asked" || pending.Preview != `{"amount":100}` {
		t.Fatalf("pending approval = %+v", pending)
	}
	g.decide(pending.ID, true, "", 0)
	a := <-held
	if a.status != 200 {
		t.Fatalf("approved request: %d %s", a.status, a.raw)
	}
	if v := decodeView(t, []byte(a.raw)); v.Headers["Authorization"][0] != "Bearer "+sentinel || v.Method != "POST" {
		t.Fatalf("upstream saw %+v", v)
	}
	if rec := recordOf(g.waitAudit(2), "POST"); rec.ApprovalID != pending.ID || rec.Decision != audit.DecisionAllow || rec.ApprovalBy != "alice" {
		t.Fatalf("audit record of the released request: %+v", rec)
	}
	// The approval covered one request: the same request again waits anew.
	again := g.sendAsync("POST", "/v1/refunds?order=7", `{"amount":100}`, "Prefer", "respond-async")
	if b := <-again; b.status != http.StatusAccepted || b.body["approval_id"] == pending.ID || b.body["status"] != "pending" || b.body["expires_at"] == nil {
		t.Fatalf("retry of a used approval: %d %s", b.status, b.raw)
	}
	g.checkLogsAndAudit()
}

func TestApprovalDenied(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{RequireApproval: []string{"*"}, ApprovalPathPrefixes: []string{"/v1/refunds"}})
	held := g.sendAsync("DELETE", "/v1/refunds/re_1", "")
	p := g.nextCreated()
	g.decide(p.ID, false, "not today", 0)
	a := <-held
	if a.status != 403 || a.code() != errcode.ApprovalDenied || a.body["approval_id"] != p.ID || a.body["note"] != "not today" || a.body["rule"] != "approval" {
		t.Fatalf("denied: %d %s", a.status, a.raw)
	}
	// The denial stands for the same request; another path needs none.
	if b := g.send("DELETE", "/v1/refunds/re_1", ""); b.code() != errcode.ApprovalDenied {
		t.Fatalf("retry of a denied request: %d %s", b.status, b.raw)
	}
	if b := g.send("DELETE", "/v1/charges/ch_1", ""); b.status != 200 {
		t.Fatalf("outside the approval prefix: %d %s", b.status, b.raw)
	}
	if g.up.hits.Load() != 1 {
		t.Fatalf("%d requests reached the upstream, want 1", g.up.hits.Load())
	}
	if rec := recordOf(g.waitAudit(3), "DELETE"); rec.Rule != policy.RuleApproval || rec.ErrorCode != errcode.ApprovalDenied || rec.ApprovalID != p.ID ||
		rec.ApprovalBy != "alice" || rec.ApprovalNote != "not today" {
		t.Fatalf("audit of the denial: %+v", rec)
	}
}

func TestApprovalTimeoutThenRetry(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{RequireApproval: []string{"POST"}}, func(o *Options) { o.ApprovalHold = time.Millisecond })
	a := g.send("POST", "/v1/refunds", `{"amount":5}`)
	p := g.nextCreated()
	if a.status != 403 || a.code() != errcode.ApprovalPending || a.body["approval_id"] != p.ID || a.header.Get(errcode.HeaderApproval) != p.ID {
		t.Fatalf("not decided in time: %d %s", a.status, a.raw)
	}
	// Another body is another request: it is not covered by this approval.
	g.decide(p.ID, true, "", 0)
	if b := g.send("POST", "/v1/refunds", `{"amount":5000}`, "Prefer", "respond-async"); b.status != http.StatusAccepted {
		t.Fatalf("a different body rode on the approval: %d %s", b.status, b.raw)
	}
	g.nextCreated()
	if b := g.send("POST", "/v1/refunds", `{"amount":5}`); b.status != 200 {
		t.Fatalf("retry after approval: %d %s", b.status, b.raw)
	}
	if g.up.hits.Load() != 1 {
		t.Fatalf("%d requests reached the upstream, want 1", g.up.hits.Load())
	}
}

func TestApprovalNamedInHeader(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{RequireApproval: []string{"POST"}})
	first := g.send("POST", "/v1/refunds", `{"a":1}`, "Prefer", "respond-async")
	p := g.nextCreated()
	if first.status != http.StatusAccepted || first.body["approval_id"] != p.ID {
		t.Fatalf("async: %d %s", first.status, first.raw)
	}
	cases := []struct {
		name, header, body string
		status             int
		code               string
	}{
		{"unknown approval", "00000000-0000-4000-8000-000000000000", `{"a":1}`, 400, errcode.BadRequest},
		{"not an id", "approve-me", `{"a":1}`, 400, errcode.BadRequest},
		{"another request's approval", p.ID, `{"a":2}`, 400, errcode.BadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := g.send("POST", "/v1/refunds", c.body, errcode.HeaderApproval, c.header)
			if a.status != c.status || a.code() != c.code {
				t.Fatalf("%d %s", a.status, a.raw)
			}
		})
	}
	g.decide(p.ID, true, "", 0)
	if a := g.send("POST", "/v1/refunds", `{"a":1}`, errcode.HeaderApproval, p.ID); a.status != 200 {
		t.Fatalf("named approved approval: %d %s", a.status, a.raw)
	}
	if g.up.hits.Load() != 1 {
		t.Fatalf("%d requests reached the upstream, want 1", g.up.hits.Load())
	}
}

func TestApprovalForAWhile(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{RequireApproval: []string{"POST"}, ApprovalPathPrefixes: []string{"/v1/refunds"}})
	held := g.sendAsync("POST", "/v1/refunds/re_1", `{}`)
	g.decide(g.nextCreated().ID, true, "", 15*time.Minute)
	if a := <-held; a.status != 200 {
		t.Fatalf("held: %d %s", a.status, a.raw)
	}
	for i, path := range []string{"/v1/refunds/re_2", "/v1/refunds/re_3"} {
		if a := g.send("POST", path, `{"n":`+string(rune('0'+i))+`}`); a.status != 200 {
			t.Fatalf("%s within --for: %d %s", path, a.status, a.raw)
		}
	}
	g.clock.Advance(15 * time.Minute)
	if a := g.send("POST", "/v1/refunds/re_4", `{}`, "Prefer", "respond-async"); a.status != http.StatusAccepted {
		t.Fatalf("after --for: %d %s", a.status, a.raw)
	}
}

// The preview never carries the credential, binary bodies or more than
// approval.PreviewBytes.
func TestApprovalPreview(t *testing.T) {
	cases := []struct {
		name, contentType, body, want string
	}{
		{"json", "application/json", `{"amount":1}`, `{"amount":1}`},
		{"text", "text/plain; charset=utf-8", "hello", "hello"},
		{"vendor json", "application/vnd.api+json", `{}`, `{}`},
		{"binary", "application/octet-stream", "abc", ""},
		{"holds the credential", "application/json", `{"token":"` + sentinel + `"}`, ""},
		{"invalid utf-8", "text/plain", "\xff\xfe", ""},
		{"long", "text/plain", strings.Repeat("é", 600), strings.Repeat("é", 512)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := preview(c.contentType, []byte(c.body), []string{sentinel}); got != c.want {
				t.Fatalf("preview = %q, want %q", got, c.want)
			}
		})
	}
}

func TestApprovalWithoutStoreFailsClosed(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{RequireApproval: []string{"POST"}}, func(o *Options) { o.Approvals = nil })
	if a := g.send("POST", "/v1/refunds", `{}`); a.status != 503 || a.code() != errcode.StoreUnavailable {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if g.up.hits.Load() != 0 {
		t.Fatal("a request that needs approval was forwarded without an approval store")
	}
}

func TestRateLimit(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{Rate: "2/m"})
	for i := 0; i < 2; i++ {
		if a := g.send("GET", "/v1/charges", ""); a.status != 200 {
			t.Fatalf("request %d: %d %s", i, a.status, a.raw)
		}
	}
	g.clock.Advance(20 * time.Second)
	a := g.send("GET", "/v1/charges", "")
	if a.status != 429 || a.code() != errcode.RateLimited || a.header.Get("Retry-After") != "40" || a.body["rule"] != policy.RuleRateLimit {
		t.Fatalf("over the rate: %d %s (Retry-After %q)", a.status, a.raw, a.header.Get("Retry-After"))
	}
	if g.up.hits.Load() != 2 {
		t.Fatalf("%d requests reached the upstream, want 2", g.up.hits.Load())
	}
	refused := 0
	for _, r := range g.waitAudit(3) {
		if r.Status == 429 && r.Rule == policy.RuleRateLimit && r.ErrorCode == errcode.RateLimited {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d audit records of the refusal, want 1: %+v", refused, g.audit.Records())
	}
	g.clock.Advance(40 * time.Second)
	if a := g.send("GET", "/v1/charges", ""); a.status != 200 {
		t.Fatalf("after Retry-After: %d %s", a.status, a.raw)
	}
}

// A clone's requests count against its own limits and its parent's.
func TestRateLimitCountsAncestors(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{})
	g.setGrant(governedGrant, policy.Spec{Destinations: []string{"https://api.example.com"}, Rate: "10/m"}, policy.Spec{Rate: "1/m"})
	if a := g.send("GET", "/", ""); a.status != 200 {
		t.Fatalf("first: %d %s", a.status, a.raw)
	}
	a := g.send("GET", "/", "")
	if a.status != 429 || !strings.Contains(a.body["message"].(string), "parent grant") {
		t.Fatalf("the parent's 1/m: %d %s", a.status, a.raw)
	}
}

// An approved request over its limit keeps its approval for a retry.
func TestApprovalKeptWhenRateLimited(t *testing.T) {
	g := newGovernEnv(t, policy.Spec{RequireApproval: []string{"POST"}, Rate: "1/m"})
	if a := g.send("GET", "/", ""); a.status != 200 {
		t.Fatal(a.raw)
	}
	held := g.sendAsync("POST", "/v1/refunds", `{}`)
	p := g.nextCreated()
	g.decide(p.ID, true, "", 0)
	if a := <-held; a.status != 429 {
		t.Fatalf("approved but over the rate: %d %s", a.status, a.raw)
	}
	g.clock.Advance(time.Minute)
	if a := g.send("POST", "/v1/refunds", `{}`); a.status != 200 {
		t.Fatalf("retry after the rate allows: %d %s", a.status, a.raw)
	}
}

func TestWithoutPathParams(t *testing.T) {
	tests := []struct {
		name, in, want string
		changed        bool
	}{
		{"none", "/v1/refunds", "/v1/refunds", false},
		{"last segment", "/v1/refunds;jsessionid=1", "/v1/refunds", true},
		{"middle segment", "/v1;x/refunds", "/v1/refunds", true},
		{"empty parameter", "/v1/refunds;/1", "/v1/refunds/1", true},
		{"encoded", "/v1/refunds%3bx/2", "/v1/refunds/2", true},
		{"encoded after a plain one", "/v1/a;b%3Bc", "/v1/a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := withoutPathParams(tt.in)
			if got != tt.want || changed != tt.changed {
				t.Fatalf("withoutPathParams(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestDropRespondAsync(t *testing.T) {
	tests := []struct {
		name  string
		in    http.Header
		want  http.Header
		found bool
	}{
		{"alone", http.Header{"Prefer": {"respond-async"}}, http.Header{}, true},
		{"among others", http.Header{"Prefer": {"return=minimal, respond-async;wait=5", "handling=strict"}}, http.Header{"Prefer": {"return=minimal", "handling=strict"}}, true},
		{"any spelling", http.Header{"prefer": {"RESPOND-ASYNC"}}, http.Header{}, true},
		{"none", http.Header{"Prefer": {"return=minimal"}}, http.Header{"Prefer": {"return=minimal"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found := dropRespondAsync(tt.in)
			if found != tt.found || fmt.Sprint(tt.in) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v %v, want %v %v", found, tt.in, tt.found, tt.want)
			}
		})
	}
}
