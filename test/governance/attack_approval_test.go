package governance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/secretstore"
)

// Attacks on the approval rule: each test would catch one regression.

func (e *env) approvalsFile() string {
	return secretstore.ApprovalsPath(filepath.Join(e.home, "grants.json"))
}

// editApprovals rewrites the approvals file without the master key:
// what someone who can write the home, but not read the key, can do.
func (e *env) editApprovals(t *testing.T, edit func(records []map[string]any) []map[string]any) {
	t.Helper()
	data, err := os.ReadFile(e.approvalsFile())
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Version   int              `json:"version"`
		Approvals []map[string]any `json:"approvals"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	f.Approvals = edit(f.Approvals)
	out, _ := json.MarshalIndent(f, "", "  ")
	if err := os.WriteFile(e.approvalsFile(), out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestForgedApprovalsFileFailsClosed(t *testing.T) {
	approve := func(r map[string]any) {
		r["status"] = approval.StatusApproved
		r["decision"] = map[string]any{"approve": true, "by": "mallory", "at": time.Now().UTC().Format(time.RFC3339Nano)}
	}
	tests := []struct {
		name string
		edit func(records []map[string]any) []map[string]any
	}{
		{"the pending record edited to approved", func(rs []map[string]any) []map[string]any {
			approve(rs[0])
			return rs
		}},
		{"the record's mac removed and it approved", func(rs []map[string]any) []map[string]any {
			approve(rs[0])
			delete(rs[0], "mac")
			return rs
		}},
		{"an approved twin added under another id with the pending one's mac", func(rs []map[string]any) []map[string]any {
			twin := map[string]any{}
			for k, v := range rs[0] {
				twin[k] = v
			}
			approve(twin)
			twin["id"] = "00000000-0000-4000-8000-000000000001"
			return append(rs, twin)
		}},
	}
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	c := e.client(g)
	a := e.call(t, c, "POST", "/v1/payouts", `{"to":"mallory"}`, "Prefer", "respond-async")
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	original, err := os.ReadFile(e.approvalsFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Cleanup(func() {
				if err := os.WriteFile(e.approvalsFile(), original, 0o600); err != nil {
					t.Fatal(err)
				}
			})
			e.editApprovals(t, tt.edit)
			for _, hdr := range [][]string{nil, {"X-Alter-Approval", a.err.ApprovalID}, {"X-Alter-Approval", "00000000-0000-4000-8000-000000000001"}} {
				got := e.call(t, c, "POST", "/v1/payouts", `{"to":"mallory"}`, hdr...)
				if got.status != http.StatusServiceUnavailable || got.err.Error != "store_unavailable" {
					t.Fatalf("with %v: %d %s, want 503 store_unavailable", hdr, got.status, got.body)
				}
			}
			r := e.alterResult(t, "", "approvals", "list")
			if r.code == 0 || !strings.Contains(r.stderr, "record") {
				t.Fatalf("approvals list on a forged file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if n := e.up.bytes.Load(); n != 0 {
				t.Fatalf("the stand-in received %d bytes", n)
			}
		})
	}
	// Put back, the approval is pending again: the refusals were the edits'.
	if got := e.call(t, c, "POST", "/v1/payouts", `{"to":"mallory"}`, "Prefer", "respond-async"); got.status != http.StatusAccepted || got.err.ApprovalID != a.err.ApprovalID {
		t.Fatalf("after restoring the file: %d %s", got.status, got.body)
	}
	if got := e.call(t, c, "GET", "/v1/payouts", ""); got.status != 200 {
		t.Fatalf("a GET, which needs no approval: %d %s", got.status, got.body)
	}
}

func TestApprovalForOneRequestLetsNoOtherThrough(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST,PUT")
	other := e.grant(t, "--require-approval", "POST", "--name", "other")
	e.startProxy()
	c, oc := e.client(g), e.client(other)
	const path, body = "/v1/payouts?to=alice", `{"amount":10}`
	a := e.call(t, c, "POST", path, body, "Prefer", "respond-async")
	e.alter(t, "", "approvals", "approve", a.err.ApprovalID)
	named := []string{"Prefer", "respond-async", "X-Alter-Approval", a.err.ApprovalID}

	tests := []struct {
		name               string
		client             *http.Client
		method, path, body string
		hdr                []string
		status             int
	}{
		{"another body, named", c, "POST", path, `{"amount":10000}`, named, http.StatusBadRequest},
		{"another query, named", c, "POST", "/v1/payouts?to=mallory", body, named, http.StatusBadRequest},
		{"another path, named", c, "POST", "/v1/payouts/x?to=alice", body, named, http.StatusBadRequest},
		{"another method, named", c, "PUT", path, body, named, http.StatusBadRequest},
		{"another grant, named", oc, "POST", path, body, named, http.StatusBadRequest},
		{"an unknown approval, named", c, "POST", path, body, []string{"X-Alter-Approval", "00000000-0000-4000-8000-000000000009"}, http.StatusBadRequest},
		{"two approvals, named", c, "POST", path, body, []string{"X-Alter-Approval", a.err.ApprovalID + ", " + a.err.ApprovalID}, http.StatusBadRequest},
		{"another body, not named", c, "POST", path, `{"amount":10000}`, []string{"Prefer", "respond-async"}, http.StatusAccepted},
		{"another grant, not named", oc, "POST", path, body, []string{"Prefer", "respond-async"}, http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.call(t, tt.client, tt.method, tt.path, tt.body, tt.hdr...)
			if got.status != tt.status || got.err.ApprovalID == a.err.ApprovalID {
				t.Fatalf("%d %s, want %d and not the approval of another request", got.status, got.body, tt.status)
			}
		})
	}
	if n := e.up.bytes.Load(); n != 0 {
		t.Fatalf("the stand-in received %d bytes", n)
	}
	// The approval was not spent by any of them.
	if got := e.call(t, c, "POST", path, body, named...); got.status != 200 {
		t.Fatalf("the approved request: %d %s", got.status, got.body)
	}
	if reqs := e.up.requests(); len(reqs) != 1 || reqs[0].Body != body || reqs[0].Query != "to=alice" {
		t.Fatalf("the stand-in saw %+v", reqs)
	}
}

func TestOneRequestApprovalIsUsedOnceEvenByRacingRetries(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	const racers = 8
	clients := make([]*http.Client, racers)
	for i := range clients {
		clients[i] = e.client(g) // one connection each
	}
	a := e.call(t, clients[0], "POST", "/v1/payouts", `{"amount":10}`, "Prefer", "respond-async")
	e.alter(t, "", "approvals", "approve", a.err.ApprovalID)

	var wg sync.WaitGroup
	answers := make([]answer, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	for i := range racers {
		hdr := []string{"Prefer", "respond-async"}
		if i%2 == 0 {
			hdr = append(hdr, "X-Alter-Approval", a.err.ApprovalID)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i], errs[i] = e.try(clients[i], "POST", "/v1/payouts", `{"amount":10}`, hdr...)
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, got := range answers {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		switch got.status {
		case 200:
			ok++
		case http.StatusForbidden, http.StatusAccepted: // already used, or a new approval asked for
			if got.err.Error != "approval_pending" {
				t.Errorf("racer %d: %d %s", i, got.status, got.body)
			}
		default:
			t.Errorf("racer %d: %d %s", i, got.status, got.body)
		}
	}
	if n := len(e.up.requests()); ok != 1 || n != 1 {
		t.Fatalf("%d racers were answered 200 and the stand-in saw %d requests; want exactly one of each", ok, n)
	}
	// And a later named retry does not reuse it either.
	if got := e.call(t, clients[0], "POST", "/v1/payouts", `{"amount":10}`, "Prefer", "respond-async", "X-Alter-Approval", a.err.ApprovalID); got.status == 200 {
		t.Fatalf("a used approval let a request through again: %s", got.body)
	}
	if used := e.approvals(t, "--status", "used"); len(used) != 1 || used[0].ID != a.err.ApprovalID {
		t.Fatalf("used approvals: %+v", used)
	}
}

func TestAlterHeadersAndRespondAsyncNeverReachTheUpstream(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	c := e.client(g)
	hdr := []string{"Prefer", "respond-async", "X-Alter-Reason", "why", "x-alter-custom", "1", "X-ALTER-GRANT", g}
	a := e.call(t, c, "POST", "/v1/a", `{}`, hdr...)
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	e.alter(t, "", "approvals", "approve", a.err.ApprovalID)
	if got := e.call(t, c, "POST", "/v1/a", `{}`, append(hdr, "X-Alter-Approval", a.err.ApprovalID, "Prefer", "respond-async;wait=10")...); got.status != 200 {
		t.Fatalf("%d %s", got.status, got.body)
	}
	reqs := e.up.requests()
	if len(reqs) != 1 {
		t.Fatalf("the stand-in saw %d requests", len(reqs))
	}
	for k := range reqs[0].Header {
		if strings.HasPrefix(strings.ToLower(k), "x-alter") || strings.EqualFold(k, "Prefer") || strings.EqualFold(k, "Proxy-Authorization") {
			t.Errorf("the upstream received %s: %v", k, reqs[0].Header[k])
		}
	}
}

func TestPendingApprovalsAreBoundedPerGrant(t *testing.T) {
	e := newEnv(t, options{})
	g := e.grant(t, "--require-approval", "POST")
	other := e.grant(t, "--require-approval", "POST", "--name", "other")
	e.startProxy()
	c := e.client(g)
	for i := range approval.MaxPendingPerGrant {
		if a := e.call(t, c, "POST", "/v1/a", fmt.Sprintf(`{"n":%d}`, i), "Prefer", "respond-async"); a.status != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	flood := e.call(t, c, "POST", "/v1/a", `{"n":"one too many"}`, "Prefer", "respond-async")
	if flood.status != http.StatusTooManyRequests || flood.err.Error != "rate_limited" || flood.err.Rule != "approval" || flood.header.Get("Retry-After") == "" {
		t.Fatalf("past %d pending: %d %v %s", approval.MaxPendingPerGrant, flood.status, flood.header, flood.body)
	}
	if held := e.call(t, c, "POST", "/v1/a", `{"n":"held"}`); held.status != http.StatusTooManyRequests {
		t.Fatalf("a held request past the bound: %d %s", held.status, held.body)
	}
	if n := len(e.approvals(t, "--grant", g)); n != approval.MaxPendingPerGrant {
		t.Fatalf("%d pending, want %d", n, approval.MaxPendingPerGrant)
	}
	// The bound is per grant, and deciding one makes room.
	if a := e.call(t, e.client(other), "POST", "/v1/a", `{}`, "Prefer", "respond-async"); a.status != http.StatusAccepted {
		t.Fatalf("another grant: %d %s", a.status, a.body)
	}
	e.alter(t, "", "approvals", "deny", e.approvals(t, "--grant", g)[0].ID)
	if a := e.call(t, c, "POST", "/v1/a", `{"n":"room"}`, "Prefer", "respond-async"); a.status != http.StatusAccepted {
		t.Fatalf("after a denial made room: %d %s", a.status, a.body)
	}
	if n := e.up.bytes.Load(); n != 0 {
		t.Fatalf("the stand-in received %d bytes", n)
	}
}

func TestACloneKeepsItsParentsApproval(t *testing.T) {
	e := newEnv(t, options{})
	parent := e.grant(t, "--require-approval", "POST")
	for _, flags := range [][]string{
		{"--require-approval", "GET"},
		{"--require-approval", "POST", "--approval-path-prefix", "/v1/refunds"},
	} {
		r := e.alterResult(t, "", append([]string{"grant", "clone", parent}, flags...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "not allowed by the parent grant") {
			t.Fatalf("a clone with %v held less than its parent: exit %d %s%s", flags, r.code, r.stdout, r.stderr)
		}
	}
	// "none" on a clone cannot drop the parent's rule: it is refused, not
	// silently kept.
	if r := e.alterResult(t, "", "grant", "clone", parent, "--require-approval", "none"); r.code == 0 ||
		!strings.Contains(r.stderr, "a clone cannot drop its parent's approval rule") {
		t.Fatalf("a clone with --require-approval none: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	wider := strings.TrimSpace(e.alter(t, "", "grant", "clone", parent, "--require-approval", "POST,DELETE"))
	plain := strings.TrimSpace(e.alter(t, "", "grant", "clone", parent))
	if show := e.alter(t, "", "grant", "show", plain); !strings.Contains(show, "POST requests wait for a person's approval") {
		t.Fatalf("grant show of a plain clone of a grant with approval:\n%s", show)
	}
	e.startProxy()
	for name, clone := range map[string]string{"one that holds more": wider, "a plain clone": plain} {
		t.Run(name, func(t *testing.T) {
			c := e.client(clone)
			a := e.call(t, c, "POST", "/v1/a", `{"clone":"`+clone+`"}`, "Prefer", "respond-async")
			if a.status != http.StatusAccepted || a.err.ApprovalID == "" {
				t.Fatalf("the clone's POST was not held: %d %s", a.status, a.body)
			}
			if n := e.up.bytes.Load(); n != 0 {
				t.Fatalf("the stand-in received %d bytes", n)
			}
			e.alter(t, "", "approvals", "approve", a.err.ApprovalID)
			if got := e.call(t, c, "POST", "/v1/a", `{"clone":"`+clone+`"}`); got.status != 200 {
				t.Fatalf("after approval: %d %s", got.status, got.body)
			}
			e.up.bytes.Store(0)
		})
	}
}

func TestBodyLargerThanMaxSignedBodyGets413AndMakesNoApproval(t *testing.T) {
	e := newEnv(t, options{extra: "max_signed_body: 1024"})
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	c := e.client(g)
	big := `{"x":"` + strings.Repeat("a", 2048) + `"}`
	a := e.call(t, c, "POST", "/v1/upload", big, "Prefer", "respond-async")
	if a.status != http.StatusRequestEntityTooLarge || a.err.ApprovalID != "" {
		t.Fatalf("a body over max_signed_body: %d %s", a.status, a.body)
	}
	if list := e.approvals(t, "--status", "all"); len(list) != 0 {
		t.Fatalf("a refused body made approvals: %+v", list)
	}
	if _, err := os.Stat(e.approvalsFile()); err == nil {
		t.Fatal("a refused body wrote the approvals file")
	}
	// At the bound the request is held as usual.
	if a := e.call(t, c, "POST", "/v1/upload", strings.Repeat("b", 1024), "Prefer", "respond-async"); a.status != http.StatusAccepted {
		t.Fatalf("a body of max_signed_body: %d %s", a.status, a.body)
	}
	if n := e.up.bytes.Load(); n != 0 {
		t.Fatalf("the stand-in received %d bytes", n)
	}
}

// A held request whose client hangs up is over: the proxy stops holding
// it, forwards nothing when it is approved later, and does not spend the
// approval, so the client's retry gets it.
func TestClientGoneEndsTheHoldAndForwardsNothing(t *testing.T) {
	e := newEnv(t, options{approvals: "approvals: {hold: 10m}"})
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	ctx, hangUp := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+host+"/v1/a", strings.NewReader(`{"gone":true}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.client(g).Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("the held request was answered %s", resp.Status)
		}
		done <- err
	}()
	id := e.waitPending(t, 1)[0].ID
	hangUp()
	if err := <-done; ctx.Err() == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("the client: %v", err)
	}
	// With a 10-minute hold, only the hang-up ends it within the deadline.
	waitAudit(t, e, func(rec map[string]any) bool {
		return rec["approval_id"] == id && rec["decision"] == "deny"
	}, "the abandoned request's audit record")
	e.alter(t, "", "approvals", "approve", id)
	if got := e.call(t, e.client(g), "POST", "/v1/a", `{"gone":true}`); got.status != 200 {
		t.Fatalf("the retry after approval: %d %s", got.status, got.body)
	}
	if reqs := e.up.requests(); len(reqs) != 1 {
		t.Fatalf("the stand-in saw %d requests, want the retry only", len(reqs))
	}
}
