package forward

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetsAttackNothingHalfBuilt: of several entries, one that cannot
// be built fails them all, so a server never starts forwarding to some
// SIEMs and silently not to another; and the error names the entry by
// key, never quoting a secret it read or the URL (which may carry a
// token).
func TestTargetsAttackNothingHalfBuilt(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "hook")
	const secret = "an-hmac-key-long-enough-0123456789"
	if err := os.WriteFile(key, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "client.key")
	if err := os.WriteFile(notPEM, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	good := Config{Name: "siem", Type: TypeWebhook, URL: "https://siem.example/h?token=url-s3cr3t", SecretFile: key}
	for _, tc := range []struct {
		name string
		bad  Config
		want string
	}{
		{"a syslog CA file missing", Config{Name: "c", Type: TypeSyslog, Address: "syslog.example:6514", TLS: true,
			CAFile: filepath.Join(dir, "nope.pem")}, "audit.forward[1].ca_file"},
		{"a client key that is not one", Config{Name: "c", Type: TypeSyslog, Address: "syslog.example:6514", TLS: true,
			CAFile: "", CertFile: key, SecretFile: notPEM}, "audit.forward[1]"},
		{"a webhook secret unset", Config{Name: "w", Type: TypeWebhook, URL: "https://siem.example/h?token=url-s3cr3t",
			SecretEnv: "ALTER_FWD_ATTACK_UNSET"}, "audit.forward[1].secret_env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			targets, err := Targets("audit.forward", []Config{good, tc.bad})
			if err == nil || len(targets) != 0 {
				t.Fatalf("%d targets built, err %v: want none and an error", len(targets), err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to name %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "url-s3cr3t") {
				t.Fatal("the error quotes a secret or the URL")
			}
		})
	}
}
