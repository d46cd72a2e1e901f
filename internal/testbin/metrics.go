package testbin

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Metric returns the value of the metric line named name (labels
// included, as Prometheus writes them: `m{target="siem"}`) on the admin
// listener at addr, or "" when there is none.
func Metric(tb testing.TB, addr, name string) string {
	tb.Helper()
	return MetricValue(Scrape(tb, addr), name)
}

// Scrape returns the admin listener's whole /metrics page.
func Scrape(tb testing.TB, addr string) string {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		tb.Fatalf("metrics at %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("metrics at %s: %v", addr, err)
	}
	return string(body)
}

// MetricValue returns the value of the line named name in a Prometheus
// text exposition, or "" when there is none.
func MetricValue(exposition, name string) string {
	for _, line := range strings.Split(exposition, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	return ""
}
