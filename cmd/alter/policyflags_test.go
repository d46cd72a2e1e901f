package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/alter-sidecar/alter/policy"
)

func TestPolicyFlagsBuild(t *testing.T) {
	now := time.Date(2026, 6, 3, 12, 0, 0, 0, time.UTC)
	base := policy.Spec{Destinations: []string{"api.example.com"}, Methods: []string{"PUT"}}
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, s policy.Spec, expiry *time.Time)
		wantErr string
	}{
		{"nothing given keeps base", nil, func(t *testing.T, s policy.Spec, x *time.Time) {
			if x != nil || strings.Join(s.Methods, ",") != "PUT" || s.Destinations[0] != "api.example.com" {
				t.Fatalf("%+v %v", s, x)
			}
		}, ""},
		{"every rule", []string{"--methods", "get,post", "--path-prefix", "/v1", "--path-prefix", "/v2",
			"--window", "Sat,Sun 10:00-12:00 UTC", "--allow-ip", "10.0.0.0/8", "--allow-ip", "::1", "--not-before", "2026-06-01T00:00:00Z",
			"--allow-actor", "billing", "--allow-actor", "search"},
			func(t *testing.T, s policy.Spec, _ *time.Time) {
				if strings.Join(s.Methods, ",") != "get,post" || len(s.PathPrefixes) != 2 || s.Windows[0] != "Sat,Sun 10:00-12:00 UTC" ||
					len(s.SourceCIDRs) != 2 || strings.Join(s.Actors, ",") != "billing,search" || s.NotBefore == nil {
					t.Fatalf("%+v", s)
				}
			}, ""},
		{"ttl", []string{"--ttl", "90m"}, func(t *testing.T, _ policy.Spec, x *time.Time) {
			if x == nil || !x.Equal(now.Add(90*time.Minute)) {
				t.Fatalf("expiry %v", x)
			}
		}, ""},
		{"not-after", []string{"--not-after", "2026-07-01T00:00:00+02:00"}, func(t *testing.T, _ policy.Spec, x *time.Time) {
			if x == nil || !x.Equal(time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC)) {
				t.Fatalf("expiry %v", x)
			}
		}, ""},
		{"ttl and not-after", []string{"--ttl", "1h", "--not-after", "2026-07-01T00:00:00Z"}, nil, "not both"},
		{"zero ttl", []string{"--ttl", "0s"}, nil, "positive"},
		{"not-after in the past", []string{"--not-after", "2026-01-01T00:00:00Z"}, nil, "not in the future"},
		{"not-after not rfc3339", []string{"--not-after", "tomorrow"}, nil, "RFC 3339"},
		{"bad window", []string{"--window", "Mon-Fri 9-17"}, nil, "windows[0]"},
		{"bad cidr", []string{"--allow-ip", "10.0.0.0/40"}, nil, "source_cidrs[0]"},
		{"bad method", []string{"--methods", "GET,"}, nil, "methods[1]"},
		{"actor with colon", []string{"--allow-actor", "billing", "--allow-actor", "billing:pass"}, nil, "actors[1]"},
		{"empty actor", []string{"--allow-actor", ""}, nil, "actors[0]"},
		{"actor with space", []string{"--allow-actor", "bill ing"}, nil, "actors[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f := addPolicyFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			spec, expiry, err := f.build(base, now)
			if tt.wantErr != "" {
				var ue usageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue) {
					t.Fatalf("build: %v, want a usage error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, spec, expiry)
		})
	}
	t.Run("inherited destinations are allowed empty", func(t *testing.T) {
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		f := addPolicyFlags(fs)
		_ = fs.Parse([]string{"--methods", "GET"})
		if _, _, err := f.build(policy.Spec{}, now); err != nil {
			t.Fatal(err)
		}
	})
}
