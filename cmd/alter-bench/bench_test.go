package main

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
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
