package auditforward

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// memStore is a trail of n records and one target's position, in memory.
type memStore struct {
	mu   sync.Mutex
	recs []storage.PositionedRecord
	pos  storage.AuditPosition
}

func newMemStore(n int) *memStore {
	s := &memStore{}
	for i := range n {
		s.recs = append(s.recs, storage.PositionedRecord{
			AuditRecord: wire.AuditRecord{ID: fmt.Sprintf("r%d", i), Time: time.Unix(int64(i), 0), Body: json.RawMessage(`{}`)},
			Position:    storage.AuditPosition{Seq: int64(i + 1)},
		})
	}
	return s
}

func (s *memStore) AuditAfter(_ context.Context, p storage.AuditPosition, limit int) ([]storage.PositionedRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.PositionedRecord
	for _, r := range s.recs {
		if p.Before(r.Position) && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *memStore) ClaimForward(context.Context, string, string, time.Time, time.Time) (storage.AuditPosition, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos, true, nil
}

func (s *memStore) AdvanceForward(_ context.Context, _, _ string, p storage.AuditPosition, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pos.Before(p) {
		s.pos = p
	}
	return true, nil
}

func (s *memStore) ReleaseForward(context.Context, string, string) error { return nil }

// stopMidSend is a receiver during whose first request the forwarder is
// told to stop (what Stop does first), as a SIGTERM lands while a batch is
// on its way. It answers every request it is let finish.
type stopMidSend struct {
	f         *Forwarder
	mu        sync.Mutex
	calls     int
	delivered map[string]int
	started   chan struct{}
	cancelled chan struct{} // closed once the first send has told the loops to stop
}

func (s *stopMidSend) ShipAudit(ctx context.Context, recs []wire.AuditRecord) (int, error) {
	s.mu.Lock()
	s.calls++
	first := s.calls == 1
	for _, r := range recs {
		s.delivered[r.ID]++ // the receiver has stored the batch
	}
	s.mu.Unlock()
	if first {
		<-s.started
		s.f.cancel()
		close(s.cancelled)
	}
	if err := ctx.Err(); err != nil {
		return 0, err // cut off before the answer
	}
	return len(recs), nil
}

// TestStopLetsTheSendUnderWayFinish: a clean stop that lands during a send
// lets it end with the receiver's answer, then sends the rest: every
// record arrives once. Cutting the send off made the receiver get that
// batch again in the last pass (a duplicate on every clean restart).
func TestStopLetsTheSendUnderWayFinish(t *testing.T) {
	store := newMemStore(30)
	snd := &stopMidSend{delivered: map[string]int{}, started: make(chan struct{}), cancelled: make(chan struct{})}
	f, err := Start(Options{Store: store, Targets: []forward.Target{{Name: "siem", Sender: snd, Batch: 10}}, Holder: "a"})
	if err != nil {
		t.Fatal(err)
	}
	snd.f = f
	close(snd.started)
	// Stop only once the first send is under way (and has been told to
	// stop): a Stop before it would find no send to cut off.
	<-snd.cancelled
	f.Stop(10 * time.Second)
	for i := range 30 {
		if n := snd.delivered[fmt.Sprintf("r%d", i)]; n != 1 {
			t.Errorf("record r%d delivered %d times, want once", i, n)
		}
	}
	if store.pos.Seq != 30 {
		t.Errorf("position %d after the stop, want 30", store.pos.Seq)
	}
}
