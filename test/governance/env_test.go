package governance

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/internal/testnet"
	"github.com/alter-sidecar/alter/secretstore"
)

// alterBin is the binary built once for the package run.
var alterBin string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &alterBin)) }

// host is the API the grants reach; upstream.resolve sends it to the stand-in.
const host = "api.example.test"

func sentinel(tag string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "SnTl" + tag + hex.EncodeToString(b)
}

// eventually polls cond until it holds, failing the test after
// testbin.StartTimeout: the wait is for an observable outcome, never a
// fixed time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(testbin.StartTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		<-tick.C
	}
}

// seen is one request the stand-in received.
type seen struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// standIn is the local TLS server posing as api.example.test.
type standIn struct {
	srv   *httptest.Server
	bytes atomic.Int64 // every byte any client sent to it
	mu    sync.Mutex
	reqs  []seen
}

func (s *standIn) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// options shape a proxy: the config's approvals block (default a 30s
// hold), more top-level keys, and more environment for the proxy.
type options struct {
	approvals string
	extra     string
	env       []string
}

// env is a home, the stand-in behind it, and, once startProxy ran, a
// running proxy; with everything printed kept for the leak check.
type env struct {
	t                 *testing.T
	dir, home         string
	proxyAddr, admin  string
	caFile, auditPath string
	proxy             *testbin.Proc
	up                *standIn
	secret            string // the stored credential every grant uses
	mu                sync.Mutex
	printed           []string // everything alter and the clients printed or received
	extraHidden       []string
	proxyEnv          []string
}

func (e *env) keep(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.printed = append(e.printed, s)
}

// newEnv makes a home with its config and the stand-in; grants are added
// next (e.grant), then the proxy started (e.startProxy).
func newEnv(t *testing.T, o options) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, home: filepath.Join(dir, "home"), secret: sentinel("cred")}
	e.alter(t, "", "init")
	upCA, err := certs.CreateCA(filepath.Join(dir, "up.pem"), filepath.Join(dir, "up-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	e.up = startStandIn(t, certs.NewLeafCache(upCA, 4))
	e.auditPath = filepath.Join(dir, "audit.log")
	if o.approvals == "" {
		o.approvals = "approvals: {hold: 30s}"
	}
	cfg := fmt.Sprintf(`version: 1
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
store: {path: %q, key_file: %q, poll_interval: 100ms}
mitm: {ca_cert: %q, ca_key: %q}
upstream:
  ca_file: %q
  resolve: {"%s:443": %q}
audit: {path: %q}
log: {level: debug}
%s
%s
`, e.home+"/grants.json", e.home+"/master.key", e.home+"/ca.pem", e.home+"/ca-key.pem", filepath.Join(dir, "up.pem"),
		host, e.up.srv.Listener.Addr(), e.auditPath, o.approvals, o.extra)
	// The home's config: alter proxy and alter approvals read the same one.
	if err := os.WriteFile(filepath.Join(e.home, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.caFile = filepath.Join(e.home, "ca.pem")
	e.proxyEnv = o.env
	t.Cleanup(e.checkNoLeak)
	return e
}

var listeningAdminRE = regexp.MustCompile(`listening on (\S+) \(admin (\S+)\)`)

// startProxy starts alter proxy on the home and waits until it listens.
func (e *env) startProxy() {
	e.t.Helper()
	cmd := exec.Command(alterBin, "--home", e.home, "proxy")
	cmd.Env = testbin.CleanEnv(e.dir, e.proxyEnv...)
	e.proxy = testbin.Start(e.t, cmd)
	m, err := e.proxy.Out.WaitFor(listeningAdminRE, e.proxy.Exited)
	if err != nil {
		e.t.Fatal(err)
	}
	e.proxyAddr, e.admin = m[1], m[2]
}

func startStandIn(t *testing.T, leaves *certs.LeafCache) *standIn {
	s := &standIn{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	leaf, err := leaves.Get(host)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	srv.Listener = testnet.CountingListener{Listener: srv.Listener, N: &s.bytes}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.srv = srv
	return s
}

// result is what one command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

// alter runs the CLI on the home and fails the test if it fails.
func (e *env) alter(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := e.alterResult(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("alter %v: exit %d: %s", args, r.code, r.stderr)
	}
	return r.stdout
}

// alterResult runs the CLI on the home as a separate process, as from
// another shell.
func (e *env) alterResult(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(alterBin, append([]string{"--home", e.home}, args...)...)
	cmd.Env = testbin.CleanEnv(e.dir)
	cmd.Stdin = strings.NewReader(stdin)
	r := runCmd(t, cmd)
	e.keep(r.stdout + r.stderr)
	return r
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	r := testbin.Run(t, cmd)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
}

// grant adds a bearer grant for host with the stored credential and the
// rule flags given, and returns its id.
func (e *env) grant(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(e.alter(t, e.secret, append([]string{"secret", "add", "--type", "bearer", "--allow-host", host}, args...)...))
}

// client is a Go client that trusts only the proxy's CA and names grant
// as its proxy password.
func (e *env) client(grant string) *http.Client {
	return e.clientAs(url.UserPassword("alter", grant))
}

func (e *env) clientAs(user *url.Userinfo) *http.Client {
	pem, err := os.ReadFile(e.caFile)
	if err != nil {
		e.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	proxy := &url.URL{Scheme: "http", User: user, Host: e.proxyAddr}
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// answer is what a client got.
type answer struct {
	status int
	header http.Header
	body   string
	err    errBody
}

// errBody is the proxy's JSON answer to a request it did not forward.
type errBody struct {
	Error      string `json:"error"`
	Message    string `json:"message"`
	Rule       string `json:"rule"`
	ApprovalID string `json:"approval_id"`
	Status     string `json:"status"`
	ExpiresAt  string `json:"expires_at"`
	Note       string `json:"note"`
}

// call sends one request to https://api.example.test+path; hdr is pairs
// of header name and value.
func (e *env) call(t *testing.T, c *http.Client, method, path, body string, hdr ...string) answer {
	t.Helper()
	a, err := e.try(c, method, path, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// try is call for use off the test's goroutine.
func (e *env) try(c *http.Client, method, path, body string, hdr ...string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://"+host+path, rd)
	if err != nil {
		return answer{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &a.err)
	e.keep(fmt.Sprint(resp.Header) + string(b))
	return a, nil
}

// approvals is `alter approvals list --json` with more flags.
func (e *env) approvals(t *testing.T, args ...string) []approval.Approval {
	t.Helper()
	out := e.alter(t, "", append([]string{"approvals", "list", "--json"}, args...)...)
	var list []approval.Approval
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("approvals list --json: %v\n%s", err, out)
	}
	return list
}

// waitPending waits until n approvals are pending and returns them,
// newest first.
func (e *env) waitPending(t *testing.T, n int) []approval.Approval {
	t.Helper()
	var list []approval.Approval
	eventually(t, fmt.Sprintf("%d pending approvals", n), func() bool {
		list = e.approvals(t)
		return len(list) >= n
	})
	if len(list) != n {
		t.Fatalf("%d approvals pending, want %d", len(list), n)
	}
	return list
}

// auditRecords returns the audit file's records, decoded.
func (e *env) auditRecords(t *testing.T) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(e.auditPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// metrics is the admin listener's /metrics text.
func (e *env) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + e.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// checkNoLeak: the credential is in nothing printed, received by a client,
// logged, audited or kept with the approvals; the stand-in got no X-Alter-*
// header, no proxy credentials and no respond-async preference.
func (e *env) checkNoLeak() {
	t := e.t
	places := map[string]string{}
	if e.proxy != nil {
		places["the proxy's output"] = e.proxy.Out.String()
	}
	for name, path := range map[string]string{"the audit file": e.auditPath, "the approvals file": secretstore.ApprovalsPath(filepath.Join(e.home, "grants.json"))} {
		b, _ := os.ReadFile(path)
		places[name] = string(b)
	}
	e.mu.Lock()
	for i, p := range e.printed {
		places[fmt.Sprintf("output %d of alter or a client", i)] = p
	}
	hidden := append([]string{e.secret}, e.extraHidden...)
	e.mu.Unlock()
	for where, text := range places {
		for _, h := range hidden {
			if strings.Contains(text, h) {
				t.Errorf("LEAK: %.12s… is in %s", h, where)
			}
		}
	}
	for i, r := range e.up.requests() {
		for k, vs := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-alter-") || strings.EqualFold(k, "Proxy-Authorization") {
				t.Errorf("the stand-in's request %d (%s %s) carried %s", i, r.Method, r.Path, k)
			}
			if strings.EqualFold(k, "Prefer") && strings.Contains(strings.ToLower(strings.Join(vs, ",")), "respond-async") {
				t.Errorf("the stand-in's request %d (%s %s) carried Prefer: %v", i, r.Method, r.Path, vs)
			}
		}
	}
}
