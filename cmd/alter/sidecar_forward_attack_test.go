package main

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/internal/testbin"
)

// TestSidecarAuditMetricsAttackScrapesDuringForwarding: the sidecar's
// alter_audit_written_seq and per-target alter_audit_forward_seq and
// _failing are read by scrapes while the durable log is written and the
// forwarders send, one of them to a receiver that is down and comes
// back (run with -race); every scrape is valid Prometheus text, each
// target shows its own seq and failing, and in the end each target's
// seq is the log's.
func TestSidecarAuditMetricsAttackScrapesDuringForwarding(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	sink, err := audit.NewDurableSink(path, audit.DurableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	steady, flaky := &siemStub{}, &siemStub{}
	fw, err := forward.Start(path, []forward.Target{{Name: "siem", Sender: steady}, {Name: "z_9-", Sender: flaky}},
		forward.LogOptions{Interval: 5 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Stop(time.Second)
	s := &sidecar{registry: prometheus.NewRegistry(), sink: sink, forward: fw}
	s.registerAuditMetrics()
	admin := httptest.NewServer(adminHandler(readyFunc(func() error { return nil }), s.registry))
	defer admin.Close()
	addr := strings.TrimPrefix(admin.URL, "http://")

	stopScrapes := scrapeConcurrently(t, admin.URL)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if err := sink.Write(audit.Record{RequestID: fmt.Sprint(i), Decision: "allow"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// While one receiver is down, each target shows its own state.
	flaky.setDown(true)
	write(0, 40)
	waitUntil(t, "siem at 40 and z_9- failing at 0", func() bool {
		return testbin.Metric(t, addr, "alter_audit_written_seq") == "40" &&
			testbin.Metric(t, addr, `alter_audit_forward_seq{target="siem"}`) == "40" &&
			testbin.Metric(t, addr, `alter_audit_forward_failing{target="siem"}`) == "0" &&
			testbin.Metric(t, addr, `alter_audit_forward_failing{target="z_9-"}`) == "1"
	})
	if v := testbin.Metric(t, addr, `alter_audit_forward_seq{target="z_9-"}`); v != "0" {
		t.Errorf("the refused target's seq = %q, want 0", v)
	}
	flaky.setDown(false)
	const n = 50
	write(40, n)
	want := fmt.Sprint(n)
	// The seq moves when the batch is acknowledged, failing clears when
	// the pass returns, a moment later: wait for both.
	waitUntil(t, "both targets to reach the log's seq and stop failing", func() bool {
		return testbin.Metric(t, addr, "alter_audit_written_seq") == want &&
			testbin.Metric(t, addr, `alter_audit_forward_seq{target="siem"}`) == want &&
			testbin.Metric(t, addr, `alter_audit_forward_seq{target="z_9-"}`) == want &&
			testbin.Metric(t, addr, `alter_audit_forward_failing{target="siem"}`) == "0" &&
			testbin.Metric(t, addr, `alter_audit_forward_failing{target="z_9-"}`) == "0"
	})
	stopScrapes()
	if steady.received() != n || flaky.received() != n {
		t.Errorf("received %d and %d, want %d each", steady.received(), flaky.received(), n)
	}
}
