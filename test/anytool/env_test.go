package anytool

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/internal/testnet"
)

// alterBin is the binary built once for the package run.
var alterBin string

func TestMain(m *testing.M) {
	if u := os.Getenv("ANYTOOL_GO_CLIENT"); u != "" {
		os.Exit(goClient(u)) // this binary as the Go tool alter run starts
	}
	os.Exit(testbin.Main(m, &alterBin))
}

// goClient is a Go program that knows nothing of alter: net/http's default
// client, which takes the proxy from the environment and, on Linux, its
// roots from SSL_CERT_FILE.
func goClient(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, body)
	return 0
}

func sentinel(tag string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "SnTl" + tag + hex.EncodeToString(b)
}

// The stored AWS access key id: what the SQS stand-in checks signatures for.
const storedKeyID = "AKIDALTERSTOREDSQS01"

// standIn is a local TLS server posing as one API host.
type standIn struct {
	name  string
	srv   *httptest.Server
	bytes atomic.Int64 // every byte any client sent to it
	mu    sync.Mutex
	seen  []http.Header // every request's headers
}

func (s *standIn) headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.seen...)
}

// env is a running proxy with grants for GitHub, SQS and a third host, the
// stand-ins behind them, and everything printed, for the leak check.
type env struct {
	t                      *testing.T
	dir, home              string
	proxyAddr, caFile      string
	cfg                    string // the config without listen, for other homes
	auditPath              string
	proxy                  *testbin.Proc
	gh, sqs, third, s3     *standIn
	ghGrant, sqsGrant      string
	s3Grant                string
	thirdGrant             string
	ghSecret, awsSecret    string
	thirdSecret, verifyDir string

	mu      sync.Mutex
	printed []string // everything alter and the tools printed
	hidden  []string // what must appear in none of it: secrets, profile tokens
}

// hide adds s to what the leak check looks for.
func (e *env) hide(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hidden = append(e.hidden, s)
}

func (e *env) keep(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.printed = append(e.printed, s)
}

func start(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, home: filepath.Join(dir, "home"),
		ghSecret: sentinel("gh"), awsSecret: sentinel("aws"), thirdSecret: sentinel("third")}
	e.hidden = []string{e.ghSecret, e.awsSecret, e.thirdSecret}
	e.verifyDir, _ = filepath.Abs(filepath.Join("..", "..", "testdata", "sigv4"))
	e.alter(t, "", "init")

	upCA, err := certs.CreateCA(filepath.Join(dir, "up.pem"), filepath.Join(dir, "up-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaves := certs.NewLeafCache(upCA, 8)
	e.gh = e.startStandIn(leaves, "api.github.com", e.github)
	e.sqs = e.startStandIn(leaves, "sqs.us-east-1.amazonaws.com", e.sqsHandler)
	// One S3 stand-in for the global and the regional name (awscli picks
	// one by version and settings): its certificate follows the SNI.
	e.s3 = e.startStandIn(leaves, "s3.amazonaws.com", e.s3Handler)
	e.s3.srv.TLS.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return leaves.Get(h.ServerName) }
	e.third = e.startStandIn(leaves, "third.example.test", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"third":true}`)
	})

	e.ghGrant = e.addGrant(e.ghSecret, "--type", "bearer", "--allow-host", "api.github.com", "--name", "github")
	e.sqsGrant = e.addGrant("access_key_id="+storedKeyID+"\nsecret_access_key="+e.awsSecret+"\n",
		"--type", "aws_sigv4", "--allow-host", "sqs.us-east-1.amazonaws.com", "--name", "sqs")
	e.s3Grant = e.addGrant("access_key_id="+storedKeyID+"\nsecret_access_key="+e.awsSecret+"\n",
		"--type", "aws_sigv4", "--allow-host", "s3.amazonaws.com", "--allow-host", "s3.us-east-1.amazonaws.com", "--name", "s3")
	e.thirdGrant = e.addGrant(e.thirdSecret, "--type", "bearer", "--allow-host", "third.example.test", "--name", "third")

	e.auditPath = filepath.Join(dir, "audit.log")
	e.cfg = fmt.Sprintf(`version: 1
admin_listen: 127.0.0.1:0
store: {path: %q, key_file: %q, poll_interval: 100ms}
mitm: {ca_cert: %q, ca_key: %q}
upstream:
  ca_file: %q
  resolve: {"api.github.com:443": %q, "sqs.us-east-1.amazonaws.com:443": %q, "third.example.test:443": %q, "third.example.test:80": %q, "s3.amazonaws.com:443": %q, "s3.us-east-1.amazonaws.com:443": %q}
audit: {path: %q}
log: {level: debug}
`, e.home+"/grants.json", e.home+"/master.key", e.home+"/ca.pem", e.home+"/ca-key.pem", filepath.Join(dir, "up.pem"),
		e.gh.srv.Listener.Addr(), e.sqs.srv.Listener.Addr(), e.third.srv.Listener.Addr(), e.third.srv.Listener.Addr(),
		e.s3.srv.Listener.Addr(), e.s3.srv.Listener.Addr(), e.auditPath)
	cfgPath := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:0\n"+e.cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(alterBin, "--home", e.home, "proxy", "--config", cfgPath)
	cmd.Env = cleanEnv(nil)
	e.proxy = testbin.Start(t, cmd)
	m, err := e.proxy.Out.WaitFor(testbin.ListeningRE, e.proxy.Exited)
	if err != nil {
		t.Fatal(err)
	}
	e.proxyAddr = m[1]
	// The home's own config names the running proxy's address, as a user's
	// would: alter run finds it there and uses it.
	if err := os.WriteFile(filepath.Join(e.home, "config.yaml"), []byte("listen: "+e.proxyAddr+"\n"+e.cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.caFile = filepath.Join(e.home, "ca.pem")
	t.Cleanup(e.checkNoLeak)
	return e
}

func (e *env) startStandIn(leaves *certs.LeafCache, name string, h http.HandlerFunc) *standIn {
	s := &standIn{name: name}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Header.Clone())
		s.mu.Unlock()
		h(w, r)
	}))
	leaf, err := leaves.Get(name)
	if err != nil {
		e.t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	srv.Listener = testnet.CountingListener{Listener: srv.Listener, N: &s.bytes}
	srv.StartTLS()
	e.t.Cleanup(srv.Close)
	s.srv = srv
	return s
}

// github answers /user when the request carries the stored token.
func (e *env) github(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Header.Get("Authorization") != "Bearer "+e.ghSecret {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)
		return
	}
	io.WriteString(w, `{"login":"alter-test","id":4242,"type":"User"}`)
}

// signedByStoredKey reports whether the AWS JavaScript SDK's signer agrees
// with the request's signature under the stored key.
func (e *env) signedByStoredKey(r *http.Request) bool {
	body, _ := io.ReadAll(r.Body)
	in, _ := json.Marshal(map[string]any{
		"method": r.Method, "host": r.Host, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery,
		"headers": r.Header, "body_b64": base64.StdEncoding.EncodeToString(body),
		"access_key_id": storedKeyID, "secret_access_key": e.awsSecret,
	})
	cmd := exec.Command("node", filepath.Join(e.verifyDir, "verify.mjs"))
	cmd.Dir = e.verifyDir
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	var v struct {
		OK bool `json:"ok"`
	}
	return err == nil && json.Unmarshal(out, &v) == nil && v.OK
}

// s3Handler answers ListBuckets (aws s3 ls) when the signature verifies.
func (e *env) s3Handler(w http.ResponseWriter, r *http.Request) {
	if !e.signedByStoredKey(r) || r.Method != http.MethodGet || r.URL.Path != "/" {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>the stand-in's verifier refused the signature</Message></Error>`)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>alter</ID><DisplayName>alter</DisplayName></Owner><Buckets><Bucket><Name>alter-verified-bucket</Name><CreationDate>2026-01-02T03:04:05.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>`)
}

// sqsHandler answers ListQueues (the JSON and the query protocol) when the
// AWS JavaScript SDK's signer agrees with the request's signature.
func (e *env) sqsHandler(w http.ResponseWriter, r *http.Request) {
	if !e.signedByStoredKey(r) {
		http.Error(w, `{"__type":"SignatureDoesNotMatch","message":"the stand-in's verifier refused the signature"}`, http.StatusForbidden)
		return
	}
	const queue = "https://sqs.us-east-1.amazonaws.com/123456789012/alter-verified"
	if r.Header.Get("X-Amz-Target") != "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		fmt.Fprintf(w, `{"QueueUrls":[%q]}`, queue)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<?xml version="1.0"?><ListQueuesResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ListQueuesResult><QueueUrl>%s</QueueUrl></ListQueuesResult><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></ListQueuesResponse>`, queue)
}

// cleanEnv is this process's environment without proxy, CA and alter
// settings, with a throw-away HOME and the tools kept quiet, plus extra.
func cleanEnv(extra []string, dirs ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
			"CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "AWS_CA_BUNDLE", "GIT_SSL_CAINFO", "HOME", "XDG_CONFIG_HOME":
			continue
		}
		if strings.HasPrefix(k, "ALTER_") || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "GH_") || strings.HasPrefix(k, "GITHUB_") {
			continue
		}
		out = append(out, kv)
	}
	home := os.TempDir()
	if len(dirs) > 0 {
		home = dirs[0]
	}
	out = append(out, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "GH_NO_UPDATE_NOTIFIER=1", "GH_PROMPT_DISABLED=1")
	return append(out, extra...)
}

// result is what one command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

// alter runs the CLI against home (e.home when ""), fails the test on an
// error unless the caller expects one (alterResult).
func (e *env) alter(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := e.alterResult(t, "", stdin, nil, args...)
	if r.code != 0 {
		t.Fatalf("alter %v: exit %d: %s", args, r.code, r.stderr)
	}
	return r.stdout
}

func (e *env) alterResult(t *testing.T, home, stdin string, extraEnv []string, args ...string) result {
	t.Helper()
	if home == "" {
		home = e.home
	}
	userHome := filepath.Join(e.dir, "user")
	_ = os.MkdirAll(userHome, 0o700)
	cmd := exec.Command(alterBin, append([]string{"--home", home}, args...)...)
	cmd.Env = cleanEnv(extraEnv, userHome)
	cmd.Stdin = strings.NewReader(stdin)
	r := runCmd(t, cmd)
	e.keep(r.stderr)
	if !strings.HasPrefix(strings.Join(args, " "), "profile create") && !strings.HasPrefix(strings.Join(args, " "), "profile rotate-token") {
		e.keep(r.stdout) // the only commands that print a token, once, by design
	}
	return r
}

// runCmd runs cmd and returns what it printed and its exit code; a
// command that cannot start fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	r := testbin.Run(t, cmd)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
}

func (e *env) addGrant(stdin string, args ...string) string {
	e.t.Helper()
	return strings.TrimSpace(e.alter(e.t, stdin, append([]string{"secret", "add"}, args...)...))
}

// profile creates a profile and returns its token, which the leak check
// then looks for.
func (e *env) profile(t *testing.T, name string, args ...string) string {
	t.Helper()
	tok := strings.TrimSpace(e.alter(t, "", append([]string{"profile", "create", name}, args...)...))
	e.hide(tok)
	return tok
}

// checkNoLeak: no secret and no profile token in anything printed, in the
// proxy's output or in the audit file; no stand-in received the proxy
// credentials or a Proxy-Authorization.
func (e *env) checkNoLeak() {
	audit, _ := os.ReadFile(e.auditPath)
	e.mu.Lock()
	defer e.mu.Unlock()
	places := map[string]string{"the proxy's output": e.proxy.Out.String(), "the audit file": string(audit)}
	for i, p := range e.printed {
		places[fmt.Sprintf("output %d of alter or a tool", i)] = p
	}
	for where, text := range places {
		for _, h := range e.hidden {
			if strings.Contains(text, h) {
				e.t.Errorf("LEAK: %.12s… is in %s", h, where)
			}
		}
	}
	for _, s := range []*standIn{e.gh, e.sqs, e.third, e.s3} {
		for _, h := range s.headers() {
			if h.Get("Proxy-Authorization") != "" {
				e.t.Errorf("%s received Proxy-Authorization", s.name)
			}
			for k, vs := range h {
				for _, v := range vs {
					for _, cred := range append([]string{e.ghGrant, e.sqsGrant, e.thirdGrant, e.s3Grant}, e.hidden[3:]...) {
						if strings.Contains(v, cred) {
							e.t.Errorf("%s received the proxy credential %.12s… in %s", s.name, cred, k)
						}
					}
				}
			}
		}
	}
}
