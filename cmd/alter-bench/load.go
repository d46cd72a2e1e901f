//go:build !windows

package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec is one run: a number of workers for a bounded time.
type loadSpec struct {
	Mode        string
	Concurrency int
	Duration    time.Duration
	Rate        float64 // open loop only
	MaxRequests int
}

// loadResult is what one run measured.
type loadResult struct {
	OK      int
	Errors  int
	Missed  int // open loop: due requests never sent before the hard stop
	Elapsed time.Duration
	Latency []time.Duration // of successful requests, sorted
	Error   string          // the first error, for the report
}

// stopGrace bounds how long an open-loop run may lag behind its schedule,
// and how long a request in flight at the end may take, so every run ends
// within Duration plus this.
const stopGrace = 10 * time.Second

// runLoad drives do with spec.Concurrency workers.
//
// Closed loop: each worker sends, waits for the answer, and sends again until
// the duration is up; latency is the request's own time.
//
// Open loop: request i is due at start + i/rate; a free worker takes the next
// one, sleeps until it is due, sends it, and records the time from the due
// moment to the answer. When the system falls behind, requests wait for a
// worker and that wait is part of their latency, as it would be for real
// callers arriving at that rate.
func runLoad(ctx context.Context, spec loadSpec, do func(context.Context) error) loadResult {
	ctx, cancel := context.WithTimeout(ctx, spec.Duration+stopGrace)
	defer cancel()
	start := time.Now()
	deadline := start.Add(spec.Duration)
	total := int64(spec.MaxRequests)
	var interval time.Duration
	if spec.Mode == modeOpen {
		interval = time.Duration(float64(time.Second) / spec.Rate)
		total = min(total, int64(spec.Duration/interval))
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		res      loadResult
		wg       sync.WaitGroup
		firstErr error
	)
	for range spec.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			ok, errs := 0, 0
			var werr error
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= total {
					break
				}
				t0 := time.Now()
				if spec.Mode == modeOpen {
					t0 = start.Add(time.Duration(i) * interval)
					if wait := time.Until(t0); wait > 0 {
						if !sleepCtx(ctx, wait) {
							break
						}
					}
				} else if !t0.Before(deadline) {
					break
				}
				if err := do(ctx); err != nil {
					if ctx.Err() != nil {
						break // cut off by the hard stop; not the proxy's fault
					}
					errs++
					if werr == nil {
						werr = err
					}
					continue
				}
				ok++
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			defer mu.Unlock()
			res.OK += ok
			res.Errors += errs
			res.Latency = append(res.Latency, lat...)
			if firstErr == nil {
				firstErr = werr
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if spec.Mode == modeOpen {
		res.Missed = int(max(0, total-int64(res.OK+res.Errors)))
	}
	if firstErr != nil {
		res.Error = firstErr.Error()
	}
	slices.Sort(res.Latency)
	return res
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
