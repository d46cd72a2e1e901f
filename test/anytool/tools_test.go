package anytool

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// run is `alter run FLAGS -- COMMAND...` in the env's home; extraEnv is
// alter's own environment (ALTER_PROFILE_TOKEN).
func (e *env) run(t *testing.T, flags, extraEnv []string, command ...string) result {
	t.Helper()
	return e.alterResult(t, "", "", extraEnv, append(append(append([]string{"run"}, flags...), "--"), command...)...)
}

func lookPath(t *testing.T, what, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	testbin.Need(t, what, err)
	return p
}

func needVerifier(t *testing.T, e *env) {
	t.Helper()
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(e.verifyDir, "node_modules", "@smithy", "signature-v4"))
	if nodeErr != nil {
		testbin.Need(t, "node (the independent SigV4 verifier)", nodeErr)
	}
	testbin.Need(t, "testdata/sigv4's modules (npm ci --prefix testdata/sigv4)", modErr)
}

func TestGHWithAGrant(t *testing.T) {
	e := start(t)
	gh := lookPath(t, "Debian's gh", "gh")
	r := e.run(t, []string{"--grant", e.ghGrant, "--env", "GH_TOKEN=placeholder"}, nil, gh, "api", "/user")
	if r.code != 0 || !strings.Contains(r.stdout, `"login":"alter-test"`) {
		t.Fatalf("gh api /user: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, h := range e.gh.headers() {
		if a := h.Get("Authorization"); a != "Bearer "+e.ghSecret {
			t.Errorf("the stand-in received Authorization %.20q…, want the stored token", a)
		}
	}
}

func TestAWSCLIWithAProfile(t *testing.T) {
	e := start(t)
	needVerifier(t, e)
	aws := lookPath(t, "Debian's awscli", "/usr/bin/aws")
	tok := e.profile(t, "cloud", "--grant", e.ghGrant, "--grant", e.sqsGrant)
	r := e.run(t, []string{"--profile", "cloud", "--env", "AWS_ACCESS_KEY_ID=AKIDDUMMYCLIENT0001", "--env", "AWS_SECRET_ACCESS_KEY=dummy-client-secret",
		"--env", "AWS_DEFAULT_REGION=us-east-1", "--env", "AWS_EC2_METADATA_DISABLED=true"},
		[]string{"ALTER_PROFILE_TOKEN=" + tok}, aws, "sqs", "list-queues", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, "alter-verified") {
		t.Fatalf("aws sqs list-queues: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, h := range e.sqs.headers() {
		if a := h.Get("Authorization"); !strings.Contains(a, "Credential="+storedKeyID+"/") || strings.Contains(a, "AKIDDUMMYCLIENT") {
			t.Errorf("the stand-in received Authorization %q, want one signed with the stored key", a)
		}
	}
	audit, _ := os.ReadFile(e.auditPath)
	if !regexp.MustCompile(`"profile":"cloud"[^\n]*"decision":"allow"`).Match(audit) {
		t.Errorf("no allowed audit record names the profile:\n%s", audit)
	}
}

func TestPythonClients(t *testing.T) {
	e := start(t)
	py := lookPath(t, "Debian's python3", "/usr/bin/python3")
	tests := []struct {
		name, module, script string
	}{
		{"requests", "requests", "import requests; r = requests.get('https://api.github.com/user', headers={'Authorization': 'token placeholder'}); print(r.status_code, r.text)"},
		{"httpx", "httpx", "import httpx; r = httpx.get('https://api.github.com/user', headers={'Authorization': 'token placeholder'}); print(r.status_code, r.text)"},
		{"requests, plain http upgraded", "requests", "import requests; r = requests.get('http://api.github.com/user'); print(r.status_code, r.text)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := exec.Command(py, "-c", "import "+tt.module).CombinedOutput(); err != nil {
				testbin.Need(t, "Debian's python3-"+tt.module, err)
				t.Log(string(out))
			}
			r := e.run(t, []string{"--grant", e.ghGrant}, nil, py, "-c", tt.script)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "200 ") || !strings.Contains(r.stdout, "alter-test") {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestCurl(t *testing.T) {
	e := start(t)
	curl := lookPath(t, "curl", "curl")
	proxy := url.URL{Scheme: "http", User: url.UserPassword("alter", e.ghGrant), Host: e.proxyAddr}
	tests := []struct {
		name string
		run  func() result
	}{
		{"the grant in -x", func() result {
			return e.alterlessTool(t, curl, "-sS", "--fail-with-body", "-x", proxy.String(), "--cacert", e.caFile, "https://api.github.com/user")
		}},
		{"the grant in HTTPS_PROXY, by alter run", func() result {
			return e.run(t, []string{"--grant", e.ghGrant}, nil, curl, "-sS", "--fail-with-body", "https://api.github.com/user")
		}},
		{"a plain http URL, upgraded", func() result {
			return e.run(t, []string{"--grant", e.ghGrant}, nil, curl, "-sS", "--fail-with-body", "http://api.github.com/user")
		}},
		{"the client's placeholder Authorization is replaced", func() result {
			return e.run(t, []string{"--grant", e.ghGrant}, nil, curl, "-sS", "--fail-with-body", "-H", "Authorization: Bearer placeholder", "https://api.github.com/user")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.run()
			if r.code != 0 || !strings.Contains(r.stdout, "alter-test") {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// alterlessTool runs a tool without alter run, for recipes that set the
// proxy themselves.
func (e *env) alterlessTool(t *testing.T, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = cleanEnv(nil)
	r := runCmd(t, cmd)
	e.keep(r.stdout + r.stderr)
	return r
}

func TestGoNetHTTP(t *testing.T) {
	e := start(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := e.run(t, []string{"--grant", e.ghGrant, "--env", "ANYTOOL_GO_CLIENT=https://api.github.com/user"}, nil, self)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "200 ") || !strings.Contains(r.stdout, "alter-test") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}

// TestDenyUnmatched: a fencing profile refuses a third host, over CONNECT
// and in plain HTTP, and nothing reaches it, while its own hosts work.
func TestDenyUnmatched(t *testing.T) {
	e := start(t)
	curl := lookPath(t, "curl", "curl")
	tok := e.profile(t, "fenced", "--grant", e.ghGrant, "--grant", e.sqsGrant, "--deny-unmatched")
	withTok := []string{"ALTER_PROFILE_TOKEN=" + tok}
	fence := []string{"--profile", "fenced"}
	tests := []struct {
		name   string
		url    string
		code   int    // curl's exit code
		expect string // in curl's output
	}{
		{"a CONNECT to the third host", "https://third.example.test/", 56, "403"},
		{"a plain request to the third host", "http://third.example.test/", 22, "destination_not_allowed"},
		{"a plain request to the third host's https port", "http://third.example.test:443/", 22, "destination_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.third.bytes.Load()
			r := e.run(t, fence, withTok, curl, "-sS", "--fail-with-body", "-H", "X-Alter-Grant: "+e.thirdGrant, tt.url)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.expect) {
				t.Fatalf("curl: exit %d, want %d with %q\nstdout %s\nstderr %s", r.code, tt.code, tt.expect, r.stdout, r.stderr)
			}
			if n := e.third.bytes.Load() - before; n != 0 {
				t.Fatalf("DENIED REQUEST REACHED THE THIRD HOST: %d bytes", n)
			}
		})
	}
	t.Run("its own host works", func(t *testing.T) {
		r := e.run(t, fence, withTok, curl, "-sS", "--fail-with-body", "https://api.github.com/user")
		if r.code != 0 || !strings.Contains(r.stdout, "alter-test") {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
	})
	if e.third.bytes.Load() != 0 {
		t.Fatalf("the third host received %d bytes", e.third.bytes.Load())
	}
}

// client is a Go client of the running proxy with secret as its proxy
// password, trusting alter's CA.
func (e *env) client(t *testing.T, secret string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	u := &url.URL{Scheme: "http", User: url.UserPassword("alter", secret), Host: e.proxyAddr}
	tr := &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestRevokedProfileRefusedWithinASecond: the running proxy stops honouring
// a token within a second of `alter profile revoke`, on a kept-alive tunnel
// too.
func TestRevokedProfileRefusedWithinASecond(t *testing.T) {
	e := start(t)
	tok := e.profile(t, "brief", "--grant", e.ghGrant)
	c := e.client(t, tok)
	get := func() int {
		resp, err := c.Get("https://api.github.com/user")
		if err != nil {
			// A new tunnel's CONNECT refused: Go's client reports the status only.
			if strings.Contains(err.Error(), "Forbidden") {
				return http.StatusForbidden
			}
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("before: %d", s)
	}
	e.alter(t, "", "profile", "revoke", "brief")
	revoked := time.Now()
	for get() != http.StatusForbidden {
		if time.Since(revoked) > time.Second {
			t.Fatal("the revoked profile's token still works a second after alter profile revoke")
		}
	}
	t.Logf("refused %v after alter profile revoke returned", time.Since(revoked).Round(time.Millisecond))
}

// TestOwnProxy: with no proxy answering at the configured address, alter
// run serves one for the command's lifetime; the CA bundle it wrote is
// private and removed afterwards; the exit status passes through.
func TestOwnProxy(t *testing.T) {
	e := start(t)
	curl := lookPath(t, "curl", "curl")
	home2 := filepath.Join(e.dir, "home2")
	if err := os.MkdirAll(home2, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home2, "config.yaml"), []byte("listen: 127.0.0.1:0\n"+e.cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `ls -l "$SSL_CERT_FILE" | cut -c1-10; echo "bundle=$SSL_CERT_FILE"; echo "proxy=${HTTPS_PROXY##*@}"; ` +
		curl + ` -sS --fail-with-body https://api.github.com/user; exit 3`
	r := e.alterResult(t, home2, "", nil, "run", "--grant", e.ghGrant, "--", "sh", "-c", script)
	if r.code != 3 || !strings.Contains(r.stdout, "alter-test") || !strings.HasPrefix(r.stdout, "-rw-------") {
		t.Fatalf("exit %d (want the command's 3)\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "proxy="+e.proxyAddr) {
		t.Fatal("alter run used the running proxy, not one of its own")
	}
	bundle := regexp.MustCompile(`bundle=(\S+)`).FindStringSubmatch(r.stdout)[1]
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Fatalf("the CA bundle %s outlived the command: %v", bundle, err)
	}
}

// TestSignalsPassThrough: a SIGTERM to alter run reaches the command, whose
// exit status is alter's; a command killed by a signal kills alter with it.
func TestSignalsPassThrough(t *testing.T) {
	e := start(t)
	t.Run("a forwarded signal", func(t *testing.T) {
		cmd := exec.Command(alterBin, "--home", e.home, "run", "--", "sh", "-c", `trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done`)
		cmd.Env = cleanEnv(nil)
		p := testbin.Start(t, cmd)
		if _, err := p.Out.WaitFor(regexp.MustCompile(`ready`), p.Exited); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-p.Exited
		if code := cmd.ProcessState.ExitCode(); code != 42 || !strings.Contains(p.Out.String(), "got-term") {
			t.Fatalf("exit %d, output %q; want 42 after the command's trap", code, p.Out.String())
		}
	})
	t.Run("a command killed by a signal", func(t *testing.T) {
		cmd := exec.Command(alterBin, "--home", e.home, "run", "--", "sh", "-c", `kill -KILL $$`)
		cmd.Env = cleanEnv(nil)
		err := cmd.Run()
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if err == nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			// SIGKILL cannot be raised on oneself and caught; alter re-raises it.
			t.Fatalf("alter run ended with %v, want killed by SIGKILL", cmd.ProcessState)
		}
	})
}

// TestEnv: alter env prints what alter run sets, for a shell.
func TestEnv(t *testing.T) {
	e := start(t)
	r := e.alterResult(t, "", "", nil, "env", "--grant", e.ghGrant)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := map[string]string{
		"HTTPS_PROXY": "http://alter:" + e.ghGrant + "@" + e.proxyAddr, "https_proxy": "http://alter:" + e.ghGrant + "@" + e.proxyAddr,
		"NO_PROXY": "localhost,127.0.0.1,::1", "NODE_USE_ENV_PROXY": "1", "SSL_CERT_FILE": filepath.Join(e.home, "ca-bundle.pem"),
		"AWS_CA_BUNDLE": filepath.Join(e.home, "ca-bundle.pem"),
	}
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		if m := regexp.MustCompile(`^export ([A-Za-z_]+)='([^']*)'$`).FindStringSubmatch(sc.Text()); m != nil {
			got[m[1]] = m[2]
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	if fi, err := os.Stat(filepath.Join(e.home, "ca-bundle.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle: %v %v", fi, err)
	}
	// The exported settings work in a shell.
	curl := lookPath(t, "curl", "curl")
	cmd := exec.CommandContext(context.Background(), "sh", "-c", r.stdout+"\n"+curl+" -sS --fail-with-body https://api.github.com/user")
	cmd.Env = cleanEnv(nil)
	out, err := cmd.CombinedOutput()
	e.keep(string(out))
	if err != nil || !strings.Contains(string(out), "alter-test") {
		t.Fatalf("%v: %s", err, out)
	}
}

// TestNodeUndici runs the README's Node 20 recipe: undici's
// EnvHttpProxyAgent reads the proxy variables alter run sets, and
// NODE_EXTRA_CA_CERTS makes Node trust alter's CA.
func TestNodeUndici(t *testing.T) {
	e := start(t)
	node := lookPath(t, "node", "node")
	script := filepath.Join(e.verifyDir, "envproxy.mjs")
	if _, err := os.Stat(filepath.Join(e.verifyDir, "node_modules", "undici")); err != nil {
		testbin.Need(t, "testdata/sigv4's modules (npm ci --prefix testdata/sigv4)", err)
	}
	r := e.run(t, []string{"--grant", e.ghGrant}, nil, node, script, "https://api.github.com/user")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "200 ") || !strings.Contains(r.stdout, "alter-test") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, h := range e.gh.headers() {
		if a := h.Get("Authorization"); a != "Bearer "+e.ghSecret {
			t.Errorf("the stand-in received Authorization %.20q…, want the stored token", a)
		}
	}
}

// TestAWSS3LsWithAProfile: `aws s3 ls` under a profile of three grants;
// the stand-in answers only a request the AWS JS signer verifies under
// the stored key, so the dummy client keys never sign anything upstream.
func TestAWSS3LsWithAProfile(t *testing.T) {
	e := start(t)
	needVerifier(t, e)
	aws := lookPath(t, "Debian's awscli", "/usr/bin/aws")
	tok := e.profile(t, "storage", "--grant", e.ghGrant, "--grant", e.sqsGrant, "--grant", e.s3Grant)
	r := e.run(t, []string{"--profile", "storage", "--env", "AWS_ACCESS_KEY_ID=AKIDDUMMYCLIENT0001", "--env", "AWS_SECRET_ACCESS_KEY=dummy-client-secret",
		"--env", "AWS_DEFAULT_REGION=us-east-1", "--env", "AWS_EC2_METADATA_DISABLED=true"},
		[]string{"ALTER_PROFILE_TOKEN=" + tok}, aws, "s3", "ls")
	if r.code != 0 || !strings.Contains(r.stdout, "alter-verified-bucket") {
		t.Fatalf("aws s3 ls: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if len(e.s3.headers()) == 0 {
		t.Fatal("the S3 stand-in saw no request")
	}
	for _, h := range e.s3.headers() {
		if a := h.Get("Authorization"); !strings.Contains(a, "Credential="+storedKeyID+"/") || strings.Contains(a, "AKIDDUMMYCLIENT") {
			t.Errorf("the stand-in received Authorization %q, want one signed with the stored key", a)
		}
	}
}
