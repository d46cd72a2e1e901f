package serverconfig

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := map[string]string{"DB": "postgres://alter:hunter2@db:5432/alter"}
	getenv := func(k string) string { return env[k] }
	cases := []struct {
		name, yaml string
		want       func(c Config) bool
		wantErr    string
	}{
		{"defaults", "version: 1\n", func(c Config) bool {
			return c.Listen == DefaultListen && c.DatabaseURL == "sqlite:///home/server.db" && c.KeyFile == "/home/master.key" &&
				c.KeyFileIsDefault && c.LogLevel == "info" && c.ShutdownTimeout == DefaultShutdownTimeout && c.DatabaseMaxConns == 0
		}, ""},
		{"everything", `version: 1
listen: 0.0.0.0:443
database_url: postgres://db/alter
database_max_connections: 40
key_file: keys/master.key
tls: {cert: tls/cert.pem, key: tls/key.pem}
log: {level: debug}
shutdown_timeout: 5s
`, func(c Config) bool {
			return c.Listen == "0.0.0.0:443" && c.DatabaseEngine() == "postgres" && c.KeyFile == "/etc/alter/keys/master.key" &&
				!c.KeyFileIsDefault && c.TLSCert == "/etc/alter/tls/cert.pem" && c.TLSKey == "/etc/alter/tls/key.pem" &&
				c.LogLevel == "debug" && c.ShutdownTimeout == 5*time.Second && c.DatabaseMaxConns == 40
		}, ""},
		{"database from the environment", "version: 1\ndatabase_url_env: DB\nkey_env: ALTER_KEY\n", func(c Config) bool {
			return c.DatabaseURL == env["DB"] && c.KeyEnv == "ALTER_KEY" && c.KeyFile == ""
		}, ""},
		{"portal behind a proxy", "version: 1\nportal: {secure_cookies: true, trusted_proxies: [10.0.0.0/8, 192.0.2.7]}\n", func(c Config) bool {
			return c.PortalSecureCookies && len(c.TrustedProxies) == 2 && c.TrustedProxies[0].String() == "10.0.0.0/8" &&
				c.TrustedProxies[1].String() == "192.0.2.7/32"
		}, ""},
		{"sidecar approval", "version: 1\ntokens: {sidecar_approval: true}\n", func(c Config) bool { return c.SidecarApproval }, ""},
		{"internal token endpoint", "version: 1\nmint:\n  resolve: {\"Login.Corp.Example:443\": \"10.20.0.5:8443\"}\n  allow_private: [10.20.0.0/16]\n  ca_file: ca/corp.pem\n",
			func(c Config) bool {
				return c.Mint.Resolve["login.corp.example:443"] == "10.20.0.5:8443" && len(c.Mint.AllowPrivate) == 1 &&
					c.Mint.AllowPrivate[0].String() == "10.20.0.0/16" && c.Mint.CAFile == "/etc/alter/ca/corp.pem"
			}, ""},
		{"mint pin without a port", "version: 1\nmint: {resolve: {login.corp.example: \"10.0.0.1:443\"}}\n", nil, `mint.resolve["login.corp.example"]: the key must be host:port`},
		{"mint pin to a name", "version: 1\nmint: {resolve: {\"login.corp.example:443\": \"idp.internal:443\"}}\n", nil, "must be an IP address and port"},
		{"mint bad range", "version: 1\nmint: {allow_private: [corp]}\n", nil, "mint.allow_private[0]"},
		{"mint unknown key", "version: 1\nmint: {trust_everything: true}\n", nil, "trust_everything"},
		{"audit forwarding and retention", "version: 1\naudit:\n  retention: 400d\n  forward:\n" +
			"    - {name: siem, type: webhook, url: 'https://siem.example/h', secret_file: keys/hook}\n" +
			"    - {name: collector, type: syslog, address: 'syslog.example:6514', tls: true, ca_file: ca/syslog.pem}\n",
			func(c Config) bool {
				f := c.Audit.Forward
				return c.Audit.Retention == 400*24*time.Hour && len(f) == 2 && f[0].Name == "siem" && f[0].SecretFile == "/etc/alter/keys/hook" &&
					f[1].Type == "syslog" && f[1].CAFile == "/etc/alter/ca/syslog.pem" && f[1].TLS
			}, ""},
		{"retention in hours", "version: 1\naudit: {retention: 9600h}\n", func(c Config) bool {
			return c.Audit.Retention == 9600*time.Hour && c.Audit.ForwardLease == DefaultForwardLease
		}, ""},
		{"forward lease", "version: 1\naudit: {forward_lease: 10s}\n", func(c Config) bool { return c.Audit.ForwardLease == 10*time.Second }, ""},
		{"forward lease too short", "version: 1\naudit: {forward_lease: 1s}\n", nil, `audit.forward_lease: "1s" is not a duration from 4s to 1h`},
		{"retention too short", "version: 1\naudit: {retention: 30s}\n", nil, "audit.retention: 30s is shorter than 1h:"},
		{"retention not a duration", "version: 1\naudit: {retention: forever}\n", nil, `audit.retention: "forever" is not a duration`},
		{"forward without a secret", "version: 1\naudit:\n  forward: [{name: siem, type: webhook, url: 'https://siem.example/h'}]\n", nil,
			"audit.forward[0]: needs secret_file or secret_env"},
		{"forward over plain http", "version: 1\naudit:\n  forward: [{name: siem, type: webhook, url: 'http://siem.example/h?token=abc', secret_env: K}]\n", nil,
			"audit.forward[0].url: http is allowed only to a loopback address"},
		{"forward twice the same name", "version: 1\naudit:\n  forward: [{name: s, type: syslog, address: 'a:1'}, {name: s, type: syslog, address: 'b:1'}]\n", nil,
			`audit.forward[1].name: "s" is used twice`},
		{"forward unknown key", "version: 1\naudit:\n  forward: [{name: s, type: syslog, address: 'a:1', topic: x}]\n", nil, "topic"},
		{"bad trusted proxy", "version: 1\nportal: {trusted_proxies: [example.com]}\n", nil, "portal.trusted_proxies[0]"},
		{"relative sqlite", "version: 1\ndatabase_url: sqlite:data/s.db\n", func(c Config) bool {
			return c.DatabaseURL == "sqlite:///etc/alter/data/s.db"
		}, ""},
		{"insecure on all interfaces", "version: 1\nlisten: :8080\ninsecure: true\n", func(c Config) bool { return c.Insecure }, ""},
		{"localhost", "version: 1\nlisten: localhost:9000\n", nil, ""},
		{"admin listener", "version: 1\nadmin_listen: 0.0.0.0:9091\n", func(c Config) bool { return c.AdminListen == "0.0.0.0:9091" }, ""},
		{"no admin listener by default", "version: 1\n", func(c Config) bool { return c.AdminListen == "" }, ""},
		{"admin listener without a port", "version: 1\nadmin_listen: 127.0.0.1\n", nil, `admin_listen: "127.0.0.1" is not host:port`},
		{"admin listener on a name", "version: 1\nadmin_listen: metrics.internal:9091\n", nil, "admin_listen: \"metrics.internal:9091\": listen on an IP address"},
		{"admin listener bad port", "version: 1\nadmin_listen: 127.0.0.1:99999\n", nil, "admin_listen: \"127.0.0.1:99999\" has an invalid port"},
		{"admin listener on the API's address", "version: 1\nlisten: 127.0.0.1:8443\nadmin_listen: 127.0.0.1:8443\n", nil, "admin_listen: 127.0.0.1:8443 is the API's listen address"},
		{"ipv6 loopback", "version: 1\nlisten: '[::1]:9000'\n", nil, ""},

		{"empty", "", nil, "empty"},
		{"no version", "listen: 127.0.0.1:1\n", nil, "version: required"},
		{"version 2", "version: 2\n", nil, "version: 2"},
		{"unknown key", "version: 1\nlisten_addr: x\n", nil, "listen_addr"},
		{"two documents", "version: 1\n---\nversion: 1\n", nil, "more than one"},
		{"plain http on all interfaces", "version: 1\nlisten: 0.0.0.0:8443\n", nil, "listen: 0.0.0.0:8443 is not a loopback"},
		{"plain http on empty host", "version: 1\nlisten: :8443\n", nil, "not a loopback"},
		{"plain http on a name", "version: 1\nlisten: alter.internal:8443\n", nil, "not a loopback"},
		{"bad listen", "version: 1\nlisten: nowhere\n", nil, "listen"},
		{"cert without key", "version: 1\ntls: {cert: c.pem}\n", nil, "tls.cert and tls.key"},
		{"both database keys", "version: 1\ndatabase_url: sqlite:a.db\ndatabase_url_env: DB\n", nil, "database_url and database_url_env"},
		{"unset database env", "version: 1\ndatabase_url_env: NOPE\n", nil, "NOPE"},
		{"mysql", "version: 1\ndatabase_url: mysql://root:pw@db/alter\n", nil, `scheme "mysql"`},
		{"both key sources", "version: 1\nkey_file: k\nkey_env: K\n", nil, "key_file and key_env"},
		{"negative pool", "version: 1\ndatabase_max_connections: -1\n", nil, "database_max_connections"},
		{"huge pool", "version: 1\ndatabase_max_connections: 100000\n", nil, "database_max_connections"},
		{"bad level", "version: 1\nlog: {level: loud}\n", nil, "log.level"},
		{"bad shutdown", "version: 1\nshutdown_timeout: 0s\n", nil, "shutdown_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "/home", "/etc/alter", getenv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "token=abc") {
					t.Fatalf("error shows a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !tc.want(c) {
				t.Fatalf("config %+v", c)
			}
			if strings.Contains(c.String(), "hunter2") || strings.Contains(c.String(), "postgres://") {
				t.Fatalf("String shows the database address: %s", c)
			}
		})
	}
}

// server.example.yaml at the repository root parses, and documents every
// key the file format has.
func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 4 * time.Second: "4s", 10 * time.Second: "10s",
		90 * time.Minute: "1h30m", 100 * time.Hour: "100h", 61 * time.Second: "1m1s", 20 * time.Minute: "20m"} {
		if got := short(d); got != want {
			t.Errorf("short(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../server.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(data, "/home", "/etc/alter", func(string) string { return "" }); err != nil {
		t.Fatalf("server.example.yaml: %v", err)
	}
	var keys []string
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			keys = append(keys, strings.Split(f.Tag.Get("yaml"), ",")[0])
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(wire{}))
	for _, k := range keys {
		if !strings.Contains(string(data), k+":") {
			t.Errorf("server.example.yaml does not mention %s", k)
		}
	}
}
