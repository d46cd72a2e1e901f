// Package portal_test drives the developer portal (server/portal) in a
// real headless Chromium with chromedp, as a new user would: log in, add a
// secret, see its grant id, clone it with a TTL, revoke it, read the audit
// trail. After every step the page's HTML is searched for the secret.
// Screenshots of the main pages are written to test/portal/artifacts/
// (git-ignored) for people to look at. binary_test.go does the same on
// the real binaries: alter server, alter proxy with store.type: remote,
// and curl.
//
// The browser is the Debian package chromium (CI installs it); without a
// browser binary the tests skip with a message saying so.
package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testkeys"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/portal"
	"github.com/alter-sidecar/alter/server/storage"
)

// sentinel is the secret the user types; no page may ever contain it.
const sentinel = "sk_live_BROWSER_SENTINEL_4b1d9e"

// browserPath finds a Chromium or Chrome binary, or "".
func browserPath() string {
	if p := os.Getenv("ALTER_TEST_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium tab on a portal at base, logging in
// with token.
type browser struct {
	t      *testing.T
	ctx    context.Context // the browser tab
	base   string          // the server's URL, without /portal
	token  string          // an admin token
	shots  string          // screenshot folder
	checks int             // pages searched for the sentinel
}

// newBrowser starts Chromium, or skips the test if there is none.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin := browserPath()
	if bin == "" {
		t.Skip("browser tests skipped: no chromium binary found (apt-get install -y chromium, or set ALTER_TEST_CHROME)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// Start the browser on a context without a deadline (its lifetime);
	// steps get their own timeouts below.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	shots := "artifacts"
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, shots: shots}
}

// env is a control plane on SQLite serving /v1 and /portal in process,
// and a browser on it.
type env struct {
	*browser
	db   *storage.DB
	srv  *httptest.Server
	logs *observer.ObservedLogs
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := newBrowser(t)
	keyring := testkeys.Keyring(t, 5)
	db, err := storage.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "alter.db"), keyring)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	_, token, err := db.CreateToken(context.Background(), storage.NewToken{Kind: storage.TokenAdmin, Name: "browser-test"})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	// The control plane as `alter server` serves it: the /v1 API (for the
	// sidecar) and the portal (for the browser) on one listener.
	mux := http.NewServeMux()
	mux.Handle("/", api.New(api.Options{Store: db, Logger: zap.New(core)}))
	mux.Handle(portal.Prefix+"/", portal.New(portal.Config{Backend: &portal.StorageBackend{Store: db}, Log: zap.New(core)}))
	srv := httptest.NewServer(mux) // 127.0.0.1:0; loopback is a secure context, so the clipboard API exists
	t.Cleanup(srv.Close)
	b.base, b.token = srv.URL, token
	e := &env{browser: b, db: db, srv: srv, logs: logs}
	t.Cleanup(e.checkLogs)
	return e
}

// step runs browser actions with a generous timeout (two shared cores).
func (e *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](e *browser, what string, a chromedp.Action[T]) T {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (e *browser) url(path string) string { return e.base + portal.Prefix + path }

// waitPath waits until the tab's URL matches re (after a form submit).
func (e *browser) waitPath(re string) string {
	e.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		// The URL and the document's state in one evaluation: the URL
		// changes when a navigation commits, before the new page has
		// loaded, and DOM node ids taken in between go stale.
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		state, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[location.href, document.readyState]`))
		cancel()
		if err == nil && len(state) == 2 && rx.MatchString(state[0]) && state[1] == "complete" {
			e.step("page ready", chromedp.WaitReady(chromedp.CSS("footer")))
			return state[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	e.t.Fatalf("the browser never reached a URL matching %s; it is at %s showing:\n%s", re, loc, text)
	return ""
}

// checkPage fails if the current page's HTML holds the secret.
func (e *browser) checkPage(what string) string {
	e.t.Helper()
	// Through script, not a DOM node: a node id can go stale if the page
	// is replaced between finding the node and reading it.
	html := run(e, "read the page", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	e.checks++
	if strings.Contains(html, sentinel) {
		e.t.Errorf("%s: the secret is in the page's HTML", what)
	}
	// Accessibility basics on every page: a title, one main landmark,
	// a label for every control, and every aria-describedby naming an
	// element that exists.
	problems := run(e, "accessibility check", chromedp.Evaluate[[]string](`(() => {
		const out = [];
		if (!document.title.trim()) out.push("no title");
		if (document.querySelectorAll("main").length !== 1) out.push("not one main landmark");
		for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
			if (!el.labels || el.labels.length === 0) out.push("no label for " + (el.name || el.id));
		}
		for (const el of document.querySelectorAll("[aria-describedby]")) {
			for (const id of el.getAttribute("aria-describedby").split(/\s+/).filter(Boolean)) {
				if (!document.getElementById(id)) out.push("aria-describedby names a missing " + id);
			}
		}
		return out;
	})()`))
	for _, p := range problems {
		e.t.Errorf("%s: %s", what, p)
	}
	return html
}

// shot saves a full-page screenshot. Chromium sometimes reports a zero
// layout size for a moment after a navigation; a few tries ride it out.
// revoke revokes grant id through its page and the confirmation page.
func (e *browser) revoke(id string) {
	e.step("open the grant", chromedp.Navigate(e.url("/grants/"+id)))
	e.waitPath(id + `$`)
	e.step("revoke…", chromedp.Click(chromedp.CSS(`a[href$="/revoke"]`)))
	e.waitPath(`/revoke$`)
	e.step("confirm", chromedp.Click(chromedp.CSS(`main form button.danger`)))
	e.waitPath(`\?revoked=1$`)
	e.checkPage("revoked")
}

// waitRefused calls use (a grant request through a sidecar) until it is
// refused with 403, failing the test if that takes more than 30 s after
// the revocation just made.
func (e *browser) waitRefused(use func() (int, string)) {
	e.t.Helper()
	revoked := time.Now()
	for {
		status, _ := use()
		if status == http.StatusForbidden {
			break
		}
		if time.Since(revoked) > 30*time.Second {
			e.t.Fatalf("the sidecar still answers %d 30 s after the revocation", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Logf("revocation reached the sidecar in %v", time.Since(revoked).Round(time.Millisecond))
}

func (e *browser) shot(name string) {
	e.t.Helper()
	var png []byte
	var err error
	for try := 0; try < 5; try++ {
		ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(e.shots, name+".png"), png, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) checkLogs() {
	for _, l := range e.logs.All() {
		b, _ := json.Marshal(l.ContextMap())
		if strings.Contains(l.Message+string(b), sentinel) {
			e.t.Errorf("the secret is in a log line: %s %s", l.Message, b)
		}
	}
}

// login logs in with the keyboard alone: type the token, press Enter.
func (e *browser) login(shot bool) {
	e.t.Helper()
	e.step("open the portal", chromedp.Navigate(e.url("/grants")))
	e.waitPath(`/portal/login$`)
	if shot {
		e.shot("login")
	}
	e.checkPage("login")
	e.step("log in", chromedp.SendKeys(chromedp.ID("f-token"), e.token+"\r"))
	e.waitPath(`/portal/grants$`)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPortalInBrowser(t *testing.T) {
	e := newEnv(t)

	e.login(true)
	html := e.checkPage("empty list")
	if !strings.Contains(html, "No secrets yet") {
		t.Error("the empty list does not say so")
	}

	// Add a secret from the Stripe template; first with a mistake (an app
	// name with a space), which the server refuses: the form comes back
	// with the error and an empty password field.
	e.step("open Add secret", chromedp.Click(chromedp.CSS(`nav a[href$="/secrets/new"]`)))
	e.waitPath(`/secrets/new$`)
	e.checkPage("add secret: choice")
	e.step("choose Stripe",
		chromedp.SetValue(chromedp.ID("f-kind"), "provider:stripe"),
		chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
	e.waitPath(`kind=provider%3Astripe|kind=provider:stripe`)
	e.step("fill the form",
		chromedp.SendKeys(chromedp.ID("f-field_token"), sentinel),
		chromedp.SendKeys(chromedp.ID("f-name"), "stripe-prod"),
		chromedp.SendKeys(chromedp.ID("f-app"), "bad app"))
	e.shot("add")
	e.checkPage("add secret: filled form")
	e.step("submit with a bad app", chromedp.Click(chromedp.CSS(`main form[method="post"] button[type="submit"]`)))
	e.waitPath(`/portal/secrets$`)
	html = e.checkPage("add secret: error")
	if !strings.Contains(html, `id="e-app"`) || !strings.Contains(html, `aria-describedby="h-app e-app"`) {
		t.Error("the refused form does not show the error next to the app field")
	}
	if v := run(e.browser, "password value", chromedp.Value(chromedp.ID("f-field_token"))); v != "" {
		t.Errorf("the password input was filled back (%d bytes)", len(v))
	}
	if v := run(e.browser, "name value", chromedp.Value(chromedp.ID("f-name"))); v != "stripe-prod" {
		t.Errorf("the name was not kept: %q", v)
	}
	e.shot("add-error")
	e.step("fix and submit",
		chromedp.SetValue(chromedp.ID("f-app"), "billing"),
		chromedp.SendKeys(chromedp.ID("f-field_token"), sentinel),
		chromedp.Click(chromedp.CSS(`main form[method="post"] button[type="submit"]`)))
	loc := e.waitPath(`/portal/grants/[0-9a-f-]+\?created=1$`)
	e.checkPage("grant detail after add")
	id := strings.TrimSpace(run(e.browser, "grant id", chromedp.Text(chromedp.CSS(`dd.gid code`))))
	if !uuidRE.MatchString(id) || !strings.Contains(loc, id) {
		t.Fatalf("grant id %q on a page at %s", id, loc)
	}
	// The copy button is shown by the script (the CSP allows only our own).
	e.step("copy button visible", chromedp.WaitVisible(chromedp.CSS(`dd.gid button.copy`)))
	e.shot("detail")
	res, err := e.db.Resolve(context.Background(), id, time.Now())
	if err != nil || res.Fields["token"] != sentinel {
		t.Fatalf("the grant does not resolve to the typed secret: %v", err)
	}

	// Clone with a TTL.
	e.step("clone", chromedp.SendKeys(chromedp.ID("f-ttl"), "1h"), chromedp.Click(chromedp.CSS(`form[action$="/clone"] button`)))
	loc = e.waitPath(`\?cloned=1$`)
	e.checkPage("clone detail")
	cloneID := strings.TrimSpace(run(e.browser, "clone id", chromedp.Text(chromedp.CSS(`dd.gid code`))))
	if cloneID == id || !strings.Contains(loc, cloneID) {
		t.Fatalf("clone id %q", cloneID)
	}
	c, err := e.db.GetGrant(context.Background(), cloneID)
	if err != nil || c.Parent != id || c.ExpiresAt == nil || time.Until(*c.ExpiresAt) > time.Hour || c.App != "billing" {
		t.Fatalf("clone as stored: %+v, %v", c, err)
	}

	// The list shows both, with the parent's clone count.
	e.step("open the list", chromedp.Navigate(e.url("/grants")))
	e.waitPath(`/portal/grants$`)
	html = e.checkPage("list")
	if !strings.Contains(html, id) || !strings.Contains(html, cloneID) || !strings.Contains(html, "stripe") {
		t.Error("the list lacks a grant")
	}
	e.shot("list")
	e.step("narrow screen", chromedp.EmulateViewport(375, 800))
	// Readable on a phone: the page itself never scrolls sideways (a wide
	// table scrolls inside its own region).
	if w := run(e.browser, "page width", chromedp.Evaluate[int]("document.documentElement.scrollWidth")); w > 375 {
		wide := run(e.browser, "wide elements", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("body *")).filter(x => x.getBoundingClientRect().right > 376).slice(0, 8).map(x => x.tagName + "." + x.className + " " + Math.round(x.getBoundingClientRect().right))`))
		t.Errorf("at 375 px the page is %d px wide: %v", w, wide)
	}
	e.shot("list-narrow")
	e.step("wide screen", chromedp.EmulateViewport(1280, 900))

	// Revoke the parent, through the confirmation page (no JavaScript).
	e.step("open the parent", chromedp.Navigate(e.url("/grants/"+id)))
	e.waitPath(id + `$`)
	e.step("revoke…", chromedp.Click(chromedp.CSS(`a[href$="/revoke"]`)))
	e.waitPath(`/revoke$`)
	html = e.checkPage("revoke confirmation")
	if !strings.Contains(html, "Its 1 clone will be revoked") {
		t.Error("the confirmation does not warn about the clone")
	}
	e.shot("revoke")
	e.step("confirm", chromedp.Click(chromedp.CSS(`main form button.danger`)))
	e.waitPath(`\?revoked=1$`)
	html = e.checkPage("revoked detail")
	if !strings.Contains(html, "status-revoked") {
		t.Error("the grant is not shown revoked")
	}
	if _, err := e.db.Resolve(context.Background(), cloneID, time.Now()); err == nil {
		t.Error("the clone still resolves after its parent was revoked")
	}

	// The audit trail: records as sidecars ship them (TestPortalGrantThroughSidecar
	// makes real ones once the remote store exists).
	now := time.Now().UTC()
	if _, err := e.db.InsertAudit(context.Background(),
		storage.AuditRecord{ID: "t1", Source: "billing/sidecar-1", Time: now.Add(-2 * time.Minute), GrantID: cloneID, Actor: "checkout", Decision: "allow",
			Body: json.RawMessage(`{"method":"POST","host":"api.stripe.com","path":"/v1/charges","status":200}`)},
		storage.AuditRecord{ID: "t2", Source: "billing/sidecar-1", Time: now.Add(-time.Minute), GrantID: cloneID, Actor: "checkout", Decision: "deny",
			Body: json.RawMessage(`{"method":"GET","host":"api.stripe.com","path":"/v1/balance","rule":"grant_unavailable"}`)},
		// Two uses by an agent's tools, one with a tool name that tries markup.
		storage.AuditRecord{ID: "t3", Source: "billing/sidecar-1", Time: now.Add(-50 * time.Second), GrantID: cloneID, Actor: "agent", Decision: "allow",
			RunID: "run-42", Tool: "refund_tool",
			Body: json.RawMessage(`{"method":"POST","host":"api.stripe.com","path":"/v1/refunds","status":200,"run_id":"run-42","tool":"refund_tool"}`)},
		storage.AuditRecord{ID: "t4", Source: "billing/sidecar-1", Time: now.Add(-40 * time.Second), GrantID: cloneID, Actor: "agent", Decision: "allow",
			RunID: "run-42", Tool: "<img src=x onerror=alert(1)>",
			Body: json.RawMessage(`{"method":"GET","host":"api.stripe.com","path":"/v1/customers","status":200,"run_id":"run-42","tool":"<img src=x onerror=alert(1)>"}`)},
	); err != nil {
		t.Fatal(err)
	}
	e.step("open the audit page", chromedp.Click(chromedp.CSS(`nav a[href$="/audit"]`)))
	e.waitPath(`/portal/audit$`)
	e.step("filter", chromedp.SendKeys(chromedp.ID("f-grant"), cloneID), chromedp.SetValue(chromedp.ID("f-decision"), "deny"),
		chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
	e.waitPath(`decision=deny`)
	html = e.checkPage("audit")
	if !strings.Contains(html, "/v1/balance") || strings.Contains(html, "/v1/charges") || strings.Contains(html, "/v1/refunds") {
		t.Error("the audit filter did not select the denied record only")
	}
	e.shot("audit")

	// Filter on the call context: one tool of one run.
	e.step("clear the filters", chromedp.Click(chromedp.CSS(`form.filters a`)))
	e.waitPath(`/portal/audit$`)
	e.step("filter by run and tool", chromedp.SendKeys(chromedp.ID("f-run"), "run-42"), chromedp.SendKeys(chromedp.ID("f-tool"), "refund_tool"),
		chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
	e.waitPath(`tool=refund_tool`)
	html = e.checkPage("audit by tool")
	if !strings.Contains(html, "/v1/refunds") || strings.Contains(html, "/v1/customers") || strings.Contains(html, "/v1/balance") {
		t.Error("the run and tool filter did not select the refund only")
	}
	// The run alone: both tool calls, the hostile tool name shown as text.
	e.step("filter by run", chromedp.Navigate(e.url("/audit?run_id=run-42")))
	e.waitPath(`run_id=run-42$`)
	html = e.checkPage("audit by run")
	if !strings.Contains(html, "/v1/refunds") || !strings.Contains(html, "/v1/customers") || strings.Contains(html, "/v1/balance") {
		t.Error("the run filter did not select the run's two records")
	}
	if imgs := run(e.browser, "count images", chromedp.Evaluate[int](`document.querySelectorAll("td img").length`)); imgs != 0 {
		t.Errorf("the tool name became markup: %d images in the table", imgs)
	}
	e.shot("audit-run")

	// Log out: the list is no longer reachable.
	e.step("log out", chromedp.Click(chromedp.CSS(`form.logout button`)))
	e.waitPath(`/login\?out=1$`)
	e.step("list after logout", chromedp.Navigate(e.url("/grants")))
	e.waitPath(`/portal/login$`)
	t.Logf("%d pages searched for the secret; screenshots in %s", e.checks, e.shots)
}
