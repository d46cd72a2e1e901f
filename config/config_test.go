package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRenderRoundTrips(t *testing.T) {
	home := t.TempDir()
	want := Default(home)
	got, err := Parse(Render(want), home, home)
	if err != nil {
		t.Fatalf("Parse(Render(Default)): %v\n%s", err, Render(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the config:\n got %+v\nwant %+v", got, want)
	}
}

func TestExampleFileLoads(t *testing.T) {
	home := t.TempDir()
	cfg, err := Load(filepath.Join("..", "config.example.yaml"), home)
	if err != nil {
		t.Fatalf("config.example.yaml does not load: %v", err)
	}
	userHome, _ := os.UserHomeDir()
	if cfg.Store.Path != filepath.Join(userHome, ".alter", "grants.json") {
		t.Fatalf("~ not expanded: %s", cfg.Store.Path)
	}
	if !cfg.MITM.Hosts.Auto || cfg.Upstream.DialTimeout != 10*time.Second {
		t.Fatalf("unexpected values: %+v", cfg)
	}
}

func TestParseValues(t *testing.T) {
	home := t.TempDir()
	cfg, err := Parse([]byte(`
version: 1
store: {path: data/grants.json, cache: {size: 5, ttl: 1m}}
mitm: {hosts: [api.example.com, "*.example.net"]}
passthrough: deny
upstream:
  resolve: {"API.Example.com.:443": "127.0.0.1:8443"}
  allow_private: [10.1.0.0/16, 192.168.1.7]
  http2: true
`), home, "/etc/alter")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Path != "/etc/alter/data/grants.json" {
		t.Errorf("relative path not resolved against the file's directory: %s", cfg.Store.Path)
	}
	if cfg.Store.KeyFile != filepath.Join(home, "master.key") {
		t.Errorf("left-out key took no default: %s", cfg.Store.KeyFile)
	}
	if cfg.Store.Cache.Size != 5 || cfg.Store.Cache.TTL != time.Minute {
		t.Errorf("cache = %+v", cfg.Store.Cache)
	}
	if got := cfg.MITM.Hosts.List; len(got) != 2 || cfg.MITM.Hosts.Auto {
		t.Errorf("hosts = %+v", cfg.MITM.Hosts)
	}
	if cfg.Upstream.Resolve["api.example.com:443"] != "127.0.0.1:8443" {
		t.Errorf("resolve key not normalised: %v", cfg.Upstream.Resolve)
	}
	if len(cfg.Upstream.AllowPrivate) != 2 || cfg.Upstream.AllowPrivate[1].String() != "192.168.1.7/32" {
		t.Errorf("allow_private = %v", cfg.Upstream.AllowPrivate)
	}
	if !cfg.Upstream.HTTP2 {
		t.Errorf("upstream.http2 not read")
	}
	if Default(home).Upstream.HTTP2 {
		t.Errorf("upstream.http2 is on by default")
	}
	if cfg.Audit.AdminPath != filepath.Join(home, "admin-audit.log") {
		t.Errorf("audit.admin_path default: %s", cfg.Audit.AdminPath)
	}
	cfg, err = Parse([]byte("version: 1\naudit: {admin_path: logs/admin.log}\n"), home, "/etc/alter")
	if err != nil || cfg.Audit.AdminPath != "/etc/alter/logs/admin.log" {
		t.Errorf("audit.admin_path relative to the file: %q %v", cfg.Audit.AdminPath, err)
	}
}

// TestBrokenConfigs loads every file in testdata/broken and checks that the
// error names the key (the fixture's first line says which text to expect).
func TestBrokenConfigs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	if len(files) < 10 {
		t.Fatalf("expected the broken-config fixtures, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			first, _, _ := strings.Cut(string(data), "\n")
			want := strings.TrimSpace(strings.TrimPrefix(first, "# want:"))
			_, err := Load(f, t.TempDir())
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), f) {
				t.Fatalf("error %q does not name %q and the file", err, want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"version: 1\n", "version: 1\nlisten: 1.2.3.4:5\n", "version: 2", "mitm: {hosts: all}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		cfg, err := Parse([]byte(doc), "/home/x", "/etc")
		if err != nil {
			return
		}
		if cfg.Version != Version || cfg.Store.Path == "" || cfg.Listen == "" {
			t.Fatalf("accepted an incomplete config: %+v", cfg)
		}
	})
}

func TestRemoteStore(t *testing.T) {
	home := t.TempDir()
	cfg, err := Parse([]byte(`
version: 1
store:
  type: remote
  url: https://alter.example.com:8443/
  token_file: secrets/sidecar.token
  ca_file: secrets/ca.pem
  cache: {size: 50, ttl: 30s}
audit: {path: audit.log, durable: true}
`), home, "/etc/alter")
	if err != nil {
		t.Fatal(err)
	}
	want := Store{Type: StoreRemote, URL: "https://alter.example.com:8443/", TokenFile: "/etc/alter/secrets/sidecar.token",
		CAFile: "/etc/alter/secrets/ca.pem", MaxStale: DefaultMaxStale, Cache: Cache{Size: 50, TTL: 30 * time.Second}}
	if !reflect.DeepEqual(cfg.Store, want) {
		t.Fatalf("store = %+v\nwant    %+v", cfg.Store, want)
	}
	// Render round-trips a remote store too.
	back, err := Parse(Render(cfg), home, home)
	if err != nil {
		t.Fatalf("%v\n%s", err, Render(cfg))
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Fatalf("round trip changed the config:\n got %+v\nwant %+v", back.Store, cfg.Store)
	}
}

// A webhook URL can be a secret (Slack's are): no error repeats it.
func TestApprovalsWebhookURLNeverInErrors(t *testing.T) {
	_, err := Parse([]byte("version: 1\napprovals:\n  notify:\n    url: http://hooks.example.com/XXXXSECRET\n    secret_env: K\n"), "/home/x", "/etc")
	if err == nil || strings.Contains(err.Error(), "XXXXSECRET") {
		t.Fatalf("error %v", err)
	}
	cfg, err := Parse([]byte("version: 1\napprovals:\n  hold: 0s\n  notify:\n    url: https://hooks.example.com/x\n    secret_env: K\n"), "/home/x", "/etc")
	if err != nil || cfg.Approvals.Hold != 0 || cfg.Approvals.Expire != time.Hour || cfg.Approvals.Notify.SecretEnv != "K" {
		t.Fatalf("%+v, %v", cfg.Approvals, err)
	}
}
