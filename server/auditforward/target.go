package auditforward

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// target is the loop of one forwarding target.
type target struct {
	forward.Target
	f     *Forwarder
	batch int
	log   *zap.Logger

	mu     sync.Mutex
	status Status
}

// run forwards until ctx ends: batch after batch while there is more,
// one read per Interval when caught up, backing off after failures. Each
// pass runs under passCtx, so one under way when ctx ends finishes.
func (t *target) run(ctx, passCtx context.Context) {
	o := t.f.o
	failures := 0
	var wait time.Duration
	for {
		if !sleep(ctx, wait) {
			return
		}
		sent, err := t.pass(passCtx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait = backoff(o.MinBackoff, o.MaxBackoff, failures)
			t.log.Warn("audit forward failed; the records wait in the audit table and go again",
				zap.Int("failures_in_a_row", failures), zap.Duration("retry_in", wait), zap.Error(err))
		case sent == t.batch:
			failures, wait = 0, 0 // more may be waiting
		default:
			if failures > 0 {
				t.log.Info("audit forward recovered", zap.Int("after_failures", failures))
			}
			failures, wait = 0, o.Interval
		}
	}
}

// pass claims the lease and, if this replica holds it, sends one batch
// and moves the position past what the receiver acknowledged. It returns
// how many records were acknowledged.
func (t *target) pass(ctx context.Context) (int, error) {
	o := t.f.o
	now := o.Now()
	pos, held, err := o.Store.ClaimForward(ctx, t.Name, o.Holder, now, now.Add(o.Lease))
	if err != nil {
		t.setFailing(true)
		return 0, err
	}
	t.mu.Lock()
	t.status.Holding = held
	if held {
		t.status.Position = pos
	}
	t.mu.Unlock()
	if !held {
		t.setFailing(false)
		return 0, nil
	}
	recs, err := o.Store.AuditAfter(ctx, pos, t.batch)
	if err != nil || len(recs) == 0 {
		t.setFailing(err != nil)
		return 0, err
	}
	batch := make([]wire.AuditRecord, len(recs))
	for i, r := range recs {
		batch[i] = r.AuditRecord
	}
	acked, sendErr := t.send(ctx, batch)
	if acked > len(recs) {
		acked = len(recs)
	}
	if acked > 0 {
		// The receiver has the records: record that even when ctx has just
		// ended (a stop), or they would all be sent again.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		moved, err := o.Store.AdvanceForward(actx, t.Name, o.Holder, recs[acked-1].Position, o.Now())
		cancel()
		if err != nil {
			t.setFailing(true)
			return 0, err
		}
		t.mu.Lock()
		if moved {
			t.status.Position = recs[acked-1].Position
			t.status.Forwarded += uint64(acked)
		} else {
			// Another replica took the lease while this one sent, or has
			// already moved the position past this batch: its position
			// wins, and the batch may reach the receiver twice. The next
			// pass's claim says which.
			t.status.Holding = false
			t.log.Info("audit forward position not moved: another replica holds the target or has sent past this batch")
		}
		t.mu.Unlock()
	}
	t.setFailing(sendErr != nil)
	return acked, sendErr
}

// send ships one batch, renewing the lease every third of it while the
// receiver takes its time, so a slow receiver does not hand the target to
// another replica (which would send the batch again). A renewal that
// finds the lease taken ends the send: the new holder sends the batch.
func (t *target) send(ctx context.Context, batch []wire.AuditRecord) (int, error) {
	o := t.f.o
	sctx, cancel := context.WithTimeout(ctx, o.SendTimeout)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(o.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
			now := o.Now()
			if _, held, err := o.Store.ClaimForward(sctx, t.Name, o.Holder, now, now.Add(o.Lease)); err == nil && !held {
				t.log.Info("audit forward lease taken over by another replica during a send; it sends the batch")
				cancel()
				return
			}
		}
	}()
	acked, err := t.Sender.ShipAudit(sctx, batch)
	cancel()
	<-renewed
	return acked, err
}

// drain sends batches until the target is caught up, this replica does
// not hold it, or ctx ends (the last pass of a stop).
func (t *target) drain(ctx context.Context) {
	for ctx.Err() == nil {
		sent, err := t.pass(ctx)
		if err != nil {
			t.log.Warn("audit records not forwarded before stopping; the next replica holding the target sends them", zap.Error(err))
			return
		}
		if sent < t.batch {
			return
		}
	}
}

func (t *target) setFailing(v bool) {
	t.mu.Lock()
	t.status.Failing = v
	t.mu.Unlock()
}

// backoff is min doubled per failure after the first, at most max.
func backoff(minWait, maxWait time.Duration, failures int) time.Duration {
	d := minWait
	for i := 1; i < failures && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

// sleep waits d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

var _ Store = (*storage.DB)(nil)
