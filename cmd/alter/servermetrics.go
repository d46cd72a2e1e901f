package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/server/storage"
)

// serverAdmin serves alter server's /metrics, /healthz and /readyz on
// admin_listen, apart from the API, so a scraper needs no API token and
// the API's listener can stay TLS-only.
type serverAdmin struct {
	ln     net.Listener
	limits adminLimits
	srv    *http.Server
	// stopping fails /readyz once the server shuts down (a load balancer
	// stops sending while the API drains).
	stopping stopGate
	// requests and latency count the API's requests (observeRequest),
	// made with the listener so that serve can always register them.
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// listenServerAdmin opens addr; nil when addr is "".
func listenServerAdmin(addr string) (*serverAdmin, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin_listen %s: %w", addr, err)
	}
	return &serverAdmin{ln: ln, limits: defaultAdminLimits,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alter_server_requests_total",
			Help: "API requests answered, by the matched route's method and path pattern (never the path: it holds ids) and status."},
			[]string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "alter_server_request_duration_seconds",
			Help:    "Time to answer an API request, by route; long polls and event streams last up to their wait.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"method", "route"}),
	}, nil
}

// observeRequest is api.Options.ObserveRequest: nil without an admin
// listener, so a server nobody scrapes counts nothing.
func (a *serverAdmin) observeRequest() func(route string, status int, elapsed time.Duration) {
	if a == nil {
		return nil
	}
	return func(pattern string, status int, elapsed time.Duration) {
		// A request that matched no route has method "" (a client may
		// send any method: not a label's worth of values).
		method, route, ok := strings.Cut(pattern, " ")
		if !ok {
			method, route = "", "unmatched"
		}
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		a.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
		a.latency.WithLabelValues(method, route).Observe(elapsed.Seconds())
	}
}

// serve answers on the admin listener in the background until close.
// storeReady is the API's /readyz check (api.Handler.Ready), so the two
// listeners share its one ping a second.
func (a *serverAdmin) serve(storeReady func() error, db *storage.DB, trail *serverTrail, log *zap.Logger, announce io.Writer) {
	if a == nil {
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		poolCollector{db}, trailCollector{trail}, a.requests, a.latency)
	a.srv = newAdminServer(adminHandler(readiness(a.stopping.Ready, storeReady), reg), a.limits, zap.NewStdLog(log.Named("admin_http")))
	log.Info("admin listening", zap.String("addr", a.ln.Addr().String()))
	fmt.Fprintf(announce, "alter server admin on %s (/metrics, /healthz, /readyz)\n", a.ln.Addr())
	go func() { _ = a.srv.Serve(a.limits.listener(a.ln)) }()
}

// beginStop makes /readyz answer 503 from now on; the listener serves
// until close.
func (a *serverAdmin) beginStop() {
	if a != nil {
		a.stopping.begin()
	}
}

// close stops the admin listener; scrapes under way are cut off.
func (a *serverAdmin) close() {
	if a == nil {
		return
	}
	if a.srv != nil {
		_ = a.srv.Close()
		return
	}
	_ = a.ln.Close()
}

var (
	poolOpenDesc = prometheus.NewDesc("alter_server_db_connections_open",
		"Database connections open (in use and idle).", nil, nil)
	poolInUseDesc = prometheus.NewDesc("alter_server_db_connections_in_use",
		"Database connections in use.", nil, nil)
	poolMaxDesc = prometheus.NewDesc("alter_server_db_connections_max",
		"The pool's ceiling (database_max_connections).", nil, nil)
	poolWaitsDesc = prometheus.NewDesc("alter_server_db_waits_total",
		"Requests that waited for a free database connection; rising means database_max_connections is too low.", nil, nil)
	poolWaitDesc = prometheus.NewDesc("alter_server_db_wait_seconds_total",
		"Time spent waiting for a free database connection.", nil, nil)
)

// poolCollector reads the database pool's numbers at each scrape.
type poolCollector struct{ db *storage.DB }

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolOpenDesc, poolInUseDesc, poolMaxDesc, poolWaitsDesc, poolWaitDesc} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.db.PoolStats()
	ch <- prometheus.MustNewConstMetric(poolOpenDesc, prometheus.GaugeValue, float64(st.OpenConnections))
	ch <- prometheus.MustNewConstMetric(poolInUseDesc, prometheus.GaugeValue, float64(st.InUse))
	ch <- prometheus.MustNewConstMetric(poolMaxDesc, prometheus.GaugeValue, float64(st.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(poolWaitsDesc, prometheus.CounterValue, float64(st.WaitCount))
	ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, st.WaitDuration.Seconds())
}

var (
	forwardHoldingDesc = prometheus.NewDesc("alter_audit_forward_holding",
		"1 while this replica holds the forward target's lease (it is the one sending), else 0.", []string{"target"}, nil)
	forwardFailingDesc = prometheus.NewDesc("alter_audit_forward_failing",
		"1 while this replica's last send to the target or database call for it failed, else 0.", []string{"target"}, nil)
	forwardRecordsDesc = prometheus.NewDesc("alter_audit_forward_records_total",
		"Audit records the target acknowledged from this replica.", []string{"target"}, nil)
	retentionDeletedDesc = prometheus.NewDesc("alter_audit_retention_deleted_total",
		"Audit records past audit.retention that this replica deleted.", nil, nil)
	retentionHeldDesc = prometheus.NewDesc("alter_audit_retention_held_back",
		"Audit records past audit.retention kept at the last pass because a forward target has not acknowledged them.", nil, nil)
	retentionFailingDesc = prometheus.NewDesc("alter_audit_retention_failing",
		"1 while this replica's last retention pass failed, else 0.", nil, nil)
)

// trailCollector reads audit forwarding's state at each scrape. Sum
// holding over the replicas: 0 for long means no replica sends.
type trailCollector struct{ t *serverTrail }

func (trailCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{forwardHoldingDesc, forwardFailingDesc, forwardRecordsDesc,
		retentionDeletedDesc, retentionHeldDesc, retentionFailingDesc} {
		ch <- d
	}
}

func (c trailCollector) Collect(ch chan<- prometheus.Metric) {
	if c.t == nil {
		return
	}
	if r := c.t.retention; r != nil {
		st := r.Status()
		ch <- prometheus.MustNewConstMetric(retentionDeletedDesc, prometheus.CounterValue, float64(st.Deleted))
		ch <- prometheus.MustNewConstMetric(retentionHeldDesc, prometheus.GaugeValue, float64(st.HeldBack))
		ch <- prometheus.MustNewConstMetric(retentionFailingDesc, prometheus.GaugeValue, flag(st.Failing))
	}
	if c.t.forwarder == nil {
		return
	}
	for _, st := range c.t.forwarder.Status() {
		ch <- prometheus.MustNewConstMetric(forwardHoldingDesc, prometheus.GaugeValue, flag(st.Holding), st.Name)
		ch <- prometheus.MustNewConstMetric(forwardFailingDesc, prometheus.GaugeValue, flag(st.Failing), st.Name)
		ch <- prometheus.MustNewConstMetric(forwardRecordsDesc, prometheus.CounterValue, float64(st.Forwarded), st.Name)
	}
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
