package auditforward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// replicaSink is the SIEM: every id it got, how often, and from which
// replica. changed is closed (and replaced) after every delivery, so a
// waiter sleeps until something arrives.
type replicaSink struct {
	mu      sync.Mutex
	got     map[string]int
	by      map[string]string // record id -> the replica that sent it first
	changed chan struct{}
}

func newReplicaSink() *replicaSink {
	return &replicaSink{got: map[string]int{}, by: map[string]string{}, changed: make(chan struct{})}
}

func (r *replicaSink) deliver(replica string, recs []wire.AuditRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		r.got[rec.ID]++
		if r.by[rec.ID] == "" {
			r.by[rec.ID] = replica
		}
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitFor returns once every id has arrived, or fails the test naming the
// missing ones.
func (r *replicaSink) waitFor(t *testing.T, ids ...string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		var missing []string
		for _, id := range ids {
			if r.got[id] == 0 {
				missing = append(missing, id)
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%d records never forwarded (skipped or stalled): %v", len(missing), missing[:min(len(missing), 10)])
		}
	}
}

// sender is one replica's connection to the receiver. ack, when set, is
// asked how many of a batch the replicaSink takes (and may block: a send in
// flight).
type sender struct {
	name string
	r    *replicaSink
	ack  func(ctx context.Context, recs []wire.AuditRecord) (int, error)
}

func (s *sender) ShipAudit(ctx context.Context, recs []wire.AuditRecord) (int, error) {
	n, err := len(recs), error(nil)
	if s.ack != nil {
		n, err = s.ack(ctx, recs)
	}
	s.r.deliver(s.name, recs[:n])
	return n, err
}

func startAttack(t *testing.T, o Options) *Forwarder {
	t.Helper()
	if o.Interval == 0 {
		o.Interval = 2 * time.Millisecond
	}
	o.MinBackoff, o.MaxBackoff = time.Millisecond, 5*time.Millisecond
	f, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// spyStore signals every AuditAfter that returned, so a test can wait for
// a forwarder to have read the trail after a given moment.
type spyStore struct {
	Store
	reads chan struct{}
}

func (s spyStore) AuditAfter(ctx context.Context, p storage.AuditPosition, limit int) ([]storage.PositionedRecord, error) {
	recs, err := s.Store.AuditAfter(ctx, p, limit)
	select {
	case s.reads <- struct{}{}:
	default:
	}
	return recs, err
}

// readsAfterNow waits for two reads that started after it was called.
func (s spyStore) readsAfterNow(t *testing.T) {
	t.Helper()
	select {
	case <-s.reads:
	default:
	}
	for range 2 {
		select {
		case <-s.reads:
		case <-time.After(waitTimeout):
			t.Fatal("the forwarders stopped reading the trail")
		}
	}
}

// TestForwarderAttackOutOfOrderCommit: on PostgreSQL a transaction that
// took its id (and its record's seq) first can commit after one that
// took them later. Two replicas forward meanwhile; once the late
// transaction's record is committed and the trail read past it, the early
// one commits. A reader that moved its position past the late record
// would never send the early one.
func TestForwarderAttackOutOfOrderCommit(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		if !strings.HasPrefix(addr, "postgres") {
			t.Skip("SQLite has one writer at a time: commit order is insertion order")
		}
		ctx := context.Background()
		d := openDB(t, addr)
		raw := testdb.Raw(t, addr)
		rcv := newReplicaSink()
		spy := spyStore{Store: d, reads: make(chan struct{}, 1)}
		for _, name := range []string{"r1", "r2"} {
			f := startAttack(t, Options{Store: spy, Holder: name, Targets: []forward.Target{{Name: "siem", Sender: &sender{name: name, r: rcv}}}})
			defer f.Stop(5 * time.Second)
		}
		insertRecords(t, d, records("before", 3))
		rcv.waitFor(t, ids(records("before", 3))...)

		early, err := raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer early.Rollback() //nolint:errcheck
		if _, err := early.ExecContext(ctx, `INSERT INTO audit (id, source, at, decision, body) VALUES ('early', 'billing/pod-1', $1, 'allow', '{}')`,
			time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
		insertRecords(t, d, records("late", 2))
		spy.readsAfterNow(t) // the trail read with "late" committed, "early" not
		if err := early.Commit(); err != nil {
			t.Fatal(err)
		}
		rcv.waitFor(t, append(ids(records("late", 2)), "early")...)
	})
}

// TestForwarderAttackReplicasRace: writers commit concurrently (out of
// order on PostgreSQL) while two replicas hand a short lease back and
// forth between them; every record reaches the receiver.
func TestForwarderAttackReplicasRace(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openDB(t, addr)
		rcv := newReplicaSink()
		for _, name := range []string{"r1", "r2"} {
			f := startAttack(t, Options{Store: d, Holder: name, Lease: 20 * time.Millisecond, Interval: time.Millisecond,
				Targets: []forward.Target{{Name: "siem", Batch: 7, Sender: &sender{name: name, r: rcv}}}})
			defer f.Stop(5 * time.Second)
		}
		var all []string
		var wg sync.WaitGroup
		for w := range 6 {
			for b := range 10 {
				recs := records(fmt.Sprintf("w%d-b%d", w, b), 3)
				all = append(all, ids(recs)...)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range 10 {
					if _, err := d.InsertAudit(context.Background(), records(fmt.Sprintf("w%d-b%d", w, b), 3)...); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		rcv.waitFor(t, all...)
	})
}

// TestForwarderAttackLeaseTakenMidSend: replica r1 is sending when r2,
// its clock an hour ahead, takes the lease over and forwards on. r1's
// late acknowledgement must not move the target's position back (every
// record since would go again) nor forward; once r2 stops, a third
// replica goes on from r2's position and nothing is skipped.
func TestForwarderAttackLeaseTakenMidSend(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		ctx := context.Background()
		d := openDB(t, addr)
		rcv := newReplicaSink()
		sending, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		slow := &sender{name: "r1", r: rcv, ack: func(ctx context.Context, recs []wire.AuditRecord) (int, error) {
			first := false
			once.Do(func() { first = true })
			if first {
				close(sending)
				<-release
			}
			return len(recs), nil
		}}
		// A lease long enough that r1 holds on by its own clock.
		lease := time.Minute
		first := records("first", 5)
		insertRecords(t, d, first)
		r1 := startAttack(t, Options{Store: d, Holder: "r1", Lease: lease, Targets: []forward.Target{{Name: "siem", Sender: slow}}})
		<-sending
		ahead := func() time.Time { return time.Now().Add(time.Hour) }
		spy := spyStore{Store: d, reads: make(chan struct{}, 1)}
		r2 := startAttack(t, Options{Store: spy, Holder: "r2", Lease: lease, Now: ahead,
			Targets: []forward.Target{{Name: "siem", Sender: &sender{name: "r2", r: rcv}}}})
		rcv.waitFor(t, ids(first)...)
		second := records("second", 5)
		insertRecords(t, d, second)
		rcv.waitFor(t, ids(second)...)
		spy.readsAfterNow(t) // r2 has moved the position past what it sent
		close(release)       // r1's batch is acknowledged, after r2 moved on
		r1.Stop(5 * time.Second)
		states, err := d.ForwardStates(ctx)
		if err != nil || len(states) != 1 {
			t.Fatalf("states %+v, %v", states, err)
		}
		page, err := d.AuditAfter(ctx, storage.AuditPosition{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		if last := page[len(page)-1].Position; states[0].Holder != "r2" || states[0].Position != last {
			t.Fatalf("after r1's late acknowledgement: holder %q at %v, want r2 at %v (the last record)", states[0].Holder, states[0].Position, last)
		}
		if st := r1.Status()[0]; st.Holding {
			t.Errorf("r1 thinks it holds the target: %+v", st)
		}
		r2.Stop(5 * time.Second) // releases: r3 need not wait out r2's clock
		third := records("third", 5)
		insertRecords(t, d, third)
		r3 := startAttack(t, Options{Store: d, Holder: "r3", Targets: []forward.Target{{Name: "siem", Sender: &sender{name: "r3", r: rcv}}}})
		defer r3.Stop(5 * time.Second)
		rcv.waitFor(t, ids(third)...)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, id := range ids(third) {
			if rcv.by[id] != "r3" {
				t.Errorf("%s first sent by %s, want r3", id, rcv.by[id])
			}
		}
	})
}

// TestForwarderAttackPartialAcknowledgement: a replicaSink that takes only
// part of a batch and fails the rest (a webhook whose second POST of a
// split batch fails). The position moves past what was taken only; the
// rest goes again.
func TestForwarderAttackPartialAcknowledgement(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openDB(t, addr)
		rcv := newReplicaSink()
		var mu sync.Mutex
		calls := 0
		partial := &sender{name: "r1", r: rcv, ack: func(_ context.Context, recs []wire.AuditRecord) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 && len(recs) > 2 {
				return 2, errors.New("the second POST failed")
			}
			return len(recs), nil
		}}
		recs := records("p", 6)
		insertRecords(t, d, recs)
		f := startAttack(t, Options{Store: d, Holder: "r1", Targets: []forward.Target{{Name: "siem", Sender: partial}}})
		defer f.Stop(5 * time.Second)
		rcv.waitFor(t, ids(recs)...)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if rcv.got["p-0"] != 1 {
			t.Errorf("an acknowledged record was sent %d times, want once", rcv.got["p-0"])
		}
	})
}

// TestForwarderAttackLargeRecordsDoNotStall: end to end, a sidecar's
// records with bodies near the 64 KiB the server accepts, forwarded by
// webhook to a replicaSink behind a 1 MiB request limit (nginx's default).
// A thousand-record batch in one POST would be refused on every retry;
// every record must arrive.
func TestForwarderAttackLargeRecordsDoNotStall(t *testing.T) {
	d := openDB(t, testdb.SQLite(t))
	rcv := newReplicaSink()
	key := []byte("forward-attack-hmac-key-0123456789")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
		if err != nil || len(body) > 1<<20 {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		if forward.Verify(key, r.Header.Get(forward.HeaderTimestamp), r.Header.Get(forward.HeaderSignature), body, time.Now(), time.Minute) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b forward.Batch
		if err := json.Unmarshal(body, &b); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		recs := make([]wire.AuditRecord, len(b.Records))
		for i, rec := range b.Records {
			recs[i].ID = rec.ID
		}
		rcv.deliver("webhook", recs)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	wh, err := forward.NewWebhook(forward.WebhookOptions{URL: srv.URL, Secret: key})
	if err != nil {
		t.Fatal(err)
	}
	recs := records("big", 40)
	for i := range recs {
		recs[i].Body = json.RawMessage(`{"ts":"2026-01-02T03:04:05Z","pad":"` + strings.Repeat("x", 64<<10-64) + `"}`)
	}
	insertRecords(t, d, recs)
	f := startAttack(t, Options{Store: d, Holder: "r1", Targets: []forward.Target{{Name: "siem", Sender: wh}}})
	defer f.Stop(5 * time.Second)
	rcv.waitFor(t, ids(recs)...)
}
