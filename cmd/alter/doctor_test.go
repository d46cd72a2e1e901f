package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCAExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		notAfter  time.Time
		wantLevel string
		wantMsg   string
	}{
		{"years left", now.AddDate(5, 0, 0), levelOK, "(1826 days)"},
		{"just over 30 days", now.Add(caWarnBefore + time.Hour), levelOK, "(30 days)"},
		{"under 30 days", now.Add(caWarnBefore - time.Hour), levelWarn, "expires in 29 day(s)"},
		{"expired", now.Add(-time.Second), levelFail, "expired on 2025-12-31T23:59:59Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			level, msg := caExpiry(tc.notAfter, now)
			if level != tc.wantLevel || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("caExpiry = %s %q, want %s and %q", level, msg, tc.wantLevel, tc.wantMsg)
			}
		})
	}
}

// TestDoctorWithRunningProxy: against a running proxy every check passes
// and the exit status is 0.
func TestDoctorWithRunningProxy(t *testing.T) {
	e := startBinEnv(t)
	const token = "tok-doctor-sentinel-71"
	if _, err := e.alter(token, "secret", "add", "--type", "bearer", "--allow-host", "api.example.test"); err != nil {
		t.Fatal(err)
	}
	// The proxy's config has port 0; doctor needs the ports it got.
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(cfg), "listen: 127.0.0.1:0", "listen: "+strings.TrimPrefix(e.proxyURL, "http://"), 1)
	text = strings.Replace(text, "admin_listen: 127.0.0.1:0", "admin_listen: "+strings.TrimPrefix(e.adminURL, "http://"), 1)
	path := filepath.Join(t.TempDir(), "doctor.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(e.bin, "--home", e.home, "doctor", "--config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ok    proxy: " + strings.TrimPrefix(e.proxyURL, "http://") + " (listen) accepts connections",
		fmt.Sprintf("ok    admin: GET /healthz on %s: ok", strings.TrimPrefix(e.adminURL, "http://")),
		"ok    admin: GET /readyz on " + strings.TrimPrefix(e.adminURL, "http://") + ": ready",
		"ok    dns api.example.test:443: pinned to 127.0.0.1:",
		"ok    store: " + e.home + "/grants.json: 1 grant(s), 1 active",
		"doctor: 8 ok, 0 warn, 0 FAIL, 0 skip",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), token) {
		t.Errorf("doctor printed the secret:\n%s", out)
	}
}
