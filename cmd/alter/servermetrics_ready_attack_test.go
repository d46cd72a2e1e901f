package main

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/serverconfig"
)

// TestServerAdminAttackReadyzFloodLeavesThePoolToTheAPI: however many
// clients ask /readyz at once, on the admin listener or on the API's
// (both take no token), the database sees at most one ping at a time
// from them, so nobody who reaches either port can make the API's
// requests wait for a connection (alter_server_db_waits_total).
// On PostgreSQL: SQLite's ping is so quick that a ping per request makes
// no wait either, and the test could not fail there.
func TestServerAdminAttackReadyzFloodLeavesThePoolToTheAPI(t *testing.T) {
	home := t.TempDir()
	dbURL := testdb.Postgres(t)
	r := startAdminServer(t, home, serverFiles{}, func(c *serverconfig.Config) { c.DatabaseURL, c.DatabaseMaxConns = dbURL, 2 })
	for _, tc := range []struct{ name, addr string }{
		{"admin listener", r.admin},
		{"API listener", r.api},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testbin.Metric(t, r.admin, "alter_server_db_waits_total")
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					for range 30 {
						resp, err := http.Get("http://" + tc.addr + "/readyz")
						if err != nil {
							t.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							t.Errorf("/readyz: %d", resp.StatusCode)
							return
						}
					}
				})
			}
			wg.Wait()
			if after := testbin.Metric(t, r.admin, "alter_server_db_waits_total"); after != before {
				t.Fatalf("alter_server_db_waits_total went from %s to %s: the flood held the pool", before, after)
			}
		})
	}
}
