package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/server/serverconfig"
	"github.com/alter-sidecar/alter/server/wire"
)

// hungReceiver is a forward target that never answers: each send waits
// until its context ends.
type hungReceiver struct{ sending chan struct{} }

func (h *hungReceiver) ShipAudit(ctx context.Context, _ []wire.AuditRecord) (int, error) {
	select {
	case h.sending <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestServerAdminAttackHungReceiver: a receiver that takes a batch and
// never answers holds no scrape (the forwarder's state is not locked
// across a send), and during the stop that waits for it, /readyz says
// not ready (a load balancer stops sending while the API is closed) and
// the stop still ends at shutdown_timeout, the admin listener with it.
func TestServerAdminAttackHungReceiver(t *testing.T) {
	home := t.TempDir()
	adminToken(t, home, "ops") // a record to forward
	hung := &hungReceiver{sending: make(chan struct{}, 1)}
	r := startAdminServer(t, home, serverFiles{forward: []forward.Target{{Name: "siem", Sender: hung}}},
		func(c *serverconfig.Config) { c.ShutdownTimeout = 2 * time.Second })
	<-hung.sending

	client := &http.Client{Timeout: 5 * time.Second}
	scrape := func() string {
		resp, err := client.Get("http://" + r.admin + "/metrics")
		if err != nil {
			t.Fatalf("a scrape during the hung send: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if v := testbin.MetricValue(scrape(), `alter_audit_forward_holding{target="siem"}`); v != "1" {
		t.Errorf("holding during the hung send = %q, want 1", v)
	}

	stopped := time.Now()
	r.cancel()
	// The API's listener closes first; nothing else says the stop began.
	waitUntil(t, "the API listener to close", func() bool {
		c, err := net.Dial("tcp", r.api)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	resp, err := client.Get("http://" + r.admin + "/readyz")
	if err != nil {
		t.Fatalf("/readyz during the stop: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the server stops: %d, want 503", resp.StatusCode)
	}
	scrape() // metrics still answer while the stop waits for the receiver

	select {
	case <-r.exited:
		if r.err != nil {
			t.Fatalf("runServer: %v", r.err)
		}
	case <-time.After(testbin.StartTimeout):
		t.Fatal("the hung receiver held the stop")
	}
	if d := time.Since(stopped); d > 2*time.Second+5*time.Second {
		t.Errorf("the stop took %s with shutdown_timeout 2s", d)
	}
	if _, err := client.Get("http://" + r.admin + "/metrics"); err == nil {
		t.Error("the admin listener answers after the stop")
	}
}
