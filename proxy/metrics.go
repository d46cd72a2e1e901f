package proxy

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's Prometheus metrics. No label carries a secret,
// a grant id, a host or any other unbounded value.
type Metrics struct {
	requests        *prometheus.CounterVec
	upstreamLatency *prometheus.HistogramVec
	auditErrors     prometheus.Counter
	tunnels         *prometheus.GaugeVec
	approvals       *prometheus.CounterVec
	rateLimits      prometheus.Counter
}

// CacheStats is what a cache reports for its metrics.
type CacheStats struct {
	Hits, Misses uint64
	Size         int
}

// MetricSources feed the cache metrics; nil functions are skipped.
type MetricSources struct {
	GrantCache func() CacheStats
	LeafCache  func() CacheStats
}

// NewMetrics creates the proxy's metrics and registers them, with the cache
// metrics read from src at scrape time.
func NewMetrics(reg prometheus.Registerer, src MetricSources) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alter_requests_total",
			Help: "Requests handled, by decision (allow, deny, passthrough), HTTP status and error code.",
		}, []string{"decision", "status", "code"}),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alter_upstream_latency_seconds",
			Help:    "Time from sending a request upstream to its response headers, by kind (grant, passthrough).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alter_audit_write_errors_total",
			Help: "Audit records that could not be written.",
		}),
		tunnels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "alter_open_tunnels",
			Help: "CONNECT tunnels and WebSockets open now, by kind (terminated, passthrough, websocket).",
		}, []string{"kind"}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alter_approvals_total",
			Help: "Requests held for approval, by outcome: created (a new pending approval), approved (let through), denied, pending_timeout (not decided within the hold), async (answered 202), already_used.",
		}, []string{"outcome"}),
		rateLimits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alter_rate_limited_total",
			Help: "Requests refused because a grant's rate or quota was used up.",
		}),
	}
	cs := []prometheus.Collector{m.requests, m.upstreamLatency, m.auditErrors, m.tunnels, m.approvals, m.rateLimits}
	cs = append(cs, cacheCollectors("grant", src.GrantCache)...)
	cs = append(cs, cacheCollectors("leaf", src.LeafCache)...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func cacheCollectors(name string, stats func() CacheStats) []prometheus.Collector {
	if stats == nil {
		return nil
	}
	what := map[string]string{"grant": "decrypted-grant", "leaf": "leaf-certificate"}[name]
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "alter_" + name + "_cache_hits_total", Help: "Hits in the " + what + " cache."},
			func() float64 { return float64(stats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "alter_" + name + "_cache_misses_total", Help: "Misses in the " + what + " cache."},
			func() float64 { return float64(stats().Misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "alter_" + name + "_cache_size", Help: "Entries in the " + what + " cache."},
			func() float64 { return float64(stats().Size) }),
	}
}

// The methods below accept a nil *Metrics, so a proxy built without
// metrics (tests, the load program) needs no stand-in.

func (m *Metrics) request(decision string, status int, code string) {
	if m == nil {
		return
	}
	if code == "" {
		code = "none"
	}
	m.requests.WithLabelValues(decision, strconv.Itoa(status), code).Inc()
}

func (m *Metrics) upstream(kind string, d time.Duration) {
	if m != nil {
		m.upstreamLatency.WithLabelValues(kind).Observe(d.Seconds())
	}
}

func (m *Metrics) auditError() {
	if m != nil {
		m.auditErrors.Inc()
	}
}

func (m *Metrics) tunnel(kind string, delta float64) {
	if m != nil {
		m.tunnels.WithLabelValues(kind).Add(delta)
	}
}

func (m *Metrics) approval(outcome string) {
	if m != nil {
		m.approvals.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) rateLimited() {
	if m != nil {
		m.rateLimits.Inc()
	}
}
