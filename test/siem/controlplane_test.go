package siem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// controlPlane is one alter server database, the config its runs share
// (the keyring, the audit: section) and the admin token made for it.
type controlPlane struct {
	t       *testing.T
	dir     string
	dbURL   string
	keyFile string
	admin   string
	// audit is the audit: section of every run's config but the reader's.
	audit string
	// secrets are every token value the test saw, for the leak check.
	secrets map[string]string
	client  *http.Client
}

func newControlPlane(t *testing.T, dbURL, audit string) *controlPlane {
	t.Helper()
	c := &controlPlane{t: t, dir: t.TempDir(), dbURL: dbURL, audit: audit, secrets: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second}}
	keygen := filepath.Join(c.dir, "keygen")
	c.cli(nil, "", "--home", keygen, "init")
	data, err := os.ReadFile(filepath.Join(keygen, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	c.keyFile = filepath.Join(c.dir, "server-key")
	if err := os.WriteFile(c.keyFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c.admin = strings.TrimSpace(c.cli(nil, "", "--home", keygen, "server", "--config", c.config("bootstrap", false),
		"token", "create", "--kind", "admin", "--name", "siem-operator"))
	c.secrets["the admin token"] = c.admin
	return c
}

// cli runs alter to its end and returns its stdout.
func (c *controlPlane) cli(env []string, stdin string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(alterBin, args...)
	cmd.Env = testbin.CleanEnv(c.dir, env...)
	cmd.Stdin = strings.NewReader(stdin)
	r := testbin.Run(c.t, cmd)
	if r.Code != 0 {
		c.t.Fatalf("alter %s: exit %d: %s", args[len(args)-1], r.Code, r.Stderr)
	}
	return r.Stdout
}

// config writes run name's config (with the audit section when forward)
// and returns its path.
func (c *controlPlane) config(name string, forward bool) string {
	c.t.Helper()
	cfg := fmt.Sprintf("version: 1\nlisten: 127.0.0.1:0\ndatabase_url: %q\nkey_file: %q\nlog: {level: info}\n", c.dbURL, c.keyFile)
	if forward {
		cfg += c.audit
	}
	path := filepath.Join(c.dir, name+"-server.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// server is one run of alter server.
type server struct {
	*testbin.Proc
	name, addr string
	holder     string // its name in the forwarding leases, "" without forwarding
}

var holderRE = regexp.MustCompile(`"forwarding the audit trail".*?"holder":"([^"]+)"`)

// start runs alter server as name on listen ("127.0.0.1:0", or the
// address of an earlier run), forwarding when forward is set.
func (c *controlPlane) start(name, listen string, forward bool) *server {
	c.t.Helper()
	cmd := exec.Command(alterBin, "--home", filepath.Join(c.dir, "home-"+name), "server", "--config", c.config(name, forward), "--listen", listen)
	cmd.Env = testbin.CleanEnv(c.dir)
	s := &server{Proc: testbin.Start(c.t, cmd), name: name}
	s.addr = s.WaitListening(c.t, s.Out)
	if forward {
		m, err := s.Out.WaitFor(holderRE, s.Exited)
		if err != nil {
			c.t.Fatalf("server %s: %v", name, err)
		}
		s.holder = m[1]
	}
	return s
}

// stop sends sig and waits for the server to end.
func (s *server) stop(sig syscall.Signal) {
	_ = s.Cmd.Process.Signal(sig)
	<-s.Exited
}

// api calls the admin API on s with the admin token, decoding the answer
// into out (when not nil); an answer other than want fails the test.
func (c *controlPlane) api(s *server, method, path string, body, out any, want int) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+s.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s on %s: %v", method, path, s.name, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s on %s: %d, want %d", method, path, s.name, resp.StatusCode, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

type token struct {
	ID     string `json:"id"`
	Secret string `json:"token"`
}

// createToken makes a sidecar token for app through s (a token_create
// record) and returns it.
func (c *controlPlane) createToken(s *server, app, name string) token {
	c.t.Helper()
	var tok token
	c.api(s, http.MethodPost, "/v1/tokens", map[string]string{"kind": "sidecar", "name": name, "app": app}, &tok, http.StatusCreated)
	c.secrets["token "+tok.ID] = tok.Secret
	return tok
}

// churn makes 2n admin records through s: n sidecar tokens created and
// revoked (token_create, token_revoke).
func (c *controlPlane) churn(s *server, n int) {
	c.t.Helper()
	for i := range n {
		tok := c.createToken(s, "churn", fmt.Sprintf("churn-%s-%d", s.name, i))
		c.api(s, http.MethodPost, "/v1/tokens/"+tok.ID+"/revoke", nil, nil, http.StatusOK)
	}
}

// failLogins posts n portal logins with an admin token that is not one
// (failed portal_login records); the token typed joins the leak check.
func (c *controlPlane) failLogins(s *server, n int) {
	c.t.Helper()
	for i := range n {
		csrf := random("csrf")
		typed := random("alt_a_wrong")
		c.secrets[fmt.Sprintf("the token typed at failed login %d", i)] = typed
		form := url.Values{"method": {"token"}, "token": {typed}, "csrf": {csrf}}
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/portal/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "alter_portal_login", Value: csrf})
		resp, err := c.client.Do(req)
		if err != nil {
			c.t.Fatalf("portal login on %s: %v", s.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			c.t.Fatalf("portal login with a wrong token on %s: %d, want 401", s.name, resp.StatusCode)
		}
	}
}

// auditIDs are the ids of every record in the audit table, oldest first,
// read page by page through s's API.
func (c *controlPlane) auditIDs(s *server) []string {
	c.t.Helper()
	var ids []string
	cursor := ""
	for {
		var page struct {
			Records []struct {
				ID string `json:"id"`
			} `json:"records"`
			Next string `json:"next"`
		}
		c.api(s, http.MethodGet, "/v1/audit?order=oldest&limit=1000&cursor="+url.QueryEscape(cursor), nil, &page, http.StatusOK)
		for _, r := range page.Records {
			ids = append(ids, r.ID)
		}
		if page.Next == "" {
			return ids
		}
		cursor = page.Next
	}
}

// remoteSidecar is a sidecar on the remote store of s, as app with tok,
// holding a grant of app made through the admin API.
func (c *controlPlane) remoteSidecar(s *server, app string, tok token) *sidecar {
	c.t.Helper()
	sc := initSidecar(c.t)
	tokenFile := filepath.Join(sc.home, "server-token")
	if err := os.WriteFile(tokenFile, []byte(tok.Secret+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	sc.writeConfig(fmt.Sprintf("store:\n  type: remote\n  url: http://%s\n  token_file: %q\n  max_stale: 10s", s.addr, tokenFile), "")
	sc.grant = strings.TrimSpace(c.cli([]string{"ALTER_TOKEN=" + c.admin}, sc.secret, "--home", filepath.Join(c.dir, "cli"), "--server", "http://"+s.addr,
		"secret", "add", "--type", "bearer", "--allow-host", host, "--app", app, "--name", "siem-"+app))
	c.secrets["the credential"] = sc.secret
	return sc
}
