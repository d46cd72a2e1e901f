package api

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestReadyzAttackOnePingAtATime: many /readyz at once run
// the check once; the callers behind it take its answer, a failure too,
// until it is stale.
func TestReadyzAttackOnePingAtATime(t *testing.T) {
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
