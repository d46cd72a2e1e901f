package main

import (
	"os/exec"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildInfoReport(t *testing.T) {
	buildTime = ""
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want []string
	}{
		{"go run (devel, no VCS stamp)", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/alter-sidecar/alter", Version: "(devel)"}},
			[]string{"alter (devel): built from source", "module:    github.com/alter-sidecar/alter", "revision:  unknown (no VCS stamp", "go:        go1.26.8"}},
		{"go install @v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/alter-sidecar/alter", Version: "v1.2.3"}},
			[]string{"alter v1.2.3\n", "revision:  unknown"}},
		{"go build in a modified clone", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/alter-sidecar/alter", Version: "v0.0.0-20260102150405-0123456789ab+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-01-02T15:04:05Z"}}},
			[]string{"alter v0.0.0-20260102150405-0123456789ab+dirty\n", "revision:  0123456789abcdef (modified: built with uncommitted changes)", "committed: 2026-01-02T15:04:05Z"}},
		{"clean", &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			[]string{"revision:  abc (clean)", "committed: unknown", "module:    unknown"}},
		{"no build info", nil, []string{"alter (devel)", "module:    unknown", "built:     unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readBuildInfo(tc.bi, tc.bi != nil, "").String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("report lacks %q:\n%s", w, got)
				}
			}
		})
	}
	t.Run("linked build time wins", func(t *testing.T) {
		buildTime = "2026-03-04T05:06:07Z"
		defer func() { buildTime = "" }()
		if got := readBuildInfo(nil, false, "").String(); !strings.Contains(got, "built:     2026-03-04T05:06:07Z\n") {
			t.Errorf("report:\n%s", got)
		}
	})
}

// TestVersionOfBuiltBinary: the built binary reports what the toolchain
// recorded in it, as `go version -m` reads it.
func TestVersionOfBuiltBinary(t *testing.T) {
	bin := alterBinary(t)
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	flag, err := exec.Command(bin, "--version").Output()
	if err != nil || string(flag) != string(out) {
		t.Fatalf("--version printed %q (%v), version printed %q", flag, err, out)
	}
	report := string(out)
	mod := regexp.MustCompile(`(?m)^\tmod\t(\S+)\t(\S+)`).FindStringSubmatch(string(meta))
	if mod == nil || !strings.Contains(report, "module:    "+mod[1]+"\n") || !strings.Contains(report, mod[2]) {
		t.Errorf("module line does not match go version -m:\n%s\n%s", meta, report)
	}
	if rev := regexp.MustCompile(`(?m)^\tbuild\tvcs\.revision=(\S+)`).FindStringSubmatch(string(meta)); rev != nil {
		if !strings.Contains(report, "revision:  "+rev[1]) {
			t.Errorf("revision %s missing:\n%s", rev[1], report)
		}
	} else if !strings.Contains(report, "revision:  unknown") {
		t.Errorf("no VCS stamp, yet the report names a revision:\n%s", report)
	}
	if !regexp.MustCompile(`(?m)^built: +\d{4}-\d\d-\d\dT`).MatchString(report) {
		t.Errorf("no build time:\n%s", report)
	}
}
