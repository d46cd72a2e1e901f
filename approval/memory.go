package approval

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store in this process's memory: for tests, and for a proxy
// whose approvals need not outlive it.
type Memory struct {
	mu      sync.Mutex
	book    Book
	changed chan struct{} // closed and replaced on every change
}

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{changed: make(chan struct{})} }

func (m *Memory) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Find implements Store.
func (m *Memory) Find(_ context.Context, req Request, now time.Time) (Approval, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.book.Find(req, now)
	return a, ok, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.book.Get(id)
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, req Request, now time.Time, ttl time.Duration) (Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.book.Create(req, now, ttl)
	if err == nil {
		m.notify()
	}
	return a, err
}

// Use implements Store.
func (m *Memory) Use(_ context.Context, id, requestID string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.book.Use(id, requestID, now)
	if err == nil {
		m.notify()
	}
	return err
}

// Decide implements Store.
func (m *Memory) Decide(_ context.Context, id string, d Decision) (Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.book.Decide(id, d)
	if err == nil {
		m.notify()
	}
	return a, err
}

// List implements Store.
func (m *Memory) List(_ context.Context, f Filter, now time.Time) ([]Approval, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.book.Select(f, now), nil
}

// Wait implements Store.
func (m *Memory) Wait(ctx context.Context, id string) (Approval, error) {
	for {
		m.mu.Lock()
		a, err := m.book.Get(id)
		ch := m.changed
		m.mu.Unlock()
		if err != nil || a.Status != StatusPending {
			return a, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return a, ctx.Err()
		}
	}
}
