package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/internal/testdb"
)

// cluster is a control plane on one database: replicas that share the
// master key, the tokens made for them and the sidecars that use them.
type cluster struct {
	t        *testing.T
	dir      string
	dbURL    string
	keyFile  string // one keyring for every replica
	admin    string // admin token
	up       *upstream
	replicas map[string]*proc
	// resolve adds upstream.resolve entries to the sidecars' configs.
	resolve map[string]string
	// serverExtra is appended to every replica's config (YAML).
	serverExtra string
}

var (
	serverReady  = regexp.MustCompile(`listening on (\S+)`)
	sidecarReady = regexp.MustCompile(`listening on (\S+) \(admin (\S+)\)`)
)

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), dbURL: testdb.Postgres(t), up: startUpstream(t), replicas: map[string]*proc{}}
	// The first replica's home makes the keyring; the others are given it.
	c.keyFile = filepath.Join(c.dir, "server-key")
	c.must(run(context.Background(), "", nil, "--home", filepath.Join(c.dir, "keygen"), "init"))
	data, err := os.ReadFile(filepath.Join(c.dir, "keygen", "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.must(run(context.Background(), "", nil, "--home", filepath.Join(c.dir, "keygen"),
		"server", "--config", c.serverConfig("bootstrap"), "token", "create", "--kind", "admin", "--name", "e2e-operator"))
	c.admin = strings.TrimSpace(out)
	return c
}

func (c *cluster) must(out string, err error) string {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// serverConfig writes a replica's config file and returns its path.
func (c *cluster) serverConfig(name string) string {
	path := filepath.Join(c.dir, name+"-server.yaml")
	cfg := fmt.Sprintf("version: 1\nlisten: 127.0.0.1:0\ndatabase_url: %q\nkey_file: %q\nlog: {level: info}\n", c.dbURL, c.keyFile) + c.serverExtra
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// startReplica starts (or restarts) replica name.
func (c *cluster) startReplica(name string) *proc {
	c.t.Helper()
	p := start(c.t, "replica "+name, serverReady, nil,
		"--home", filepath.Join(c.dir, "home-"+name), "server", "--config", c.serverConfig(name))
	c.replicas[name] = p
	return p
}

func (c *cluster) url(replica string) string { return "http://" + c.replicas[replica].addr }

// alter runs an admin command against a replica.
func (c *cluster) alter(replica, stdin string, args ...string) (string, error) {
	return run(context.Background(), stdin, []string{"ALTER_TOKEN=" + c.admin},
		append([]string{"--home", filepath.Join(c.dir, "cli"), "--server", c.url(replica)}, args...)...)
}

// sidecarToken makes a sidecar token for app through a replica.
func (c *cluster) sidecarToken(app, name string) string {
	c.t.Helper()
	out := c.must(run(context.Background(), "", nil, "--home", filepath.Join(c.dir, "keygen"),
		"server", "--config", c.serverConfig("bootstrap"), "token", "create", "--kind", "sidecar", "--app", app, "--name", name))
	return strings.TrimSpace(out)
}

// sidecar is one alter proxy on the remote store.
type sidecar struct {
	*proc
	home, cfg string
	client    *http.Client
}

// startSidecar starts a sidecar for app on replica with the given token.
func (c *cluster) startSidecar(name, replica, token string, maxStale time.Duration) *sidecar {
	c.t.Helper()
	home := filepath.Join(c.dir, "sidecar-"+name)
	c.must(run(context.Background(), "", nil, "--home", home, "init"))
	tokenFile := filepath.Join(home, "server-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	cfg := filepath.Join(home, "config.yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nidentity: %s\nlisten: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n", name)
	fmt.Fprintf(&b, "store:\n  type: remote\n  url: %s\n  token_file: %q\n  max_stale: %s\n  cache: {size: 100, ttl: 1m}\n", c.url(replica), tokenFile, maxStale)
	fmt.Fprintf(&b, "mitm: {ca_cert: %q, ca_key: %q}\n", filepath.Join(home, "ca.pem"), filepath.Join(home, "ca-key.pem"))
	fmt.Fprintf(&b, "upstream:\n  ca_file: %q\n  resolve: {\"%s:443\": %q", c.up.caFile, upstreamHost, c.up.srv.Listener.Addr().String())
	for k, v := range c.resolve {
		fmt.Fprintf(&b, ", %q: %q", k, v)
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "audit: {path: %q, durable: true}\n", filepath.Join(home, "audit.log"))
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
	s := &sidecar{home: home, cfg: cfg}
	c.runSidecar(s, name)
	return s
}

// runSidecar starts (or restarts, with the same home and config) s.
func (c *cluster) runSidecar(s *sidecar, name string) {
	c.t.Helper()
	s.proc = start(c.t, "sidecar "+name, sidecarReady, nil, "--home", s.home, "proxy", "--config", s.cfg)
	s.proc.name = name
	proxyURL, _ := url.Parse("http://" + s.addr)
	s.client = &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), DisableKeepAlives: true},
		Timeout:   10 * time.Second,
	}
}

// use sends one request with grant through the sidecar (plain http: the
// grant allows https only, so the sidecar goes upstream over TLS) and
// returns the status and the proxy's error code.
func (s *sidecar) use(grant string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+upstreamHost+"/v1/invoices", nil)
	req.Header.Set("X-Alter-Grant", grant)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Alter-Error")
}

// restartReplica starts a stopped replica again on the address it had, so
// the sidecars configured with it find it.
func (c *cluster) restartReplica(name string) {
	c.t.Helper()
	old := c.replicas[name]
	p := start(c.t, "replica "+name+" (restarted)", serverReady, nil,
		"--home", filepath.Join(c.dir, "home-"+name), "server", "--config", c.serverConfig(name), "--listen", old.addr)
	c.replicas[name] = p
}

// metric returns the value of an unlabelled metric on the sidecar's admin
// listener, or "" if it has none.
func (s *sidecar) metric(t *testing.T, name string) string {
	t.Helper()
	return testbin.Metric(t, s.admin, name)
}
