package portal

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// sentinel is the secret value tests store; it must never come back in a
// body, a header or a log line.
const sentinel = "sk_live_SENTINEL_7f3a9c1e5b"

// harness is a portal behind a real HTTP server, a browser-like client
// (cookie jar, no redirect following) and a log observer.
type harness struct {
	t       *testing.T
	fake    *fakeBackend
	portal  *Portal
	srv     *httptest.Server
	client  *http.Client
	logs    *observer.ObservedLogs
	mu      sync.Mutex
	seen    []string // every response's headers and body
	clock   time.Time
	clockMu sync.Mutex
}

func newHarness(t *testing.T, b Backend, tls bool, mod func(*Config)) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{t: t, logs: logs, clock: time.Now()}
	if f, ok := b.(*fakeBackend); ok {
		h.fake = f
	}
	cfg := Config{Backend: b, Log: zap.New(core), Now: h.now}
	if mod != nil {
		mod(&cfg)
	}
	h.portal = New(cfg)
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", h.portal)
	if tls {
		h.srv = httptest.NewTLSServer(mux)
		h.client = h.srv.Client()
	} else {
		h.srv = httptest.NewServer(mux)
		h.client = &http.Client{}
	}
	t.Cleanup(h.srv.Close)
	jar, _ := cookiejar.New(nil)
	h.client.Jar = jar
	h.client.Timeout = 60 * time.Second
	h.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.Cleanup(h.checkNoSentinel)
	return h
}

func (h *harness) now() time.Time {
	h.clockMu.Lock()
	defer h.clockMu.Unlock()
	return h.clock
}

func (h *harness) advance(d time.Duration) {
	h.clockMu.Lock()
	defer h.clockMu.Unlock()
	h.clock = h.clock.Add(d)
}

// do sends a request and records the whole answer.
func (h *harness) do(req *http.Request) (*http.Response, string) {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	var hdr strings.Builder
	_ = resp.Header.Write(&hdr)
	h.mu.Lock()
	h.seen = append(h.seen, hdr.String(), string(body))
	h.mu.Unlock()
	return resp, string(body)
}

func (h *harness) get(path string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

func (h *harness) post(path string, form url.Values) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf returns the first CSRF token in a page.
func (h *harness) csrfOf(body string) string {
	h.t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		h.t.Fatalf("no csrf field in page:\n%s", body)
	}
	return m[1]
}

// login logs in with the test admin token and returns the session's CSRF
// token.
func (h *harness) login() string {
	h.t.Helper()
	_, body := h.get(Prefix + "/login")
	resp, _ := h.post(Prefix+"/login", url.Values{"csrf": {h.csrfOf(body)}, "method": {"token"}, "token": {testToken}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix+"/grants" {
		h.t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = h.get(Prefix + "/grants")
	return h.csrfOf(body)
}

// addBearer stores a custom bearer secret holding value and returns the
// grant id.
func (h *harness) addBearer(csrf, value string) string {
	h.t.Helper()
	resp, body := h.post(Prefix+"/secrets", url.Values{"csrf": {csrf}, "kind": {"type:bearer"},
		"field_token": {value}, "hosts": {"api.example.com"}, "name": {"example"}})
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("add secret: %d\n%s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	id, ok := strings.CutPrefix(loc, Prefix+"/grants/")
	if !ok {
		h.t.Fatalf("add secret redirected to %q", loc)
	}
	id, _, _ = strings.Cut(id, "?")
	return id
}

// checkNoSentinel fails the test if the sentinel appeared in any answer
// or log line.
func (h *harness) checkNoSentinel() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.seen {
		if strings.Contains(s, sentinel) {
			h.t.Errorf("the secret appeared in a response:\n%s", s)
		}
	}
	for _, e := range h.logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.ReplaceAll(toString(v), "\n", " ")
		}
		if strings.Contains(line, sentinel) {
			h.t.Errorf("the secret appeared in a log line: %s", line)
		}
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "\t", " "), "\n", " "))
}

func fmtAny(v any) string { return fmt.Sprint(v) }
