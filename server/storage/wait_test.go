package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A waiter on one replica wakes within a second of a write made through
// another (on PostgreSQL through LISTEN/NOTIFY).
func TestWaitChangeAcrossReplicas(t *testing.T) {
	forEachEngine(t, func(t *testing.T, addr string) {
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
