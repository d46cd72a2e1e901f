package portal_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/proxy"
	"github.com/alter-sidecar/alter/secretstore/remote"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/storage"
)

// TestPortalGrantThroughSidecar stores a secret in the browser, uses its
// grant through a sidecar that resolves grants from the control plane
// (the remote store, with a sidecar token of the grant's app) against a
// local TLS upstream, revokes it in the browser, and reads the shipped
// audit records on the audit page.
//
// The sidecar is built in process from the same packages `alter proxy`
// wires (proxy, secretstore/remote, server/client, certs, audit): the
// config key store.type: remote is not wired into the binary yet.
func TestPortalGrantThroughSidecar(t *testing.T) {
	e := newEnv(t)

	// The upstream: a TLS server that says whether it got the credential,
	// without ever sending it back.
	var got atomic.Int32
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+sentinel && r.Header.Get("X-Alter-Grant") == "" {
			got.Add(1)
			fmt.Fprint(w, "charged")
			return
		}
		http.Error(w, "no credential", http.StatusUnauthorized)
	}))
	t.Cleanup(upstream.Close)
	upHost := strings.TrimPrefix(upstream.URL, "https://")

	// Store a custom bearer secret for app "billing" that may reach only
	// the upstream.
	e.login(false)
	e.step("open the bearer form", chromedp.Navigate(e.url("/secrets/new?kind=type:bearer")))
	e.waitPath(`kind=type`)
	e.step("fill and submit",
		chromedp.SendKeys(chromedp.ID("f-field_token"), sentinel),
		chromedp.SendKeys(chromedp.ID("f-hosts"), upHost),
		chromedp.SendKeys(chromedp.ID("f-name"), "upstream-key"),
		chromedp.SendKeys(chromedp.ID("f-app"), "billing"),
		chromedp.Click(chromedp.CSS(`main form[method="post"] button[type="submit"]`)))
	e.waitPath(`\?created=1$`)
	e.checkPage("detail")
	id := strings.TrimSpace(run(e.browser, "grant id", chromedp.Text(chromedp.CSS(`dd.gid code`))))
	if !uuidRE.MatchString(id) {
		t.Fatalf("grant id %q", id)
	}

	// The sidecar of app billing.
	_, sidecarToken, err := e.db.CreateToken(context.Background(), storage.NewToken{Kind: storage.TokenSidecar, Name: "sidecar-1", App: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(client.Options{URL: e.srv.URL, Token: client.Token(sidecarToken)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := remote.New(cl, remote.Options{Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	res.Start(ctx)
	t.Cleanup(func() { res.Close() })
	dir := t.TempDir()
	ca, err := certs.CreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	auditPath := filepath.Join(dir, "audit.log")
	sink, err := audit.NewZapSink(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(upstream.Certificate())
	px, err := proxy.New(proxy.Options{
		Store: res, Leaves: certs.NewLeafCache(ca, 0), Audit: sink, Log: zap.NewNop(),
		MITM: proxy.MITMMode{Auto: true}, Identity: "checkout",
		Upstream: proxy.UpstreamOptions{RootCAs: roots, AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sidecar := httptest.NewServer(px)
	t.Cleanup(sidecar.Close)

	// The app: a plain HTTP request through the sidecar, like
	// curl -x SIDECAR -H "X-Alter-Grant: ID" http://HOST/...; the grant
	// allows only https, so the sidecar sends it over verified TLS.
	proxyURL, _ := url.Parse(sidecar.URL)
	app := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	call := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+upHost+"/v1/charges", nil)
		req.Header.Set("X-Alter-Grant", id)
		resp, err := app.Do(req)
		if err != nil {
			t.Fatalf("request through the sidecar: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(b), sentinel) {
			t.Error("the secret came back to the app")
		}
		return resp.StatusCode, string(b)
	}
	if status, body := call(); status != http.StatusOK || body != "charged" || got.Load() != 1 {
		t.Fatalf("through the sidecar: %d %q (upstream saw the credential %d times)", status, body, got.Load())
	}

	// Revoke in the browser; the sidecar obeys through the change stream.
	e.revoke(id)
	// Until the change reaches it (within a second) the sidecar
	// may still serve the cached grant; from the first 403 on it must
	// never inject again.
	e.waitRefused(call)
	uses := got.Load()
	for range 3 {
		if status, _ := call(); status != http.StatusForbidden {
			t.Errorf("after a 403 the sidecar answered %d", status)
		}
	}
	if n := got.Load(); n != uses {
		t.Errorf("the upstream saw the credential %d more times after the first 403", n-uses)
	}

	// Ship the sidecar's audit records as a sidecar does, then read them
	// in the browser. A response's record is written just after the
	// client has the response: stop the sidecar first, as a stopping
	// sidecar does, so every handler has finished writing.
	sidecar.Close()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readAudit(t, auditPath)
	if n, err := cl.ShipAudit(context.Background(), recs); err != nil || n != len(recs) {
		t.Fatalf("ship audit: %d of %d, %v", n, len(recs), err)
	}
	e.step("audit of the grant", chromedp.Navigate(e.url("/audit?grant="+id)))
	e.waitPath(`/audit\?grant=`)
	html := e.checkPage("audit after use")
	if !strings.Contains(html, "status-allow") || !strings.Contains(html, "status-deny") || !strings.Contains(html, "/v1/charges") {
		t.Errorf("the audit page does not show the allowed and the denied use")
	}
	e.shot("audit-sidecar")
}

// readAudit turns the sidecar's audit log into records to ship.
func readAudit(t *testing.T, path string) []storage.AuditRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []storage.AuditRecord
	sc := bufio.NewScanner(f)
	for i := 0; sc.Scan(); i++ {
		line := append([]byte(nil), sc.Bytes()...)
		if strings.Contains(string(line), sentinel) {
			t.Errorf("the secret is in the sidecar's audit log")
		}
		var r struct {
			TS       string `json:"ts"`
			GrantID  string `json:"grant_id"`
			Actor    string `json:"actor"`
			Decision string `json:"decision"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("audit line %d: %v", i, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, r.TS)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, storage.AuditRecord{ID: fmt.Sprintf("sidecar-1/%d", i), Time: ts, GrantID: r.GrantID,
			Actor: r.Actor, Decision: r.Decision, Body: line})
	}
	if len(out) < 2 {
		t.Fatalf("%d audit records, want at least an allow and a deny", len(out))
	}
	return out
}
