package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// buildTime may be set at link time (-ldflags "-X main.buildTime=2026-01-02T15:04:05Z");
// the Go toolchain records no build time of its own.
var buildTime string

// buildInfo is what `alter version` reports, gathered once from the
// binary's embedded build information.
type buildInfo struct {
	Module    string // module path
	Version   string // module version: a tag, a pseudo-version, or "(devel)"
	Revision  string // VCS commit; "" when the build was not stamped
	Modified  string // "true" or "false"; "" when not stamped
	Committed string // the commit's time (RFC 3339); "" when not stamped
	Built     string // when the binary was built, and how that is known
	Go        string // toolchain and platform
}

// readBuildInfo fills a buildInfo from runtime/debug. exe is the running
// binary's path, whose modification time stands in for the build time
// when none was linked in.
func readBuildInfo(bi *debug.BuildInfo, ok bool, exe string) buildInfo {
	out := buildInfo{Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if ok && bi != nil {
		out.Module, out.Version = bi.Main.Path, bi.Main.Version
		if bi.GoVersion != "" {
			out.Go = bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				out.Revision = s.Value
			case "vcs.modified":
				out.Modified = s.Value
			case "vcs.time":
				out.Committed = s.Value
			}
		}
	}
	switch {
	case buildTime != "":
		out.Built = buildTime
	case exe != "":
		if fi, err := os.Stat(exe); err == nil {
			out.Built = fi.ModTime().UTC().Format(time.RFC3339) + " (modification time of " + exe + ")"
		}
	}
	return out
}

// String renders the report: the version on the first line, then one
// "key: value" line each.
func (b buildInfo) String() string {
	var sb strings.Builder
	version := b.Version
	switch version {
	case "", "(devel)":
		version = "(devel): built from source (go run or go build) without a version"
	}
	fmt.Fprintf(&sb, "alter %s\n", version)
	row := func(k, v string) { fmt.Fprintf(&sb, "%-10s %s\n", k+":", v) }
	row("module", orUnknown(b.Module))
	if b.Revision == "" {
		row("revision", "unknown (no VCS stamp: built outside a git clone, from a module download, or with -buildvcs=false)")
	} else {
		rev := b.Revision
		switch b.Modified {
		case "true":
			rev += " (modified: built with uncommitted changes)"
		case "false":
			rev += " (clean)"
		}
		row("revision", rev)
		row("committed", orUnknown(b.Committed))
	}
	row("built", orUnknown(b.Built))
	row("go", b.Go)
	return sb.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// currentBuild is the running binary's buildInfo.
func currentBuild() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	exe, _ := os.Executable()
	return readBuildInfo(bi, ok, exe)
}

// versionCommand is `alter version`; `alter --version` prints the same.
func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and build time of this binary",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprint(a.stdout, currentBuild())
			return err
		},
	}
}
