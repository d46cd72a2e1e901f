package examples

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/sdk/vault"
)

// token is the API credential; it must reach the upstream and nothing else.
const token = "tok-examples-sentinel-4f9e21"

// env is a running proxy with one bearer grant for api.example.test, whose
// upstream is a local TLS server the proxy reaches through upstream.resolve.
type env struct {
	repo, bin, home, proxyURL, caFile, grant string

	mu   sync.Mutex
	auth map[string]string // upstream path -> Authorization it received
}

func (e *env) received(path string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.auth[path]
}

// upstreamBody is what the API answers for path; it does not echo headers,
// so an example that printed the token could only have got it elsewhere.
func upstreamBody(path string) string { return "hello from the API at " + path + "\n" }

func start(t *testing.T) *env {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &env{repo: repo, home: filepath.Join(dir, "home"), auth: map[string]string{}}
	if e.bin, err = testbin.BuildAlter(dir); err != nil {
		t.Fatal(err)
	}
	e.run(t, "", "init")
	// Added before the proxy starts, so no waiting for the store poll.
	e.grant = strings.TrimSpace(e.run(t, token, "secret", "add", "--type", "bearer",
		"--allow-host", "api.example.test", "--methods", "GET", "--name", "examples"))

	upCA, err := certs.CreateCA(filepath.Join(dir, "up.pem"), filepath.Join(dir, "up-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.NewLeafCache(upCA, 4).Get("api.example.test")
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.auth[r.URL.Path] = r.Header.Get("Authorization")
		e.mu.Unlock()
		if r.URL.Path == "/ws" {
			wsEcho(w, r)
			return
		}
		io.WriteString(w, upstreamBody(r.URL.Path))
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	up.StartTLS()
	t.Cleanup(up.Close)

	cfg := fmt.Sprintf(`version: 1
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
store: {path: %q, key_file: %q}
mitm: {ca_cert: %q, ca_key: %q}
upstream:
  ca_file: %q
  resolve: {"api.example.test:443": %q}
audit: {path: %q}
`, e.home+"/grants.json", e.home+"/master.key", e.home+"/ca.pem", e.home+"/ca-key.pem",
		filepath.Join(dir, "up.pem"), up.Listener.Addr().String(), filepath.Join(dir, "audit.log"))
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The CA as a client gets it: through `alter ca export`.
	e.caFile = filepath.Join(dir, "alter-ca.pem")
	if err := os.WriteFile(e.caFile, []byte(e.run(t, "", "ca", "export")), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(e.bin, "--home", e.home, "proxy", "--config", cfgPath)
	cmd.Stdout = io.Discard
	proc := testbin.Start(t, cmd)
	stderr := proc.Out
	e.proxyURL = "http://" + proc.WaitListening(t, stderr)
	t.Cleanup(func() {
		if strings.Contains(stderr.String(), token) {
			t.Error("the token is in the proxy's log")
		}
	})
	return e
}

// run runs the alter CLI against the test home and returns its stdout.
func (e *env) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(e.bin, append([]string{"--home", e.home}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("alter %v: %v: %s", args, err, errOut.String())
	}
	return out.String()
}

// exampleEnv is the environment a newcomer would set: proxy variables, the
// exported CA under each runtime's usual name, the grant and the target.
// Inherited proxy and ALTER_ settings are dropped so they cannot interfere.
func (e *env) exampleEnv(target string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "NODE_OPTIONS":
			continue
		}
		if strings.HasPrefix(k, "ALTER_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"HTTPS_PROXY="+e.proxyURL, "HTTP_PROXY="+e.proxyURL, "ALTER_PROXY="+e.proxyURL,
		"ALTER_CA_FILE="+e.caFile, "REQUESTS_CA_BUNDLE="+e.caFile, "NODE_EXTRA_CA_CERTS="+e.caFile,
		"ALTER_GRANT="+e.grant, "TARGET_URL="+target)
}

// check runs an example and asserts it printed the API's body, the API got
// the injected credential, and the example never saw the token.
func (e *env) check(t *testing.T, name string, argv ...string) {
	t.Helper()
	e.checkWith(t, name, nil, argv...)
}

// checkWith is check with more environment variables for the example.
func (e *env) checkWith(t *testing.T, name string, extraEnv []string, argv ...string) {
	t.Helper()
	path := "/v1/" + name
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = e.repo
	cmd.Env = append(e.exampleEnv("https://api.example.test"+path), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", name, err, stdout.String(), stderr.String())
	}
	if got := stdout.String(); got != upstreamBody(path) {
		t.Errorf("%s printed %q, want the API's body %q (stderr: %s)", name, got, upstreamBody(path), stderr.String())
	}
	if got := e.received(path); got != "Bearer "+token {
		t.Errorf("%s: the API received Authorization %q, want the injected bearer token", name, got)
	}
	if strings.Contains(stdout.String()+stderr.String(), token) {
		t.Errorf("%s: the example saw the token", name)
	}
}

func TestExamples(t *testing.T) {
	e := start(t)
	ci := os.Getenv("CI") == "true"

	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			if ci {
				t.Fatal("curl is required in CI")
			}
			t.Skip("curl not installed")
		}
		e.check(t, "curl", "sh", "examples/curl/example.sh")
	})

	t.Run("python", func(t *testing.T) {
		if out, err := exec.Command("python3", "-c", "import requests").CombinedOutput(); err != nil {
			t.Skipf("SKIP python example: python3 cannot import requests (%v: %s); "+
				"install Debian's python3-requests package (or pip install requests) to run it", err, bytes.TrimSpace(out))
		}
		e.check(t, "python", "python3", "examples/python/example.py")
	})

	t.Run("python websockets", func(t *testing.T) {
		// Debian's python3-websockets (.ci/run installs it), under /usr/bin
		// as test/awsclients runs Debian's boto3.
		if out, err := exec.Command("/usr/bin/python3", "-c", "import websockets").CombinedOutput(); err != nil {
			if ci {
				t.Fatalf("python3-websockets is required in CI: %v: %s", err, out)
			}
			t.Skipf("SKIP python websockets: /usr/bin/python3 cannot import websockets (%v); install Debian's python3-websockets", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/usr/bin/python3", "test/examples/testdata/websocket_client.py")
		cmd.Dir = e.repo
		cmd.Env = e.exampleEnv("")
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "hello from python\n" {
			t.Fatalf("%v: %s", err, out)
		}
		if got := e.received("/ws"); got != "Bearer "+token {
			t.Errorf("the WebSocket handshake reached the API with Authorization %q, want the injected token", got)
		}
	})

	t.Run("node", func(t *testing.T) {
		_, nodeErr := exec.LookPath("node")
		npm, npmErr := exec.LookPath("npm")
		if nodeErr != nil || npmErr != nil {
			t.Skip("SKIP node example: node or npm not installed")
		}
		// Installed into a copy so concurrent runs and the work tree never
		// share a node_modules; the script is copied too because Node
		// resolves 'undici' next to the script.
		dir := t.TempDir()
		for _, f := range []string{"package.json", "package-lock.json", "example.mjs"} {
			data, err := os.ReadFile(filepath.Join(e.repo, "examples/node", f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, npm, "ci", "--prefix", dir, "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			if ci {
				t.Fatalf("npm ci failed (CI=true, node and npm present): %v\n%s", err, out)
			}
			t.Skipf("SKIP node example: npm ci could not install undici (offline?): %v\n%s", err, out)
		}
		e.check(t, "node", "node", filepath.Join(dir, "example.mjs"))
	})

	// The SDK examples, as a user who installed the SDK from the clone
	// runs them: Python with sdk/python on its path, Node with the package
	// in node_modules (a link to sdk/typescript, whose dist/ is checked in).
	t.Run("python sdk", func(t *testing.T) {
		e.checkWith(t, "python-sdk", []string{"PYTHONPATH=" + filepath.Join(e.repo, "sdk", "python")}, "python3", "examples/python/sdk_example.py")
	})
	t.Run("node sdk", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			if ci {
				t.Fatal("node is required in CI")
			}
			t.Skip("SKIP node sdk example: node not installed")
		}
		dir := t.TempDir()
		scope := filepath.Join(dir, "node_modules", "@alter-sidecar")
		if err := os.MkdirAll(scope, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(e.repo, "sdk", "typescript"), filepath.Join(scope, "vault")); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(e.repo, "examples/node/sdk_example.mjs"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sdk_example.mjs"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		e.check(t, "node-sdk", "node", filepath.Join(dir, "sdk_example.mjs"))
	})

	t.Run("go", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "example-go")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/alter-sidecar/alter/examples/go").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		e.check(t, "go", bin)
	})
}

// TestSDKAgainstBinary: the SDK, used as a fresh program would, gets the
// injected credential over https:// and http:// targets without a CA, and
// the proxy's refusals come back as the typed errors.
func TestSDKAgainstBinary(t *testing.T) {
	e := start(t)
	c, err := vault.New(vault.WithProxy(e.proxyURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, target := range []string{"https://api.example.test/v1/sdk-https", "http://api.example.test/v1/sdk-http"} {
		resp, err := c.Request(ctx, "GET", target, nil, e.grant, vault.WithReason("sdk test"))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		path := target[strings.Index(target, "/v1/"):]
		if string(body) != upstreamBody(path) || e.received(path) != "Bearer "+token {
			t.Fatalf("%s: body %q, upstream Authorization %q", target, body, e.received(path))
		}
	}

	_, err = c.Request(ctx, "DELETE", "https://api.example.test/v1/x", nil, e.grant)
	var denied *vault.PolicyDeniedError
	if !errors.As(err, &denied) || denied.Rule != "method" || denied.Status != 403 || denied.RequestID == "" {
		t.Fatalf("DELETE on a GET-only grant: %v", err)
	}
	_, err = c.Request(ctx, "GET", "https://api.example.test/v1/x", nil, "00000000-0000-4000-8000-000000000000")
	var gone *vault.GrantUnavailableError
	if !errors.As(err, &gone) {
		t.Fatalf("unknown grant: %v", err)
	}
	_, err = c.Request(ctx, "GET", "https://elsewhere.example.test/", nil, e.grant)
	if !errors.As(err, &denied) || denied.Rule != "destination" {
		t.Fatalf("other host: %v", err)
	}
}

// wsEcho accepts a WebSocket and echoes messages until the client closes.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	for {
		typ, msg, err := c.Read(r.Context())
		if err != nil || c.Write(r.Context(), typ, msg) != nil {
			return
		}
	}
}
