package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// A waiter on one replica wakes within a second of a write made through
// another (on PostgreSQL through LISTEN/NOTIFY).
func TestWaitChangeAcrossReplicas(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		a, b := openT(t, addr), openT(t, addr)
		ctx := context.Background()
		start, err := a.LastChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan int64, 1)
		go func() {
			seq, _ := a.WaitChange(ctx, start)
			got <- seq
		}()
		time.Sleep(300 * time.Millisecond) // let the waiter park
		wrote := time.Now()
		mustAdd(t, b, newSecret("tok", "api.github.com"))
		select {
		case seq := <-got:
			if seq <= start {
				t.Fatalf("woke with %d, want > %d", seq, start)
			}
			if d := time.Since(wrote); d > time.Second {
				t.Fatalf("woke after %v", d)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the waiter did not wake")
		}

		// Nothing new: returns with the context's error.
		last, _ := a.LastChange(ctx)
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if seq, err := a.WaitChange(short, last); !errors.Is(err, context.DeadlineExceeded) || seq != last {
			t.Fatalf("WaitChange with no change: %d, %v", seq, err)
		}
	})
}

// Parked waiters cost no database work: thousands of them share the one
// watcher, the pool never grows past its ceiling, and a write wakes them
// all.
func TestWaitChangeManyWaiters(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start, err := d.LastChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		const waiters = 2000
		var parked sync.WaitGroup
		woke := make(chan int64, waiters)
		for range waiters {
			parked.Go(func() {
				seq, _ := d.WaitChange(ctx, start)
				woke <- seq
			})
		}
		time.Sleep(500 * time.Millisecond) // several SQLite polls
		st := d.PoolStats()
		if st.MaxOpenConnections <= 0 || st.OpenConnections > st.MaxOpenConnections {
			t.Fatalf("pool with %d waiters: %d open, ceiling %d", waiters, st.OpenConnections, st.MaxOpenConnections)
		}
		if st.InUse > 1 {
			t.Fatalf("pool with %d parked waiters: %d connections in use, want at most the watcher's", waiters, st.InUse)
		}
		mustAdd(t, d, newSecret("tok", "api.github.com"))
		parked.Wait()
		close(woke)
		for seq := range woke {
			if seq <= start {
				t.Fatalf("a waiter woke with %d, want > %d", seq, start)
			}
		}
	})
}

// Close releases parked waiters with ErrStoreUnavailable, and later
// waiters get it at once.
func TestWaitChangeClose(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d, err := Open(context.Background(), addr, testSealer)
		if err != nil {
			t.Fatal(err)
		}
		last, err := d.LastChange(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			_, err := d.WaitChange(context.Background(), last)
			got <- err
		}()
		time.Sleep(100 * time.Millisecond)
		d.Close()
		select {
		case err := <-got:
			if !errors.Is(err, secretstore.ErrStoreUnavailable) {
				t.Fatalf("parked waiter after Close: %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Close did not release the waiter")
		}
		if _, err := d.WaitChange(context.Background(), last); !errors.Is(err, secretstore.ErrStoreUnavailable) {
			t.Fatalf("WaitChange after Close: %v", err)
		}
	})
}

// With a tiny pool, write transactions (BEGIN IMMEDIATE on SQLite, the
// advisory lock on PostgreSQL) and reads running together all finish: no
// write holds one connection while waiting for another.
func TestSmallPoolWritesAndReads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conns int
	}{
		{"one connection", 1},
		{"two connections", 2},
		{"default", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testdb.ForEach(t, func(t *testing.T, addr string) {
				d, err := Open(context.Background(), addr, testSealer, WithMaxConns(tc.conns))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				g := mustAdd(t, d, newSecret("tok", "api.github.com"))
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				var wg sync.WaitGroup
				errs := make(chan error, 200)
				for i := range 20 {
					wg.Go(func() {
						if _, err := d.Add(ctx, newSecret("tok", "api.github.com")); err != nil {
							errs <- fmt.Errorf("add %d: %w", i, err)
						}
						if err := d.SetPolicy(ctx, g.ID, policy.Spec{Destinations: []string{"api.github.com"}}); err != nil {
							errs <- fmt.Errorf("set policy %d: %w", i, err)
						}
					})
					wg.Go(func() {
						if _, err := d.Resolve(ctx, g.ID, time.Now()); err != nil {
							errs <- fmt.Errorf("resolve %d: %w", i, err)
						}
						if _, err := d.List(ctx); err != nil {
							errs <- fmt.Errorf("list %d: %w", i, err)
						}
						if _, err := d.WaitChange(ctx, 0); err != nil {
							errs <- fmt.Errorf("wait %d: %w", i, err)
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				if st := d.PoolStats(); tc.conns > 0 && st.MaxOpenConnections != tc.conns {
					t.Errorf("ceiling %d, want %d", st.MaxOpenConnections, tc.conns)
				}
			})
		})
	}
}
