package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
)

// held makes a pending approval in the fake, as a sidecar's proxy would.
func (h *harness) held(req approval.Request) approval.Approval {
	h.t.Helper()
	if req.GrantID == "" {
		req.GrantID = "7d3f6a2e-0000-4000-8000-000000000001"
	}
	if req.Method == "" {
		req.Method, req.Scheme, req.Host, req.Port = "POST", "https", "api.example.com", 443
	}
	if req.Path == "" {
		req.Path = "/v1/refunds"
	}
	req.Match = approval.MatchKey(req.GrantID, req.Method, req.Scheme+"://"+req.Host+req.Path, []byte(req.Preview))
	a, err := h.fake.approvals.Create(h.t.Context(), req, h.now(), time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) approvalOf(id string) approval.Approval {
	h.t.Helper()
	a, err := h.fake.approvals.Get(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// TestApprovalsEscapeClientText: the path, reason, actor, query keys and
// body preview are the client's text; none of it becomes markup, on the
// list or on the approval's page.
func TestApprovalsEscapeClientText(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	h.login()
	a := h.held(approval.Request{Method: "POST", Scheme: "https", Host: "api.example.com", Port: 8443,
		Path: "/v1/<script>alert(1)</script>", Reason: `refund <script>alert(2)</script> "now"`,
		Actor: "<b>agent</b>", QueryKeys: []string{"<i>k</i>"}, Preview: `{"note":"<img src=x onerror=alert(3)>"}`})
	for _, path := range []string{"/approvals", "/approvals/" + a.ID} {
		t.Run(path, func(t *testing.T) {
			resp, body := h.get(Prefix + path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %d:\n%s", resp.StatusCode, body)
			}
			for _, bad := range []string{"<script>", "<img", "<b>agent", "<i>k"} {
				if strings.Contains(body, bad) {
					t.Errorf("client text became markup: %q in the page", bad)
				}
			}
			for _, want := range []string{
				"https://api.example.com:8443/v1/&lt;script&gt;alert(1)&lt;/script&gt;",
				"refund &lt;script&gt;alert(2)&lt;/script&gt; &#34;now&#34;",
				"&lt;b&gt;agent&lt;/b&gt;",
				`<pre class="preview">{&#34;note&#34;:&#34;&lt;img src=x onerror=alert(3)&gt;&#34;}</pre>`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %s", want)
				}
			}
		})
	}
}

// TestApprovalDecide: each decision reaches the backend with the portal
// user as the decider and the chosen length; refused ones say why and
// change nothing.
func TestApprovalDecide(t *testing.T) {
	for _, tc := range []struct {
		name     string
		actor    string
		form     url.Values
		status   int    // the answer
		want     string // in the page it leads to
		calls    int    // DecideApproval calls
		approved bool
		denied   bool
		forDur   time.Duration
	}{
		{name: "approve this request", form: url.Values{"decision": {"approve"}, "note": {"checked with support"}},
			status: http.StatusSeeOther, want: "checked with support", calls: 1, approved: true},
		{name: "approve for 15m", form: url.Values{"decision": {"approve"}, "for": {"15m"}},
			status: http.StatusSeeOther, want: "Covers until", calls: 1, approved: true, forDur: 15 * time.Minute},
		{name: "approve for 1h", form: url.Values{"decision": {"approve"}, "for": {"1h"}},
			status: http.StatusSeeOther, want: "Covers until", calls: 1, approved: true, forDur: time.Hour},
		{name: "deny ignores the length", form: url.Values{"decision": {"deny"}, "note": {"no"}, "for": {"1h"}},
			status: http.StatusSeeOther, want: "Denied by", calls: 1, denied: true},
		{name: "self approval", actor: "TEST", form: url.Values{"decision": {"approve"}},
			status: http.StatusForbidden, want: "you cannot decide it: someone else must", calls: 1},
		{name: "a length the portal does not offer", form: url.Values{"decision": {"approve"}, "for": {"720h"}},
			status: http.StatusBadRequest, want: "Choose how long the approval lasts"},
		{name: "no decision", form: url.Values{"note": {"hm"}}, status: http.StatusBadRequest, want: "Choose Approve or Deny."},
		{name: "a note too long", form: url.Values{"decision": {"deny"}, "note": {strings.Repeat("n", approval.MaxNote+1)}},
			status: http.StatusBadRequest, want: "The note is longer than 1024 bytes."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			h := newHarness(t, fake, false, nil)
			csrf := h.login()
			a := h.held(approval.Request{Actor: tc.actor})
			tc.form.Set("csrf", csrf)
			resp, body := h.post(Prefix+"/approvals/"+a.ID+"/decide", tc.form)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d, want %d:\n%s", resp.StatusCode, tc.status, body)
			}
			if resp.StatusCode == http.StatusSeeOther {
				loc := resp.Header.Get("Location")
				if !strings.HasPrefix(loc, Prefix+"/approvals/"+a.ID+"?") {
					t.Fatalf("redirected to %q", loc)
				}
				_, body = h.get(loc)
			}
			if !strings.Contains(body, tc.want) {
				t.Errorf("the page lacks %q:\n%s", tc.want, body)
			}
			calls := fake.decided()
			if len(calls) != tc.calls {
				t.Fatalf("%d backend calls, want %d", len(calls), tc.calls)
			}
			if tc.calls > 0 {
				d := calls[0]
				if d.By != "test" || d.Approve != (tc.form.Get("decision") == "approve") || d.For != tc.forDur || d.Note != tc.form.Get("note") || !d.At.Equal(h.now().UTC()) {
					t.Errorf("decision sent: %+v", d)
				}
			}
			got := h.approvalOf(a.ID)
			switch {
			case tc.approved && got.Status != approval.StatusApproved, tc.denied && got.Status != approval.StatusDenied,
				!tc.approved && !tc.denied && got.Status != approval.StatusPending:
				t.Errorf("approval is %s", got.Status)
			}
			if (got.CoversUntil != nil) != (tc.forDur > 0) {
				t.Errorf("covers until %v, want a time-boxed approval: %v", got.CoversUntil, tc.forDur > 0)
			}
		})
	}
}

// TestApprovalDecidedOrGone: a second decision, an expired approval and
// an unknown id are refused with what happened; the decided one shows
// who decided, when and the note.
func TestApprovalDecidedOrGone(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	csrf := h.login()
	a := h.held(approval.Request{})
	if resp, _ := h.post(Prefix+"/approvals/"+a.ID+"/decide", url.Values{"csrf": {csrf}, "decision": {"deny"}, "note": {"not today"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("deny: %d", resp.StatusCode)
	}
	resp, body := h.post(Prefix+"/approvals/"+a.ID+"/decide", url.Values{"csrf": {csrf}, "decision": {"approve"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "Someone decided this approval already") {
		t.Errorf("second decision: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{"Denied by</dt><dd>test, ", "not today", "status-denied"} {
		if !strings.Contains(body, want) {
			t.Errorf("the decided approval's page lacks %q", want)
		}
	}
	if strings.Contains(body, `action="/portal/approvals/`+a.ID+`/decide"`) {
		t.Error("a decided approval still has its decision form")
	}

	b := h.held(approval.Request{Path: "/v1/other"})
	h.advance(2 * time.Hour) // past its expiry, and the session's
	csrf = h.login()
	resp, body = h.post(Prefix+"/approvals/"+b.ID+"/decide", url.Values{"csrf": {csrf}, "decision": {"approve"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "Nobody decided before") {
		t.Errorf("expired: %d\n%s", resp.StatusCode, body)
	}

	for _, path := range []string{"/approvals/no-such-id", "/approvals/no-such-id/decide"} {
		var resp *http.Response
		if strings.HasSuffix(path, "/decide") {
			resp, body = h.post(Prefix+path, url.Values{"csrf": {csrf}, "decision": {"approve"}})
		} else {
			resp, body = h.get(Prefix + path)
		}
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, msgNoApproval) {
			t.Errorf("%s: %d\n%s", path, resp.StatusCode, body)
		}
	}
}

// TestApprovalCSRF: a decision without the session's token is refused
// before the backend hears of it.
func TestApprovalCSRF(t *testing.T) {
	fake := newFake()
	h := newHarness(t, fake, false, nil)
	csrf := h.login()
	a := h.held(approval.Request{})
	for _, tok := range []struct{ name, value string }{{"missing", ""}, {"wrong", flipFirst(csrf)}, {"other session's", newToken()}} {
		t.Run(tok.name, func(t *testing.T) {
			form := url.Values{"decision": {"approve"}}
			if tok.value != "" {
				form.Set("csrf", tok.value)
			}
			resp, body := h.post(Prefix+"/approvals/"+a.ID+"/decide", form)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "security token") {
				t.Errorf("got %d:\n%s", resp.StatusCode, body)
			}
		})
	}
	if n := len(fake.decided()); n != 0 || h.approvalOf(a.ID).Status != approval.StatusPending {
		t.Errorf("a refused form reached the backend: %d calls, approval %s", n, h.approvalOf(a.ID).Status)
	}
	// The page's own form carries the token, and nothing else does.
	_, body := h.get(Prefix + "/approvals")
	if !strings.Contains(body, `<form method="post" action="/portal/approvals/`+a.ID+`/decide"`) ||
		!strings.Contains(body, `name="csrf" value="`+csrf+`"`) {
		t.Errorf("the list's decision form lacks its token:\n%s", body)
	}
}

// TestApprovalsList: pending ones newest first by default, the grant and
// status filters, a bad status said next to its field, the link in the
// navigation, and no decision form where the user asked themselves.
func TestApprovalsList(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	csrf := h.login()
	const g1, g2 = "7d3f6a2e-0000-4000-8000-0000000000a1", "7d3f6a2e-0000-4000-8000-0000000000a2"
	first := h.held(approval.Request{GrantID: g1, Path: "/v1/first"})
	h.advance(time.Second)
	second := h.held(approval.Request{GrantID: g2, Path: "/v1/second"})
	h.advance(time.Second)
	mine := h.held(approval.Request{GrantID: g2, Path: "/v1/mine", Actor: "test"})
	h.advance(time.Second)
	denied := h.held(approval.Request{GrantID: g1, Path: "/v1/denied"})
	if resp, _ := h.post(Prefix+"/approvals/"+denied.ID+"/decide", url.Values{"csrf": {csrf}, "decision": {"deny"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("deny: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name, query string
		status      int
		want        []string // paths, in this order
		absent      []string
	}{
		{"pending by default", "", http.StatusOK, []string{"/v1/mine", "/v1/second", "/v1/first"}, []string{"/v1/denied"}},
		{"one grant", "?grant=" + g1, http.StatusOK, []string{"/v1/first"}, []string{"/v1/second", "/v1/mine", "/v1/denied"}},
		{"denied", "?status=denied", http.StatusOK, []string{"/v1/denied"}, []string{"/v1/first", "/v1/second", "/v1/mine"}},
		{"any status of a grant", "?status=any&grant=" + g1, http.StatusOK, []string{"/v1/denied", "/v1/first"}, []string{"/v1/second"}},
		{"bad status", "?status=maybe", http.StatusBadRequest, []string{"Choose pending, approved, denied, expired, used or any."}, []string{"/v1/first"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.get(Prefix + "/approvals" + tc.query)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.status)
			}
			last := -1
			for _, w := range tc.want {
				i := strings.Index(body, w)
				if i < 0 || i < last {
					t.Errorf("%s missing or out of order (%v):\n%s", w, tc.want, body)
				}
				last = i
			}
			for _, a := range tc.absent {
				if strings.Contains(body, a) {
					t.Errorf("%s listed", a)
				}
			}
			if !strings.Contains(body, `href="/portal/approvals" aria-current="page">Approvals</a>`) {
				t.Error("the navigation lacks the current Approvals link")
			}
		})
	}
	_, body := h.get(Prefix + "/approvals")
	if strings.Contains(body, `action="/portal/approvals/`+mine.ID+`/decide"`) || !strings.Contains(body, "you cannot decide it: someone else must") {
		t.Error("the user's own request has a decision form, or no word why not")
	}
	for _, a := range []approval.Approval{first, second} {
		if !strings.Contains(body, `action="/portal/approvals/`+a.ID+`/decide"`) {
			t.Errorf("pending %s has no decision form", a.Path)
		}
	}
}

// TestApprovalLink: the link a notification carries with portal_url set
// to the server's address lands on the approval's page, with the
// portal's headers; the page asks for a login first.
func TestApprovalLink(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", h.portal)
	mux.Handle(LinkPrefix, h.portal)
	h.srv.Config.Handler = mux
	resp, _ := h.get("/approvals/6f1c2d3e-0000-4000-8000-000000000001")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix+"/approvals/6f1c2d3e-0000-4000-8000-000000000001" ||
		resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("link: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = h.get(Prefix + "/approvals/6f1c2d3e-0000-4000-8000-000000000001")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix+"/login" {
		t.Errorf("page without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
