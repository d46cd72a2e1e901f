package portal_test

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// TestPortalWithAlterBinaries checks the portal as a new user would do
// it, on the real binaries: `alter server` serves the portal; in the
// browser, log in, add a secret, read its grant id; `alter proxy` with
// store.type: remote is the sidecar, and curl sends a request with the
// grant through it to a local TLS upstream; revoke in the browser and the
// sidecar refuses; the sidecar ships its audit log and the audit page
// shows the uses. Every page's HTML is searched for the secret, and so
// are both processes' output.
func TestPortalWithAlterBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the alter binary; skipped with -short")
	}
	b := newBrowser(t)
	dir := t.TempDir()
	bin, err := testbin.BuildAlter(dir)
	if err != nil {
		t.Fatal(err)
	}
	alter := func(home string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("alter %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return strings.TrimSpace(out.String())
	}

	// The upstream: TLS, says whether it got the credential, never echoes it.
	var got atomic.Int32
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+sentinel {
			got.Add(1)
			fmt.Fprint(w, "charged")
			return
		}
		http.Error(w, "no credential", http.StatusUnauthorized)
	}))
	t.Cleanup(upstream.Close)
	upHost := strings.TrimPrefix(upstream.URL, "https://")
	upCA := filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(upCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: upstream.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// The control plane, with an admin token for the browser and a sidecar
	// token for app billing.
	serverHome := filepath.Join(dir, "server")
	b.token = alter(serverHome, "server", "token", "create", "--kind", "admin", "--name", "ops")
	sidecarToken := alter(serverHome, "server", "token", "create", "--kind", "sidecar", "--name", "pod-1", "--app", "billing")
	serverCfg := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(serverCfg, []byte("version: 1\nlisten: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := startProc(t, "alter server", regexp.MustCompile(`alter server listening on (\S+)`), bin, "--home", serverHome, "server", "--config", serverCfg)
	b.base = "http://" + server.addr

	// In the browser: log in, add the secret, read the grant id.
	b.login(false)
	b.step("open the bearer form", chromedp.Navigate(b.url("/secrets/new?kind=type:bearer")))
	b.waitPath(`kind=type`)
	b.step("fill and submit",
		chromedp.SendKeys(chromedp.ID("f-field_token"), sentinel),
		chromedp.SendKeys(chromedp.ID("f-hosts"), upHost),
		chromedp.SendKeys(chromedp.ID("f-name"), "upstream-key"),
		chromedp.SendKeys(chromedp.ID("f-app"), "billing"),
		chromedp.Click(chromedp.CSS(`main form[method="post"] button[type="submit"]`)))
	b.waitPath(`\?created=1$`)
	b.checkPage("detail")
	id := strings.TrimSpace(run(b, "grant id", chromedp.Text(chromedp.CSS(`dd.gid code`))))
	if !uuidRE.MatchString(id) {
		t.Fatalf("grant id %q", id)
	}

	// The sidecar: alter proxy on the remote store.
	sidecarHome := filepath.Join(dir, "sidecar")
	alter(sidecarHome, "init")
	tokenFile := filepath.Join(sidecarHome, "server-token")
	if err := os.WriteFile(tokenFile, []byte(sidecarToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "version: 1\nidentity: checkout\nlisten: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n")
	fmt.Fprintf(&cfg, "store:\n  type: remote\n  url: %s\n  token_file: %q\n", b.base, tokenFile)
	fmt.Fprintf(&cfg, "mitm: {ca_cert: %q, ca_key: %q}\n", filepath.Join(sidecarHome, "ca.pem"), filepath.Join(sidecarHome, "ca-key.pem"))
	fmt.Fprintf(&cfg, "upstream:\n  ca_file: %q\n  allow_private: [127.0.0.1/32]\n", upCA)
	fmt.Fprintf(&cfg, "audit: {path: %q, durable: true}\n", filepath.Join(sidecarHome, "audit.log"))
	sidecarCfg := filepath.Join(sidecarHome, "config.yaml")
	if err := os.WriteFile(sidecarCfg, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	sidecar := startProc(t, "alter proxy", regexp.MustCompile(`listening on (\S+) \(admin`), bin, "--home", sidecarHome, "proxy", "--config", sidecarCfg)

	// The app's request, as the README shows it with curl (or Go's client
	// where curl is missing).
	use := func() (int, string) {
		t.Helper()
		return through(t, sidecar.addr, id, "http://"+upHost+"/v1/charges")
	}
	if status, body := use(); status != http.StatusOK || body != "charged" {
		t.Fatalf("through the sidecar: %d %q", status, body)
	}

	// Revoke in the browser; the sidecar obeys.
	b.revoke(id)
	b.waitRefused(use)
	uses := got.Load()
	if status, _ := use(); status != http.StatusForbidden || got.Load() != uses {
		t.Errorf("after a 403: %d, and the upstream saw the credential again", status)
	}

	// The sidecar ships its audit log; the audit page shows both uses.
	deadline := time.Now().Add(60 * time.Second)
	for {
		b.step("audit of the grant", chromedp.Navigate(b.url("/audit?grant="+id)))
		b.waitPath(`/audit\?grant=`)
		html := b.checkPage("audit")
		if strings.Contains(html, "status-allow") && strings.Contains(html, "status-deny") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit page never showed the allowed and the denied use")
		}
		time.Sleep(time.Second)
	}
	b.shot("audit-binaries")
	for _, p := range []*proc{server, sidecar} {
		if strings.Contains(p.out.String(), sentinel) {
			t.Errorf("%s printed the secret", p.name)
		}
	}
	t.Logf("%d pages searched for the secret", b.checks)
}

// through sends GET target through the sidecar with the grant and returns
// the status and body. The target is plain http: the grant allows only
// https, so the sidecar goes upstream over verified TLS.
func through(t *testing.T, proxyAddr, grant, target string) (int, string) {
	t.Helper()
	var body string
	var status int
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sS", "--max-time", "30", "-x", "http://"+proxyAddr,
			"-H", "X-Alter-Grant: "+grant, "-w", "\n%{http_code}", target).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		s := string(out)
		i := strings.LastIndex(s, "\n")
		body = s[:i]
		if _, err := fmt.Sscan(s[i+1:], &status); err != nil {
			t.Fatalf("curl output %q", s)
		}
	} else {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("X-Alter-Grant", grant)
		resp, err := (&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) {
			return url.Parse("http://" + proxyAddr)
		}}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		body, status = buf.String(), resp.StatusCode
	}
	if strings.Contains(body, sentinel) {
		t.Error("the secret came back to the app")
	}
	return status, body
}

// proc is a running alter process.
type proc struct {
	name string
	addr string // what it said it listens on
	cmd  *exec.Cmd
	out  testbin.SyncBuffer // stdout and stderr together
	done chan struct{}
}

// startProc runs a process and waits until its output matches ready,
// whose first group is its address. It is stopped (SIGTERM, then
// SIGKILL) when the test ends.
func startProc(t *testing.T, name string, ready *regexp.Regexp, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	m, err := p.out.WaitFor(ready, p.done)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p.addr = m[1]
	return p
}
