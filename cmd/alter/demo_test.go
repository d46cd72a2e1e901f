package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// demoToken's shape: anything matching it in output is the secret.
var demoSecret = regexp.MustCompile(`demo-[0-9a-f]{32}`)

// TestDemoThroughBinary runs `alter demo` as a newcomer does: it must
// succeed offline, show the injection masked, and leave nothing behind in
// the user's home, ALTER_HOME or the temporary directory.
func TestDemoThroughBinary(t *testing.T) {
	bin := alterBinary(t)
	dir := t.TempDir()
	home, alterHome, tmp := filepath.Join(dir, "user"), filepath.Join(dir, "alter-home"), filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+home, "ALTER_HOME="+alterHome, "TMPDIR="+tmp,
		"HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1") // environment proxies must not matter
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}

	out, errOut, err := run("demo")
	if err != nil {
		t.Fatalf("alter demo: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	for _, want := range []string{
		"1. the app sent",
		"   X-Alter-Grant: ",
		"(no Authorization header: the app does not have the secret)",
		"2. the upstream received:\n   GET /v1/hello\n",
		"   Authorization: Bearer demo…(masked)\n",
		"3. the app got back:\n   HTTP/1.1 200 OK\n",
		"4. the audit record",
		`"decision":"allow"`,
		"ok: the proxy removed X-Alter-Grant and injected the stored credential",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if upstream := out[strings.Index(out, "2. the upstream"):strings.Index(out, "3. the app")]; strings.Contains(strings.ToLower(upstream), "x-alter-grant:") {
		t.Errorf("the upstream received the grant header:\n%s", upstream)
	}
	if demoSecret.MatchString(out + errOut) {
		t.Errorf("the demo printed its secret:\n%s\n%s", out, errOut)
	}
	for _, p := range []string{home, alterHome} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("demo touched %s (%v)", p, err)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("demo left %d entries in TMPDIR", len(left))
	}

	// --keep keeps the throw-away home; the secret in it is sealed.
	out, errOut, err = run("demo", "--keep")
	if err != nil {
		t.Fatalf("alter demo --keep: %v\n%s\n%s", err, out, errOut)
	}
	m := regexp.MustCompile(`kept the throw-away home: (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(m[1], tmp) {
		t.Fatalf("--keep did not name a home under TMPDIR:\n%s", out)
	}
	for _, f := range []string{"grants.json", "master.key", "ca.pem", "audit.log"} {
		data, err := os.ReadFile(filepath.Join(m[1], f))
		if err != nil {
			t.Errorf("kept home lacks %s: %v", f, err)
		}
		if demoSecret.Match(data) {
			t.Errorf("the secret is in %s in clear", f)
		}
	}

	// --home is refused: demo never writes to a real home.
	if _, errOut, err := run("--home", alterHome, "demo"); err == nil || !strings.Contains(errOut, "throw-away home") {
		t.Errorf("demo --home: err %v, stderr %s", err, errOut)
	}
}

func TestDemoChecksAndMask(t *testing.T) {
	const token = "demo-0123456789abcdef0123456789abcdef"
	ok := &http.Response{StatusCode: 200, Status: "200 OK"}
	for _, tc := range []struct {
		name string
		got  http.Header
		resp *http.Response
		want string // "" for success
	}{
		{"injected", http.Header{"Authorization": {"Bearer " + token}}, ok, ""},
		{"nothing injected", http.Header{}, ok, `received Authorization "(none)"`},
		{"another credential", http.Header{"Authorization": {"Bearer demo-ffffffffffffffff"}}, ok, `"Bearer demo…(masked)", not the stored credential`},
		{"marker leaked", http.Header{"Authorization": {"Bearer " + token}, "X-Alter-Grant": {"x"}}, ok, "X-Alter-Grant"},
		{"refused", http.Header{"Authorization": {"Bearer " + token}}, &http.Response{StatusCode: 502, Status: "502 Bad Gateway"}, "502 Bad Gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkDemo(demoSeen{header: tc.got}, tc.resp, token)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("checkDemo: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("checkDemo = %v, want an error with %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), token):
				t.Fatalf("the error carries the secret: %v", err)
			}
		})
	}
	for in, want := range map[string]string{
		"Bearer " + token: "Bearer demo…(masked)",
		"Basic short":     "Basic …(masked)",
		"rawtokenvalue1":  "rawt…(masked)",
		"":                "(none)",
	} {
		if got := mask(in); got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
}
