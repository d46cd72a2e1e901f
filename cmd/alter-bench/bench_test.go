//go:build !windows

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// TestMain lets the test binary play the proxy child: run re-executes
// os.Executable(), which under go test is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == childCommand {
		os.Exit(childMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// The smoke tests check that the report is complete and consistent, never
// how fast anything was: this machine is shared and its timing is noise.

func TestSmokeJSONReport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a proxy child and runs load")
	}
	var out, errb bytes.Buffer
	if code := cliMain([]string{"--smoke", "--json", "--scenarios", "a,d"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errb.String())
	}
	checkProgress(t, errb.String())
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	var rep report
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}

	m := rep.Machine
	if m.GOMAXPROCS < 1 || m.NumCPU < 1 || m.CPUModel == "" || m.GoVersion != runtime.Version() {
		t.Errorf("machine facts incomplete: %+v", m)
	}
	if rep.Settings.Rounds != 1 || len(rep.Settings.Modes) != 2 {
		t.Errorf("smoke settings: %+v", rep.Settings)
	}
	if rep.ProxyPeakRSSKB <= 0 {
		t.Errorf("proxy peak RSS %d", rep.ProxyPeakRSSKB)
	}

	want := map[string]bool{}
	for _, s := range []string{"a", "d"} {
		for _, c := range []string{"1", "4"} {
			for _, mode := range []string{modeClosed, modeOpen} {
				want[s+"/"+c+"/"+mode] = true
			}
		}
	}
	for _, c := range rep.Cells {
		key := c.Scenario + "/" + itoa(c.Concurrency) + "/" + c.Mode
		if !want[key] {
			t.Errorf("unexpected or repeated cell %s", key)
			continue
		}
		delete(want, key)
		t.Run(key, func(t *testing.T) { checkCell(t, c) })
	}
	for key := range want {
		t.Errorf("missing cell %s", key)
	}
}

func checkCell(t *testing.T, c cell) {
	if len(c.Rounds) != 1 {
		t.Errorf("%d rounds, want 1", len(c.Rounds))
	}
	for name, l := range map[string]legStats{"direct": c.Direct, "proxy": c.Proxy} {
		if l.OK == 0 || l.Errors != 0 || l.FirstError != "" {
			t.Errorf("%s: ok %d, errors %d (%s)", name, l.OK, l.Errors, l.FirstError)
		}
		if l.RPS <= 0 || l.P50Ms <= 0 || l.P50Ms > l.P99Ms || l.P99Ms > l.P999Ms {
			t.Errorf("%s: rate or percentiles inconsistent: %+v", name, l)
		}
	}
	if c.ThroughputRatio <= 0 || c.ProxyCPUPerReqUs < 0 || c.ProxyPeakRSSKB <= 0 {
		t.Errorf("summary: ratio %v, cpu %v µs, peak %d KiB", c.ThroughputRatio, c.ProxyCPUPerReqUs, c.ProxyPeakRSSKB)
	}
	if (c.Mode == modeOpen) != (c.RateRPS > 0) {
		t.Errorf("mode %s with rate %v", c.Mode, c.RateRPS)
	}
}

func TestSmokeTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a proxy child and runs load")
	}
	var out, errb bytes.Buffer
	args := []string{"--smoke", "--scenarios", "b,e", "--concurrency", "2", "--mode", "closed", "--audit", "devnull"}
	if code := cliMain(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errb.String())
	}
	checkProgress(t, errb.String())
	lines := strings.Split(out.String(), "\n")
	if !strings.Contains(lines[0], "ratio") || !strings.Contains(lines[0], "proxy CPU µs/req") {
		t.Errorf("header: %q", lines[0])
	}
	for _, row := range []string{"b https-mitm", "e sigv4-1mib"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("no row for %s:\n%s", row, out.String())
		}
	}
	if !strings.Contains(out.String(), "machine: ") || !strings.Contains(out.String(), "GOMAXPROCS") {
		t.Errorf("no machine facts:\n%s", out.String())
	}
	if strings.Contains(out.String(), "first error") {
		t.Errorf("errors reported:\n%s", out.String())
	}
}

// TestSmokeReference runs the goproxy reference through the same harness:
// the upstream refuses a request without the fixed token or still carrying
// the marker, so a reference that forwarded nothing useful would fail here.
func TestSmokeReference(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a proxy child and runs load")
	}
	var out, errb bytes.Buffer
	args := []string{"--smoke", "--proxy", "goproxy", "--scenarios", "a,b,d", "--concurrency", "2", "--mode", "closed"}
	if code := cliMain(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errb.String())
	}
	checkProgress(t, errb.String())
	if !strings.Contains(out.String(), "goproxy reference") {
		t.Errorf("the table does not say it measured the reference:\n%s", out.String())
	}
	if strings.Contains(out.String(), "first error") {
		t.Errorf("errors reported:\n%s", out.String())
	}
}

// TestSmokeBinary runs the bench through the built alter binary, as
// --binary does for an operator: the config the bench writes must load,
// the listening line must be found, and /proc must show the binary working.
func TestSmokeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the alter binary and runs load through it")
	}
	bin, err := testbin.BuildAlter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args := []string{"--binary", bin, "--json", "--scenarios", "a,b", "--concurrency", "1,4",
		"--mode", "closed", "--duration", "300ms", "--warmup", "50ms", "--rounds", "1"}
	if code := cliMain(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, errb.String())
	}
	checkProgress(t, errb.String())
	if !strings.Contains(errb.String(), listeningPrefix) {
		t.Error("the binary's stderr was not passed on")
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if rep.Settings.Binary != bin || rep.ProxyPeakRSSKB <= 0 {
		t.Errorf("settings %+v, peak %d KiB", rep.Settings, rep.ProxyPeakRSSKB)
	}
	if len(rep.Cells) != 4 {
		t.Errorf("%d cells, want 4", len(rep.Cells))
	}
	for _, c := range rep.Cells {
		t.Run(c.Scenario+"/"+itoa(c.Concurrency), func(t *testing.T) {
			checkCell(t, c)
			if c.ProxyCPUPerReqUs <= 0 || c.Rounds[0].Proxy.ProxyCPUMs <= 0 {
				t.Errorf("no proxy CPU: %v µs/req, %v ms", c.ProxyCPUPerReqUs, c.Rounds[0].Proxy.ProxyCPUMs)
			}
		})
	}
}

func TestStatCPU(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	stat := []byte("4242 (a) b (c) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 12345 0 0\n")
	got, err := statCPU(stat, 100)
	if err != nil || got != 3*time.Second {
		t.Errorf("statCPU = %v, %v; want 3s", got, err)
	}
	if _, err := statCPU([]byte("4242 (x) S 1"), 100); err == nil {
		t.Error("a short line was accepted")
	}
}

// checkProgress logs what went to stderr (progress lines and anything the
// proxy child said). Under -race the child is this race-enabled binary, so
// a race inside the proxy shows up here, and fails the test.
func checkProgress(t *testing.T, stderr string) {
	t.Helper()
	t.Logf("stderr:\n%s", stderr)
	if strings.Contains(stderr, "DATA RACE") {
		t.Error("the proxy child reported a data race")
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
