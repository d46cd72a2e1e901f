package forward

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetSecretErrors: a secret that cannot be loaded names the key
// and never quotes what it read.
func TestTargetSecretErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("tiny"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALTER_FWD_EMPTY", "")
	hook := Config{Name: "siem", Type: TypeWebhook, URL: "https://siem.example/h"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"env unset", func(c *Config) { c.SecretEnv = "ALTER_FWD_EMPTY" }, "audit.forward[0].secret_env"},
		{"file missing", func(c *Config) { c.SecretFile = filepath.Join(dir, "nope") }, "audit.forward[0].secret_file"},
		{"too short", func(c *Config) { c.SecretFile = short }, "shorter"},
		{"no secret", func(*Config) {}, "no secret_env or secret_file"},
		{"unknown type", func(c *Config) { c.Type = "kafka"; c.SecretFile = short }, "audit.forward[0].type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := hook
			tc.edit(&c)
			_, err := Targets("audit.forward", []Config{c})
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "tiny") {
				t.Fatalf("err = %v, want it to name %q and not quote the secret", err, tc.want)
			}
		})
	}
}

func TestConfigStringHidesTheURLsPath(t *testing.T) {
	c := Config{Name: "siem", Type: TypeWebhook, URL: "https://siem.example/hook/tok3n?key=s3cret", SecretFile: "/k"}
	if s := c.String(); strings.Contains(s, "tok3n") || strings.Contains(s, "s3cret") || !strings.Contains(s, "siem.example") {
		t.Fatalf("String() = %q", s)
	}
	if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "tok3n") {
		t.Fatalf("formatted: %q", s)
	}
}
