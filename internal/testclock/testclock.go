// Package testclock is the settable clock tests inject where code takes a
// `func() time.Time`: TTLs, expiries and budgets are crossed by advancing
// it, not by sleeping. Only tests import it.
package testclock

import (
	"sync"
	"time"
)

// Clock starts at the time New was called and moves only when advanced.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock reading the current time.
func New() *Clock { return &Clock{t: time.Now()} }

// Now is the clock's time; pass the method value as the code's clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
