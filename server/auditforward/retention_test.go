package auditforward

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
)

// pruner records each pass's arguments.
type pruner struct {
	calls chan pruneCall
	mu    sync.Mutex
	err   error
}

type pruneCall struct {
	before  time.Time
	targets []string
	batch   int
	actor   string
}

func (p *pruner) PruneAudit(_ context.Context, before time.Time, targets []string, batch int, actor string) (storage.PruneResult, error) {
	p.calls <- pruneCall{before, targets, batch, actor}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return storage.PruneResult{}, p.err // a failed pass knows nothing of what it held back
	}
	return storage.PruneResult{Deleted: 1, HeldBack: 7}, nil
}

// TestRetentionPasses: the first pass runs at the start with the cutoff
// now - retention and the forward targets; a failed pass does not end
// the passes.
func TestRetentionPasses(t *testing.T) {
	c := newClock()
	p := &pruner{calls: make(chan pruneCall), err: errors.New("database away")}
	r, err := StartRetention(RetentionOptions{Store: p, Retention: 48 * time.Hour, Targets: []string{"siem"}, Interval: time.Millisecond, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	for pass := range 2 {
		select {
		case got := <-p.calls:
			if !got.before.Equal(c.now.Add(-48*time.Hour)) || !slices.Equal(got.targets, []string{"siem"}) ||
				got.batch != DefaultRetentionBatch || got.actor != RetentionActor {
				t.Fatalf("pass %d: %+v", pass, got)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("pass %d never ran", pass)
		}
	}
}

// TestRetentionStatus: the status counts what the passes deleted, says
// whether the last one failed, and keeps the last good pass's held-back
// count.
func TestRetentionStatus(t *testing.T) {
	p := &pruner{calls: make(chan pruneCall)}
	r, err := StartRetention(RetentionOptions{Store: p, Retention: time.Hour, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	pass := func() {
		t.Helper()
		select {
		case <-p.calls:
		case <-time.After(waitTimeout):
			t.Fatal("no pass ran")
		}
	}
	pass()
	pass() // the first pass has been recorded once the second has begun
	if st := r.Status(); st.Deleted < 1 || st.HeldBack != 7 || st.Failing {
		t.Fatalf("after good passes: %+v", st)
	}
	p.mu.Lock()
	p.err = errors.New("database away")
	p.mu.Unlock()
	pass() // a good pass may still be under way; this one is after it
	pass()
	pass()
	if st := r.Status(); !st.Failing || st.HeldBack != 7 {
		t.Fatalf("after a failed pass: %+v", st)
	}
}

func TestRetentionNeedsADuration(t *testing.T) {
	if _, err := StartRetention(RetentionOptions{Store: &pruner{}}); err == nil {
		t.Fatal("started without a retention")
	}
}

// TestRetentionKeepsWhatIsNotForwarded: retention and forwarding on one
// database: records past the retention go once the target has them.
func TestRetentionKeepsWhatIsNotForwarded(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		db := openDB(t, addr)
		ctx := context.Background()
		ids := insert(t, db, "rec", 30)
		cutoff := time.Now().Add(time.Hour) // every record is past it
		res, err := db.PruneAudit(ctx, cutoff, []string{"siem"}, 10, RetentionActor)
		if err != nil || res.Deleted != 0 || res.HeldBack != len(ids) {
			t.Fatalf("before forwarding: %+v, %v", res, err)
		}
		r := newReceiver()
		f := start(t, db, "r1", r, nil)
		r.waitFor(t, "every record", func() bool { return len(r.got()) >= len(ids) })
		f.Stop(time.Second)
		res, err = db.PruneAudit(ctx, cutoff, []string{"siem"}, 10, RetentionActor)
		if err != nil || res.Deleted != len(ids) || res.HeldBack != 0 {
			t.Fatalf("after forwarding: %+v, %v", res, err)
		}
		if err := once(ids, r.got()); err != nil {
			t.Fatal(err)
		}
	})
}
