package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestAuditForward(t *testing.T) {
	home := t.TempDir()
	const head = "version: 1\naudit:\n  path: audit.log\n  durable: true\n"
	for _, tc := range []struct {
		name, yaml string
		bad        string // a key the error must name; "" means valid
	}{
		{"webhook", head + "  forward:\n    - {name: siem, type: webhook, url: 'https://siem.example.com/h/tok', secret_env: K}\n", ""},
		{"syslog tcp", head + "  forward:\n    - {name: c1, type: syslog, address: '127.0.0.1:514'}\n", ""},
		{"syslog tls client cert", head + "  forward:\n    - {name: c1, type: syslog, address: 'log.example.com:6514', tls: true, ca_file: ca.pem, cert_file: c.pem, secret_file: k.pem}\n", ""},
		{"rotation kept", head + "  max_size: 1MiB\n  max_files: 5\n", ""},
		{"webhook without secret", head + "  forward:\n    - {name: siem, type: webhook, url: 'https://siem.example.com/h'}\n", "audit.forward[0]"},
		{"webhook plain http", head + "  forward:\n    - {name: siem, type: webhook, url: 'http://siem.example.com/h', secret_env: K}\n", "audit.forward[0].url"},
		{"both secrets", head + "  forward:\n    - {name: siem, type: webhook, url: 'https://s.example.com/', secret_env: K, secret_file: f}\n", "audit.forward[0]"},
		{"unknown type", head + "  forward:\n    - {name: x, type: kafka}\n", "audit.forward[0].type"},
		{"bad name", head + "  forward:\n    - {name: '../x', type: syslog, address: 'a:1'}\n", "audit.forward[0].name"},
		{"twice", head + "  forward:\n    - {name: x, type: syslog, address: 'a:1'}\n    - {name: x, type: syslog, address: 'b:1'}\n", "audit.forward[1].name"},
		{"syslog no port", head + "  forward:\n    - {name: x, type: syslog, address: 'a'}\n", "audit.forward[0].address"},
		{"key without tls", head + "  forward:\n    - {name: x, type: syslog, address: 'a:1', cert_file: c.pem, secret_env: K}\n", "audit.forward[0]"},
		{"cert without key", head + "  forward:\n    - {name: x, type: syslog, address: 'a:1', tls: true, cert_file: c.pem}\n", "audit.forward[0]"},
		{"not durable", "version: 1\naudit:\n  path: audit.log\n  forward:\n    - {name: x, type: syslog, address: 'a:1'}\n", "audit.forward"},
		{"max_files without rotation", head + "  max_files: 3\n", "audit.max_files"},
		{"negative max_files", head + "  max_size: 1MiB\n  max_files: -1\n", "audit.max_files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), home, home)
			if tc.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				back, err := Parse(Render(c), home, home)
				if err != nil || !reflect.DeepEqual(back.Audit, c.Audit) {
					t.Fatalf("render round trip: %v\n%+v\n%+v", err, back.Audit, c.Audit)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("err = %v, want one naming %s", err, tc.bad)
			}
			if strings.Contains(err.Error(), "siem.example.com") {
				t.Fatalf("the error repeats the URL: %v", err)
			}
		})
	}
	c, err := Parse([]byte(head+"  forward:\n    - {name: c1, type: syslog, address: 'a:1', tls: true, ca_file: ca.pem}\n"), home, home)
	if err != nil || c.Audit.Forward[0].CAFile != filepath.Join(home, "ca.pem") {
		t.Fatalf("ca_file not resolved against the home: %v %+v", err, c.Audit.Forward)
	}
}
