package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/alter-sidecar/alter/inject"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, MetricSources{GrantCache: func() CacheStats { return CacheStats{Hits: 3, Misses: 1, Size: 1} }})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Metrics = m })
	e.tlsUpstream("api.example.test", nil)
	e.plainUpstream("open.example.test:80")
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}})
	e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantC}})
	e.do("GET", "http://open.example.test/", nil)
	e.waitAudit(2)

	for labels, want := range map[[3]string]float64{
		{"allow", "200", "none"}:              1,
		{"deny", "403", CodeGrantUnavailable}: 1,
		{"passthrough", "200", "none"}:        1,
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(labels[:]...)); got != want {
			t.Errorf("alter_requests_total%v = %v, want %v", labels, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.upstreamLatency); n != 2 {
		t.Errorf("%d latency series, want grant and passthrough", n)
	}
	out, err := testutil.GatherAndCount(reg, "alter_grant_cache_hits_total")
	if err != nil || out != 1 {
		t.Fatalf("grant cache metric: %d %v", out, err)
	}
	// No label value may be unbounded or secret: grant ids, hosts, tokens.
	families, _ := reg.Gather()
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				v := l.GetValue()
				if strings.Contains(v, grantA) || strings.Contains(v, grantC) || strings.Contains(v, "example.test") || strings.Contains(v, sentinel) {
					t.Fatalf("metric %s label %s=%q", f.GetName(), l.GetName(), v)
				}
			}
		}
	}
}
