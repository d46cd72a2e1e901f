package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestApprovalsInBrowser: a sidecar holds two requests for approval
// through the API (one from a client named like the person logged in);
// on the Approvals page the person approves the other for 15 minutes by
// clicking, and the sidecar's long poll and the admin API both say it is
// approved, by them. Their own request has no buttons; client text that
// tries markup stays text.
func TestApprovalsInBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g, err := e.db.AddFor(ctx, "billing", secretstore.NewSecret{
		Spec: inject.Spec{Type: inject.TypeBearer}, Fields: inject.Fields{"token": sentinel}, Name: "stripe-prod",
		Policy: policy.Spec{Destinations: []string{"api.stripe.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, sidecar, err := e.db.CreateToken(ctx, storage.NewToken{Kind: storage.TokenSidecar, Name: "pod-1", App: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	hold := func(actor, path, reason, body string) approval.Approval {
		t.Helper()
		req := approval.Request{GrantID: g.ID, Actor: actor, Method: "POST", Scheme: "https", Host: "api.stripe.com", Port: 443,
			Path: path, Reason: reason, Preview: body, RequestID: "req-" + actor,
			Match: approval.MatchKey(g.ID, "POST", "https://api.stripe.com"+path, []byte(body))}
		var a approval.Approval
		if status := e.call(http.MethodPost, "/v1/sidecar/approvals", sidecar, wire.ApprovalCreate{Request: req, Now: time.Now(), TTL: "1h"}, &a); status != http.StatusCreated {
			t.Fatalf("hold %s: %d", path, status)
		}
		return a
	}
	theirs := hold("checkout", "/v1/refunds", "refund order 42 <img src=x onerror=alert(1)>", `{"amount": 500, "note": "<script>alert(2)</script>"}`)
	mine := hold("browser-test", "/v1/payouts", "my own", "")

	// The sidecar waits for the decision as a held request does. The
	// goroutine reports to the test, never to t (it may outlive a failed test).
	waited := make(chan string, 1)
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	go func() {
		req, _ := http.NewRequestWithContext(waitCtx, http.MethodGet, e.srv.URL+"/v1/sidecar/approvals/"+theirs.ID+"/wait?wait=60s", nil)
		req.Header.Set("Authorization", "Bearer "+sidecar)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			waited <- err.Error()
			return
		}
		defer resp.Body.Close()
		var a approval.Approval
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != http.StatusOK {
			waited <- fmt.Sprintf("%d %v", resp.StatusCode, err)
			return
		}
		waited <- a.Status
	}()

	e.login(false)
	e.step("open Approvals", chromedp.Click(chromedp.CSS(`nav a[href$="/approvals"]`)))
	e.waitPath(`/portal/approvals$`)
	html := e.checkPage("approvals")
	for _, want := range []string{"/v1/refunds", "/v1/payouts", "refund order 42", "checkout"} {
		if !strings.Contains(html, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if n := run(e.browser, "count markup", chromedp.Evaluate[int](`document.querySelectorAll("main img, main script").length`)); n != 0 {
		t.Errorf("client text became markup: %d elements", n)
	}
	if n := run(e.browser, "own forms", chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('form[action$="/approvals/%s/decide"]').length`, mine.ID))); n != 0 {
		t.Error("the user's own request can be decided in the page")
	}
	e.shot("approvals")

	clicked := time.Now()
	form := fmt.Sprintf(`form[action$="/approvals/%s/decide"]`, theirs.ID)
	e.step("approve for 15 minutes",
		chromedp.SetValue(chromedp.ID("f-for-"+theirs.ID), "15m"),
		chromedp.SendKeys(chromedp.ID("f-note-"+theirs.ID), "checked with support"),
		chromedp.Click(chromedp.CSS(form+` button[value="approve"]`)))
	e.waitPath(`/portal/approvals/` + theirs.ID + `\?approved=1$`)
	html = e.checkPage("approved")
	if !strings.Contains(html, "Approved by") || !strings.Contains(html, "checked with support") || !strings.Contains(html, "Covers until") {
		t.Error("the approval's page does not show the decision")
	}
	e.shot("approval")

	select {
	case st := <-waited:
		if st != approval.StatusApproved {
			t.Errorf("the sidecar's wait ended with %s", st)
		}
		t.Logf("the held request's wait ended %v after the click", time.Since(clicked).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("the sidecar's wait did not end within 30 s of the decision")
	}
	var got approval.Approval
	if status := e.call(http.MethodGet, "/v1/approvals/"+theirs.ID, e.token, nil, &got); status != http.StatusOK {
		t.Fatalf("GET approval: %d", status)
	}
	if got.Status != approval.StatusApproved || got.Decision == nil || got.Decision.By != "browser-test" ||
		got.Decision.Note != "checked with support" || got.CoversUntil == nil || got.CoversUntil.Sub(got.Decision.At) != 15*time.Minute {
		t.Errorf("the API says: %+v %+v", got, got.Decision)
	}
	page, err := e.db.QueryAudit(ctx, storage.AuditQuery{GrantID: g.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var decided bool
	for _, r := range page.Records {
		decided = decided || bytes.Contains(r.Body, []byte(`"event":"approval_decide"`)) && r.Actor == "portal:browser-test"
	}
	if !decided {
		t.Errorf("no approval_decide audit record by portal:browser-test among %d", len(page.Records))
	}

	// The link a notification carries; the own request, still pending.
	e.step("open my own", chromedp.Navigate(e.url("/approvals/"+mine.ID)))
	e.waitPath(mine.ID + `$`)
	html = e.checkPage("own approval")
	if strings.Contains(html, `action="/portal/approvals/`+mine.ID+`/decide"`) || !strings.Contains(html, "someone else must") {
		t.Error("the own request's page offers a decision or does not say why not")
	}
	if status := e.call(http.MethodGet, "/v1/approvals/"+mine.ID, e.token, nil, &got); status != http.StatusOK || got.Status != approval.StatusPending {
		t.Errorf("the own request is %d %s", status, got.Status)
	}
}

// call sends a JSON request to the control plane's API with token and
// decodes the answer into out; it returns the status.
func (e *env) call(method, path, token string, in, out any) int {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Errorf("%s %s: %v", method, path, err)
		return 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(raw), sentinel) {
		e.t.Errorf("%s %s: the secret is in the answer", method, path)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Errorf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}
