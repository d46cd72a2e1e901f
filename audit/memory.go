package audit

import "sync"

// MemorySink keeps records in memory, for tests of code that audits.
// SetErr makes it fail like a broken durable sink would.
type MemorySink struct {
	mu      sync.Mutex
	records []Record
	err     error
	closed  bool
}

// NewMemorySink returns an empty MemorySink.
func NewMemorySink() *MemorySink { return &MemorySink{} }

// Write stores r, or returns the error set by SetErr (and stores nothing),
// or ErrClosed after Close.
func (m *MemorySink) Write(r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.err != nil {
		return m.err
	}
	r.QueryKeys = append([]string(nil), r.QueryKeys...) // the caller may reuse its slice
	m.records = append(m.records, r)
	return nil
}

// Close marks the sink closed; later writes fail.
func (m *MemorySink) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// SetErr makes later writes fail with err; nil restores normal behaviour.
func (m *MemorySink) SetErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// Records returns a copy of the records written so far, oldest first.
func (m *MemorySink) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Record, len(m.records))
	copy(out, m.records)
	for i := range out {
		out[i].QueryKeys = append([]string(nil), out[i].QueryKeys...)
	}
	return out
}

var (
	_ Sink = (*MemorySink)(nil)
	_ Sink = (*zapSink)(nil)
)
