package auditforward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/internal/testkeys"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// waitTimeout bounds every wait for an event; reaching it is a failure.
const waitTimeout = 30 * time.Second

func openDB(t *testing.T, addr string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), addr, testkeys.Fixed(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// records are n grant-use records named prefix-0..prefix-(n-1).
func records(prefix string, n int) []storage.AuditRecord {
	var out []storage.AuditRecord
	at := time.Now().UTC()
	for i := range n {
		out = append(out, storage.AuditRecord{ID: fmt.Sprintf("%s-%d", prefix, i), Source: "billing/pod-1", Time: at,
			Decision: audit.DecisionAllow, Body: json.RawMessage(`{}`)})
	}
	return out
}

func ids(recs []storage.AuditRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// insertRecords stores recs, a batch of at most 1000 at a time.
func insertRecords(t *testing.T, d *storage.DB, recs []storage.AuditRecord) {
	t.Helper()
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		if _, err := d.InsertAudit(context.Background(), recs[:n]...); err != nil {
			t.Fatal(err)
		}
		recs = recs[n:]
	}
}

// insert stores n records named after prefix and returns their ids.
func insert(t *testing.T, db *storage.DB, prefix string, n int) []string {
	t.Helper()
	recs := records(prefix, n)
	insertRecords(t, db, recs)
	return ids(recs)
}

// readable waits until a reader of the trail from its start sees n
// records: on PostgreSQL, until no transaction older than theirs is open
// in the database, which the test packages share (one schema each).
func readable(t *testing.T, db *storage.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		recs, err := db.AuditAfter(context.Background(), storage.AuditPosition{}, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records readable after %s", len(recs), n, waitTimeout)
		}
		time.Sleep(5 * time.Millisecond) // a horizon moves on no event this test can see
	}
}

// receiver is a sender that keeps what it was sent. Each call is an
// event the tests wait on (changed).
type receiver struct {
	mu      sync.Mutex
	ids     []string
	calls   int
	fail    int           // fail this many calls from now
	partial int           // acknowledge only this many of the next batch, with an error
	block   chan struct{} // when set, a call waits for it (or its ctx)
	changed chan struct{}
	started chan struct{} // a call has begun
	// cancelled counts calls that ended because their context did.
	cancelled int
}

func newReceiver() *receiver {
	return &receiver{changed: make(chan struct{}, 1), started: make(chan struct{}, 1)}
}

func (r *receiver) ShipAudit(ctx context.Context, recs []wire.AuditRecord) (int, error) {
	select {
	case r.started <- struct{}{}:
	default:
	}
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			r.mu.Lock()
			r.cancelled++
			r.mu.Unlock()
			r.signal()
			return 0, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.signal()
	defer r.mu.Unlock()
	r.calls++
	if r.fail > 0 {
		r.fail--
		return 0, errors.New("receiver down")
	}
	if r.partial > 0 {
		n := min(r.partial, len(recs))
		r.partial = 0
		for _, rec := range recs[:n] {
			r.ids = append(r.ids, rec.ID)
		}
		return n, errors.New("connection cut after a few records")
	}
	for _, rec := range recs {
		r.ids = append(r.ids, rec.ID)
	}
	return len(recs), nil
}

// waitStarted waits until a send has begun.
func (r *receiver) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-r.started:
	case <-time.After(waitTimeout):
		t.Fatal("the send never started")
	}
}

// unblock lets the blocked send, and every later one, through.
func (r *receiver) unblock() {
	r.mu.Lock()
	close(r.block)
	r.block = nil
	r.mu.Unlock()
}

func (r *receiver) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// waitFor waits until cond holds, re-checking at each of r's calls.
func (r *receiver) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for !cond() {
		select {
		case <-r.changed:
		case <-deadline:
			r.mu.Lock()
			n, calls := len(r.ids), r.calls
			r.mu.Unlock()
			t.Fatalf("gave up waiting for %s; the receiver has %d records after %d calls", what, n, calls)
		}
	}
}

// clock is an injected time whose readings are events too: a pass reads
// it once at its start, so ticks counts passes.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	reads int
	read  chan struct{}
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), read: make(chan struct{}, 1)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	select {
	case c.read <- struct{}{}:
	default:
	}
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// waitReads waits until the clock has been read n more times.
func (c *clock) waitReads(t *testing.T, n int) {
	t.Helper()
	c.mu.Lock()
	want := c.reads + n
	c.mu.Unlock()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		done := c.reads >= want
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-c.read:
		case <-deadline:
			t.Fatal("gave up waiting for forwarding passes")
		}
	}
}

// start runs a forwarder of one target "siem" on db.
func start(t *testing.T, db *storage.DB, holder string, r *receiver, edit func(*Options)) *Forwarder {
	t.Helper()
	o := Options{Store: db, Targets: []forward.Target{{Name: "siem", Sender: r, Batch: 100}}, Holder: holder,
		Interval: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	if edit != nil {
		edit(&o)
	}
	f, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// once reports ids that are missing from got or in it more than once.
func once(want, got []string) error {
	n := map[string]int{}
	for _, id := range got {
		n[id]++
	}
	for _, id := range want {
		switch n[id] {
		case 0:
			return fmt.Errorf("%s never arrived (%d of %d ids received)", id, len(got), len(want))
		case 1:
		default:
			return fmt.Errorf("%s arrived %d times", id, n[id])
		}
		delete(n, id)
	}
	if len(n) > 0 {
		return fmt.Errorf("%d ids arrived that were not expected", len(n))
	}
	return nil
}

func targetOf(r *receiver) forward.Target { return forward.Target{Name: "siem", Sender: r} }
