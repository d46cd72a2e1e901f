package main

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/serverconfig"
)

// TestServerAdminAttackReadyzFloodLeavesThePoolToTheAPI: however many
// clients ask /readyz at once, the database sees at most one ping at a
// time from them, so nobody who reaches the admin port can make the
// API's requests wait for a connection (alter_server_db_waits_total).
// On PostgreSQL: SQLite's ping is so quick that a ping per request makes
// no wait either, and the test could not fail there.
func TestServerAdminAttackReadyzFloodLeavesThePoolToTheAPI(t *testing.T) {
	home := t.TempDir()
	dbURL := testdb.Postgres(t)
	r := startAdminServer(t, home, serverFiles{}, func(c *serverconfig.Config) { c.DatabaseURL, c.DatabaseMaxConns = dbURL, 2 })
	before := testbin.Metric(t, r.admin, "alter_server_db_waits_total")
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 30 {
				resp, err := http.Get("http://" + r.admin + "/readyz")
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
		}()
	}
	wg.Wait()
	if after := testbin.Metric(t, r.admin, "alter_server_db_waits_total"); after != before {
		t.Fatalf("alter_server_db_waits_total went from %s to %s: the flood held the pool", before, after)
	}
}

// TestServerAdminAttackReadyzOnePingAtATime: many /readyz at once run
// the check once; the callers behind it take its answer, a failure too,
// until it is stale.
func TestServerAdminAttackReadyzOnePingAtATime(t *testing.T) {
	var mu sync.Mutex
	inFlight, most, calls := 0, 0, 0
	entered, release := make(chan struct{}), make(chan struct{})
	fail := error(nil)
	now := time.Unix(1_700_000_000, 0)
	c := &sharedCheck{fresh: time.Second, now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }, check: func() error {
		mu.Lock()
		inFlight++
		calls++
		most = max(most, inFlight)
		first := calls == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return fail
	}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Ready() }()
	<-entered // the first check runs; everyone else queues behind it
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Ready(); err != nil {
				t.Errorf("Ready: %v", err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if calls != 1 || most != 1 {
		t.Fatalf("21 callers ran the check %d times, %d at once; want once", calls, most)
	}

	mu.Lock()
	now = now.Add(time.Second) // stale: the next caller checks again
	fail = errors.New("database down")
	mu.Unlock()
	for range 3 {
		if err := c.Ready(); err == nil {
			t.Fatal("a failed check answered ready")
		}
	}
	if calls != 2 {
		t.Fatalf("the check ran %d times, want 2", calls)
	}
}
