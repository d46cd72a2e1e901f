package sdks

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/errcode"
	"github.com/alter-sidecar/alter/internal/testbin"
)

var alterBin string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &alterBin)) }

var (
	pyDir = filepath.Join("..", "..", "sdk", "python")
	tsDir = filepath.Join("..", "..", "sdk", "typescript")
)

// TestErrorCodesMatch: each SDK's map of codes to error types holds
// exactly errcode.All, read from the SDK's own code.
func TestErrorCodesMatch(t *testing.T) {
	want := slices.Sorted(slices.Values(errcode.All))
	for _, tt := range []struct {
		name string
		cmd  *exec.Cmd
	}{
		{"python", withDir(exec.Command("python3", "-c", "import json, alter_vault; print(json.dumps(list(alter_vault.ERROR_TYPES)))"), pyDir)},
		{"typescript", withDir(exec.Command("node", "--input-type=module", "-e", "import * as s from './dist/index.js'; console.log(JSON.stringify(Object.keys(s.ERROR_TYPES)))"), tsDir)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.cmd.Output()
			if err != nil {
				t.Fatalf("%v: %s", err, stderrOf(err))
			}
			var got []string
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%q: %v", out, err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("codes %v, errcode.All %v", got, want)
			}
		})
	}
}

// TestTypeScriptDistIsBuilt: dist/ is what tsc makes of src/ now, so
// `npm install ./sdk/typescript` installs the current code.
func TestTypeScriptDistIsBuilt(t *testing.T) {
	tsc := filepath.Join(tsDir, "node_modules", ".bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		t.Fatalf("%s is missing: run npm ci --prefix sdk/typescript (.ci/run does)", tsc)
	}
	out := t.TempDir()
	cmd := withDir(exec.Command(filepath.Join("node_modules", ".bin", "tsc"), "-p", ".", "--outDir", out), tsDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v: %s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(files) == 0 {
		t.Fatal("tsc wrote nothing")
	}
	checked, _ := filepath.Glob(filepath.Join(tsDir, "dist", "*"))
	if len(checked) != len(files) {
		t.Errorf("dist/ holds %d files, tsc makes %d: run npm run build in sdk/typescript", len(checked), len(files))
	}
	for _, f := range files {
		fresh, _ := os.ReadFile(f)
		old, err := os.ReadFile(filepath.Join(tsDir, "dist", filepath.Base(f)))
		if err != nil || string(old) != string(fresh) {
			t.Errorf("dist/%s is stale: run npm run build in sdk/typescript", filepath.Base(f))
		}
	}
}

// TestPythonSDK runs sdk/python's unittest suite, the integration tests
// included, against a running sidecar.
func TestPythonSDK(t *testing.T) {
	for _, py := range pythons() {
		t.Run(filepath.Base(py), func(t *testing.T) {
			e := start(t) // each run uses up its own rate limit
			cmd := withDir(exec.Command(py, "-m", "unittest", "discover", "-v", "-s", "tests", "-t", "."), pyDir)
			e.run(t, cmd)
		})
	}
}

// TestTypeScriptSDK runs sdk/typescript's node --test suite against a
// running sidecar.
func TestTypeScriptSDK(t *testing.T) {
	e := start(t)
	e.run(t, withDir(exec.Command("node", "--test", "test/"), tsDir))
}

// pythons: the python3 on PATH and Debian's, when they differ.
func pythons() []string {
	out := []string{"python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		if r, _ := filepath.EvalSymlinks(p); r != "/usr/bin/python3" && r != "/usr/bin/python3.11" {
			if _, err := os.Stat("/usr/bin/python3"); err == nil {
				out = append(out, "/usr/bin/python3")
			}
		}
	}
	return out
}

func withDir(c *exec.Cmd, dir string) *exec.Cmd { c.Dir = dir; return c }

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// env is a running sidecar with the grants the SDK tests use, and the
// settings handed to them as ALTER_SDK_TEST_* variables.
type env struct {
	home  string
	vars  []string
	proxy *testbin.Proc
}

const clientName, clientSecret = "sdk-app", "sdk-client-secret-0123456789"

func start(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{home: filepath.Join(dir, "home")}
	e.alter(t, "", "init")
	upCA, err := certs.CreateCA(filepath.Join(dir, "up.pem"), filepath.Join(dir, "up-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.NewLeafCache(upCA, 4).Get("api.example.test")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "sdk-upstream-token-SnTl"
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done() // longer than upstream.response_header_timeout
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
		leaked := map[string]bool{}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-alter") || strings.EqualFold(k, "Proxy-Authorization") {
				leaked[k] = true
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
			"body": string(body), "authorized": r.Header.Get("Authorization") == "Bearer "+secret, "leaked": leaked})
	}))
	api.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	api.StartTLS()
	t.Cleanup(api.Close)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	down := closed.Addr().String()
	closed.Close() // nothing listens there: connection_refused

	grant := func(args ...string) string {
		return strings.TrimSpace(e.alter(t, secret, append([]string{"secret", "add", "--type", "bearer"}, args...)...))
	}
	grants := map[string]string{
		"GRANT":          grant("--allow-host", "api.example.test", "--methods", "GET,POST", "--name", "ok"),
		"GRANT_APPROVAL": grant("--allow-host", "api.example.test", "--require-approval", "POST", "--name", "approval"),
		"GRANT_RATE":     grant("--allow-host", "api.example.test", "--rate", "1/h", "--name", "rate"),
		"GRANT_DOWN":     grant("--allow-host", "down.example.test", "--name", "down"),
	}
	sum := sha256.Sum256([]byte(clientSecret))
	cfg := fmt.Sprintf(`version: 1
admin_listen: 127.0.0.1:0
store: {path: %q, key_file: %q, poll_interval: 100ms}
mitm: {ca_cert: %q, ca_key: %q}
max_signed_body: 1024
upstream:
  ca_file: %q
  response_header_timeout: 500ms
  resolve: {"api.example.test:443": %q, "down.example.test:443": %q}
approvals: {hold: 2s}
proxy_auth:
  clients: [{name: %s, sha256: %s}]
log: {level: info}
`, e.home+"/grants.json", e.home+"/master.key", e.home+"/ca.pem", e.home+"/ca-key.pem", filepath.Join(dir, "up.pem"),
		api.Listener.Addr(), down, clientName, hex.EncodeToString(sum[:]))
	cfgPath := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:0\n"+cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(alterBin, "--home", e.home, "proxy", "--config", cfgPath)
	e.proxy = testbin.Start(t, cmd)
	m, err := e.proxy.Out.WaitFor(testbin.ListeningRE, e.proxy.Exited)
	if err != nil {
		t.Fatal(err)
	}
	// The CLI (alter approvals) reads the same store through the home's config.
	if err := os.WriteFile(filepath.Join(e.home, "config.yaml"), []byte("listen: "+m[1]+"\n"+cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	e.vars = []string{"ALTER_PROXY=http://" + m[1], "ALTER_SDK_TEST_CLIENT=" + clientName,
		"ALTER_SDK_TEST_CLIENT_SECRET=" + clientSecret, "ALTER_SDK_TEST_ALTER=" + alterBin, "ALTER_SDK_TEST_HOME=" + e.home,
		"ALTER_SDK_TEST_URL=https://api.example.test"}
	for k, v := range grants {
		e.vars = append(e.vars, "ALTER_SDK_TEST_"+k+"="+v)
	}
	return e
}

// run runs an SDK's test command with the sidecar's settings; its output
// must not hold the upstream secret.
func (e *env) run(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Env = append(cleanEnv(), e.vars...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	if strings.Contains(string(out), "sdk-upstream-token") || strings.Contains(e.proxy.Out.String(), "sdk-upstream-token") {
		t.Fatal("the upstream secret was printed")
	}
	if !strings.Contains(string(out), "integration") {
		t.Fatal("the integration tests did not run")
	}
	if s := string(out); strings.Contains(s, "skipped '") || (strings.Contains(s, "# skipped ") && !strings.Contains(s, "# skipped 0")) {
		t.Fatal("a test was skipped")
	}
}

func (e *env) alter(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(alterBin, append([]string{"--home", e.home}, args...)...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("alter %v: %v: %s", args, err, stderrOf(err))
	}
	return string(out)
}

// cleanEnv is this process's environment without proxy and alter settings.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
			continue
		}
		if !strings.HasPrefix(k, "ALTER_") {
			out = append(out, kv)
		}
	}
	return out
}
