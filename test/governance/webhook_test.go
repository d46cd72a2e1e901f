package governance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval/notify"
)

// hook is a webhook receiver on loopback that checks every message's
// signature with notify.Verify, as a real receiver would, and can refuse
// the first few deliveries to make the proxy retry.
type hook struct {
	srv      *httptest.Server
	secret   []byte
	token    string // the URL's secret path part
	mu       sync.Mutex
	msgs     []notify.Msg
	attempts int
	bad      []string // deliveries that failed the check
	refuse   int      // answer 503 to this many deliveries first
}

func startHook(t *testing.T, refuse int) *hook {
	h := &hook{secret: []byte(sentinel("hooksecret")), token: sentinel("hookpath"), refuse: refuse}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.attempts++
		err := notify.Verify(h.secret, r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature), body, time.Now(), 5*time.Minute)
		if err != nil || r.URL.Path != "/hook/"+h.token || r.Method != http.MethodPost {
			h.bad = append(h.bad, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if h.refuse > 0 {
			h.refuse--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var m notify.Msg
		if err := json.Unmarshal(body, &m); err != nil {
			h.bad = append(h.bad, "not JSON: "+err.Error())
			return
		}
		h.msgs = append(h.msgs, m)
	}))
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, b := range h.bad {
			t.Errorf("webhook delivery failed its check: %s", b)
		}
	})
	return h
}

func (h *hook) messages() []notify.Msg {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notify.Msg(nil), h.msgs...)
}

// hookEnv is an env whose proxy announces approvals to h.
func hookEnv(t *testing.T, h *hook, hold string) *env {
	e := newEnv(t, options{
		approvals: fmt.Sprintf(`approvals:
  hold: %s
  portal_url: https://portal.example.test/
  notify: {url: %q, secret_env: ALTER_APPROVAL_WEBHOOK_SECRET}`, hold, h.srv.URL+"/hook/"+h.token),
		env: []string{"ALTER_APPROVAL_WEBHOOK_SECRET=" + string(h.secret)},
	})
	e.extraHidden = append(e.extraHidden, string(h.secret), h.token)
	t.Cleanup(func() {
		for _, m := range h.messages() {
			b, _ := json.Marshal(m)
			e.keep(string(b))
		}
	})
	return e
}

func TestWebhookAnnouncesEachNewApprovalSignedAndRetried(t *testing.T) {
	h := startHook(t, 1)
	e := hookEnv(t, h, "30s")
	g := e.grant(t, "--require-approval", "POST")
	e.startProxy()
	c := e.client(g)

	first := e.call(t, c, "POST", "/v1/refunds", `{"amount":5}`, "Prefer", "respond-async", "X-Alter-Reason", "quarterly refund")
	if first.status != http.StatusAccepted {
		t.Fatalf("%d %s", first.status, first.body)
	}
	eventually(t, "the first message, after a refused delivery", func() bool { return len(h.messages()) == 1 })
	m := h.messages()[0]
	if m.Event != "approval.pending" || m.Approval.ID != first.err.ApprovalID || m.Approval.GrantID != g ||
		m.Link != "https://portal.example.test/approvals/"+first.err.ApprovalID {
		t.Fatalf("message: %+v", m)
	}
	for _, want := range []string{"POST https://" + host + "/v1/refunds", `"quarterly refund"`, first.err.ApprovalID} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the message's text %q lacks %q", m.Text, want)
		}
	}

	// Asking again for the same request makes no new approval, and no message.
	if again := e.call(t, c, "POST", "/v1/refunds", `{"amount":5}`, "Prefer", "respond-async"); again.err.ApprovalID != first.err.ApprovalID {
		t.Fatalf("the same request again made approval %s, want %s", again.err.ApprovalID, first.err.ApprovalID)
	}
	second := e.call(t, c, "POST", "/v1/refunds", `{"amount":6}`, "Prefer", "respond-async")
	eventually(t, "the second message", func() bool { return len(h.messages()) >= 2 })
	// The queue sends in order: a message for the repeated request would
	// have come before the second one.
	if msgs := h.messages(); len(msgs) != 2 || msgs[1].Approval.ID != second.err.ApprovalID {
		t.Fatalf("messages: %+v", msgs)
	}
	h.mu.Lock()
	attempts := h.attempts
	h.mu.Unlock()
	if attempts != 3 {
		t.Fatalf("%d deliveries, want 3 (one refused, retried, and the second message)", attempts)
	}
	// The check the receiver makes is a real one: another secret fails it.
	body, _ := json.Marshal(m)
	ts := fmt.Sprint(time.Now().Unix())
	if notify.Verify([]byte("another secret of sixteen"), ts, notify.Sign(h.secret, ts, body), body, time.Now(), time.Minute) == nil {
		t.Fatal("notify.Verify accepted a signature under another secret")
	}
	if n := e.up.bytes.Load(); n != 0 {
		t.Fatalf("the stand-in received %d bytes", n)
	}
}
