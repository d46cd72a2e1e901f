package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/internal/testbin"
)

// These tests drive the built binary with real curl, as a user would.

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

func alterBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "alter-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath, buildErr = testbin.BuildAlter(dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}

func needCurl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is required in CI (.ci/run installs it)")
		}
		t.Skip("curl not installed; .ci/run installs it")
	}
	return path
}

// binEnv is a home, an upstream posing as api.example.test and a running proxy.
type binEnv struct {
	t        *testing.T
	bin      string
	home     string
	curl     string
	proxyURL string
	adminURL string
	stderr   *testbin.SyncBuffer
	stdout   *testbin.SyncBuffer
	audit    string
	cfgPath  string
	cmd      *exec.Cmd
	exited   chan error
	done     chan struct{} // closed once the proxy has exited
	seen     chan http.Header
	// slowAt gets a value when a request for /slow reaches the upstream,
	// which answers it once slowGo is closed.
	slowAt chan struct{}
	slowGo chan struct{}
}

func (e *binEnv) alter(stdin string, args ...string) (string, error) {
	e.t.Helper()
	cmd := exec.Command(e.bin, append([]string{"--home", e.home}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("alter %v: %v: %s", args, err, errOut.String())
	}
	return out.String(), nil
}

func startBinEnv(t *testing.T) *binEnv { return startBinEnvAudit(t, "", "") }

// startBinEnvAudit starts the proxy with an audit path (a temp file when
// empty) and extra audit settings (flow mapping entries such as
// ", durable: true").
func startBinEnvAudit(t *testing.T, auditPath, auditExtra string) *binEnv {
	t.Helper()
	e := &binEnv{t: t, bin: alterBinary(t), curl: needCurl(t), home: filepath.Join(t.TempDir(), "home"),
		stderr: &testbin.SyncBuffer{}, stdout: &testbin.SyncBuffer{}, seen: make(chan http.Header, 16),
		slowAt: make(chan struct{}, 1), slowGo: make(chan struct{})}
	if _, err := e.alter("", "init"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	upCA, err := certs.CreateCA(filepath.Join(dir, "up.pem"), filepath.Join(dir, "up-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.NewLeafCache(upCA, 4).Get("api.example.test")
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			e.serveToken(w, r) // TestMintedCredentialThroughBinary
			return
		}
		if r.URL.Path == "/slow" {
			e.slowAt <- struct{}{}
			select {
			case <-e.slowGo:
			case <-r.Context().Done():
			}
		}
		select {
		case e.seen <- r.Header.Clone():
		default:
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	up.StartTLS()
	t.Cleanup(up.Close)

	e.audit = auditPath
	if e.audit == "" {
		e.audit = filepath.Join(dir, "audit.log")
	}
	cfg := fmt.Sprintf(`version: 1
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
store: {path: %q, key_file: %q, poll_interval: 200ms}
mitm: {ca_cert: %q, ca_key: %q, hosts: auto}
upstream:
  ca_file: %q
  resolve: {"api.example.test:443": %q}
audit: {path: %q%s}
`, e.home+"/grants.json", e.home+"/master.key", e.home+"/ca.pem", e.home+"/ca-key.pem",
		filepath.Join(dir, "up.pem"), up.Listener.Addr().String(), e.audit, auditExtra)
	cfgPath := filepath.Join(dir, "config.yaml")
	e.cfgPath = cfgPath
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, e.bin, "--home", e.home, "proxy", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.cmd = cmd
	e.exited, e.done = make(chan error, 1), make(chan struct{})
	go func() { e.exited <- cmd.Wait(); close(e.done) }()
	t.Cleanup(func() { cancel(); <-e.exited })
	listening := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+) \(admin (127\.0\.0\.1:\d+)\)`)
	m, err := e.stderr.WaitFor(listening, e.done)
	if err != nil {
		t.Fatalf("proxy did not start: %v", err)
	}
	e.proxyURL, e.adminURL = "http://"+m[1], "http://"+m[2]
	return e
}

// curlGet runs curl through the proxy and returns the HTTP status and
// body; a status of 0 means curl itself failed (the body says why).
func (e *binEnv) curlGet(url, grant string) (int, string) {
	e.t.Helper()
	args := []string{"-sS", "-o", "-", "-w", "\n%{http_code}", "-x", e.proxyURL, "--cacert", e.home + "/ca.pem", url}
	if grant != "" {
		args = append(args, "-H", "X-Alter-Grant: "+grant)
	}
	out, err := exec.Command(e.curl, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Sprintf("curl %s: %v: %s", url, err, out)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndex(s, "\n")
	var code int
	fmt.Sscan(s[i+1:], &code)
	return code, s[:max(i, 0)]
}

// eventually polls curl until it returns want or two seconds pass: the
// running proxy must see store changes within a second or two.
func (e *binEnv) eventually(url, grant string, want int) {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, body := e.curlGet(url, grant)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after 3s still %d, want %d: %s", code, want, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCurlThroughBuiltBinary(t *testing.T) {
	e := startBinEnv(t)
	const token = "tok-curl-sentinel-8c21f0"
	gid, err := e.alter(token, "secret", "add", "--type", "bearer", "--allow-host", "api.example.test", "--name", "curl")
	if err != nil {
		t.Fatal(err)
	}
	gid = strings.TrimSpace(gid)

	// The grant was added after the proxy started: it must be picked up.
	e.eventually("https://api.example.test/v1/ping", gid, 200)
	code, body := e.curlGet("https://api.example.test/v1/ping", gid)
	if code != 200 || !strings.Contains(body, `"Authorization":["Bearer `+token+`"]`) || strings.Contains(strings.ToLower(body), "x-alter") {
		t.Fatalf("HTTPS through curl: %d %s", code, body)
	}

	// Plain http:// for an https-only grant goes upstream over TLS.
	if code, body := e.curlGet("http://api.example.test/v1/ping", gid); code != 200 || !strings.Contains(body, "Bearer "+token) {
		t.Fatalf("plain http: %d %s", code, body)
	}

	// Rotation is picked up without a restart.
	const token2 = "tok-curl-sentinel-rotated-55"
	if _, err := e.alter(token2, "grant", "rotate", gid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, body := e.curlGet("https://api.example.test/", gid)
		if strings.Contains(body, token2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation not seen: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Revocation is picked up without a restart, with the common answer.
	if _, err := e.alter("", "grant", "revoke", gid); err != nil {
		t.Fatal(err)
	}
	e.eventually("https://api.example.test/", gid, 403)
	_, revoked := e.curlGet("https://api.example.test/", gid)
	_, unknown := e.curlGet("https://api.example.test/", "00000000-0000-4000-8000-000000000000")
	if revoked != unknown || !strings.Contains(revoked, "grant_unavailable") {
		t.Fatalf("revoked and unknown grants answer differently:\n%s\n%s", revoked, unknown)
	}

	// The secrets appear nowhere but in what the upstream received. A
	// response's audit record is written just after the client has the
	// response, so wait for the log to end with a whole line.
	var audit []byte
	waitFor(t, func() bool {
		audit, _ = os.ReadFile(e.audit)
		return bytes.Contains(audit, []byte(gid)) && bytes.HasSuffix(audit, []byte("\n"))
	})
	store, _ := os.ReadFile(e.home + "/grants.json")
	for name, text := range map[string]string{"proxy stderr": e.stderr.String(), "proxy stdout": e.stdout.String(), "audit": string(audit), "store": string(store)} {
		if strings.Contains(text, token) || strings.Contains(text, token2) {
			t.Errorf("a secret is in the %s", name)
		}
	}
	if !strings.Contains(string(audit), gid) {
		t.Errorf("audit log does not name the grant: %s", audit)
	}
	lines := bufio.NewScanner(bytes.NewReader(audit))
	for lines.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("audit line is not JSON: %s", lines.Text())
		}
	}
}

// TestDurableAuditThroughBinary: a durable log the running proxy wrote
// verifies; an edit is found; a log that cannot be written fails closed.
func TestDurableAuditThroughBinary(t *testing.T) {
	e := startBinEnvAudit(t, "", ", durable: true")
	gid, err := e.alter("tok-durable-sentinel-1", "secret", "add", "--type", "bearer", "--allow-host", "api.example.test")
	if err != nil {
		t.Fatal(err)
	}
	gid = strings.TrimSpace(gid)
	e.eventually("https://api.example.test/x", gid, 200)
	e.curlGet("https://api.example.test/x", "00000000-0000-4000-8000-000000000000")
	// The allowed request's response record follows its response.
	var data []byte
	waitFor(t, func() bool {
		data, _ = os.ReadFile(e.audit)
		return bytes.Contains(data, []byte(`"status":200`)) && bytes.HasSuffix(data, []byte("\n"))
	})
	out, err := e.alter("", "audit", "verify", e.audit)
	if err != nil || !strings.Contains(out, "OK: ") {
		t.Fatalf("verify: %v %s", err, out)
	}
	data, _ = os.ReadFile(e.audit)
	if strings.Contains(string(data), "tok-durable-sentinel-1") {
		t.Fatal("the secret is in the audit log")
	}
	edited := filepath.Join(t.TempDir(), "edited.log")
	_ = os.WriteFile(edited, bytes.Replace(data, []byte(`"status":200`), []byte(`"status":201`), 1), 0o600)
	if _, err := e.alter("", "audit", "verify", edited); err == nil {
		t.Fatal("verify accepted an edited log")
	}

	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	dev := startBinEnvAudit(t, "/dev/full", ", durable: true")
	gid2, err := dev.alter("tok-durable-sentinel-2", "secret", "add", "--type", "bearer", "--allow-host", "api.example.test")
	if err != nil {
		t.Fatal(err)
	}
	dev.eventually("https://api.example.test/", strings.TrimSpace(gid2), 503)
	if code, body := dev.curlGet("https://api.example.test/", strings.TrimSpace(gid2)); code != 503 || !strings.Contains(body, "audit_unavailable") {
		t.Fatalf("durable audit on /dev/full: %d %s", code, body)
	}
	select {
	case h := <-dev.seen:
		t.Fatalf("a request reached the upstream although it could not be audited: %v", h)
	default:
	}
}

// TestReloadOnSIGHUP: a broken config is refused and the old one kept while
// requests flow; a valid one takes effect without a restart.
func TestReloadOnSIGHUP(t *testing.T) {
	e := startBinEnv(t)
	gid, err := e.alter("tok-reload-sentinel", "secret", "add", "--type", "bearer", "--allow-host", "api.example.test")
	if err != nil {
		t.Fatal(err)
	}
	gid = strings.TrimSpace(gid)
	e.eventually("https://api.example.test/", gid, 200)
	good, _ := os.ReadFile(e.cfgPath)

	if err := os.WriteFile(e.cfgPath, []byte("version: 1\npassthrough: sometimes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = e.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(e.stderr.String(), "config reload refused") })
	if code, body := e.curlGet("https://api.example.test/", gid); code != 200 {
		t.Fatalf("after a refused reload: %d %s", code, body)
	}

	denying := strings.Replace(string(good), "version: 1\n", "version: 1\npassthrough: deny\n", 1)
	if err := os.WriteFile(e.cfgPath, []byte(denying), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = e.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(e.stderr.String(), "config reloaded") })
	if code, _ := e.curlGet("http://open.example.test:1/", ""); code != 403 {
		t.Fatalf("passthrough after reloading with deny: %d, want 403", code)
	}
	if code, body := e.curlGet("https://api.example.test/", gid); code != 200 {
		t.Fatalf("grant after reload: %d %s", code, body)
	}
	// Both reloads are in the admin log, refused then accepted, and it
	// verifies.
	adminLog := filepath.Join(e.home, "admin-audit.log")
	raw, err := os.ReadFile(adminLog)
	if err != nil {
		t.Fatal(err)
	}
	refused := regexp.MustCompile(`"event":"config_reload","event_id":"[^"]+","outcome":"failed","actor":"sidecar [^"]+".*"error":"[^"]*passthrough`)
	accepted := regexp.MustCompile(`"event":"config_reload","event_id":"[^"]+","outcome":"succeeded"`)
	r, a := refused.FindIndex(raw), accepted.FindIndex(raw)
	if r == nil || a == nil || r[0] > a[0] {
		t.Errorf("admin log lacks the refused and the accepted reload:\n%s", raw)
	}
	if _, err := audit.Verify(adminLog); err != nil {
		t.Error(err)
	}
}

// TestDrainOnSIGTERM: a slow request in flight when SIGTERM arrives
// completes, /readyz saying 503 meanwhile; the process then exits cleanly
// and the audit log holds it.
func TestDrainOnSIGTERM(t *testing.T) {
	e := startBinEnv(t)
	gid, err := e.alter("tok-drain-sentinel", "secret", "add", "--type", "bearer", "--allow-host", "api.example.test")
	if err != nil {
		t.Fatal(err)
	}
	gid = strings.TrimSpace(gid)
	e.eventually("https://api.example.test/", gid, 200)
	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		code, body := e.curlGet("https://api.example.test/slow", gid)
		done <- result{code, body}
	}()
	select {
	case <-e.slowAt:
	case <-time.After(testbin.StartTimeout):
		t.Fatal("the slow request never reached the upstream")
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	// While it drains, the proxy says it is not ready, so a balancer
	// stops sending it requests.
	waitFor(t, func() bool {
		resp, err := http.Get(e.adminURL + "/readyz")
		if err != nil {
			t.Fatalf("/readyz while draining: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	close(e.slowGo)
	r := <-done
	if r.code != 200 {
		t.Fatalf("in-flight request during SIGTERM: %d %s", r.code, r.body)
	}
	select {
	case err := <-e.exited:
		e.exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("proxy exit: %v\n%s", err, e.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the proxy did not exit after SIGTERM")
	}
	audit, _ := os.ReadFile(e.audit)
	if !strings.Contains(string(audit), `"path":"/slow"`) {
		t.Fatalf("the drained request is not in the audit log: %s", audit)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAdminEndpoints(t *testing.T) {
	e := startBinEnv(t)
	// Key material must never reach a core file.
	if limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", e.cmd.Process.Pid)); err == nil {
		if !regexp.MustCompile(`Max core file size\s+0\s+0`).Match(limits) {
			t.Errorf("core dumps are not disabled:\n%s", limits)
		}
	}
	// One request through the proxy so the counters have something to say.
	_, _ = e.curlGet("http://open.example.test:1/", "")
	resp, err := http.Get(e.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"alter_requests_total", "alter_grant_cache_size", "alter_leaf_cache_hits_total", "alter_audit_write_errors_total", "go_goroutines"} {
		if !strings.Contains(string(metrics), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.adminURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	// A store file that becomes unreadable makes the proxy not ready.
	if err := os.WriteFile(e.home+"/grants.json", []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		resp, err := http.Get(e.adminURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d with a broken store", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The log line comes from the reload that noticed the file, which may
	// finish after /readyz already says 503: wait for it too.
	for !strings.Contains(e.stderr.String(), "store reload failed") {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("the broken store was not logged: %s", e.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestProxyRunsOnDefaults(t *testing.T) {
	bin := alterBinary(t)
	home := filepath.Join(t.TempDir(), "fresh")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testbin.SyncBuffer
	cmd := exec.CommandContext(ctx, bin, "proxy", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ALTER_HOME="+home)
	cmd.Stderr = &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	// Fixed ports collide on a shared machine, so both listeners move to
	// ports the OS picks; everything else is the embedded default.
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := stderr.WaitFor(testbin.ListeningRE, nil); err != nil {
		t.Fatalf("no start: %v", err)
	}
	for _, f := range []string{"master.key", "ca.pem", "ca-key.pem", "grants.json"} {
		if !strings.Contains(stderr.String(), filepath.Join(home, f)) {
			t.Errorf("first run did not say it created %s: %s", f, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(home, f)); err != nil {
			t.Errorf("first run did not create %s", f)
		}
	}
	st, _ := os.Stat(filepath.Join(home, "master.key"))
	if st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode %v, want 0600", st.Mode().Perm())
	}
}
