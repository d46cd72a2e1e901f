package auditforward

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/server/storage"
)

// Pruner is what retention needs of the database; *storage.DB is one.
type Pruner interface {
	PruneAudit(ctx context.Context, before time.Time, targets []string, batch int, actor string) (storage.PruneResult, error)
}

// RetentionActor is the actor of the audit_retention events.
const RetentionActor = "server (audit.retention)"

// Retention defaults.
const (
	DefaultRetentionBatch    = 1000
	DefaultRetentionInterval = 10 * time.Minute
)

// RetentionOptions configure Retention; zero values take the defaults.
type RetentionOptions struct {
	Store Pruner
	// Retention: records older than this are deleted.
	Retention time.Duration
	// Targets are the audit.forward names: a record none of them has
	// acknowledged yet stays past the retention until they have.
	Targets []string
	// Batch is the most rows one DELETE removes.
	Batch int
	// Interval is the pause between passes; the first runs at Start.
	Interval time.Duration
	Now      func() time.Time
	Log      *zap.Logger
}

// Retention deletes old audit records until Stop. Every replica runs it:
// the deletes are idempotent, and each replica records what it deleted.
type Retention struct {
	o      RetentionOptions
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	status RetentionStatus
}

// RetentionStatus is what this replica's passes have done.
type RetentionStatus struct {
	// Deleted counts the records this replica's passes deleted.
	Deleted uint64
	// HeldBack is, at the last pass, how many records past the retention
	// were kept because a forwarding target has not acknowledged them.
	HeldBack int
	// Failing: the last pass failed.
	Failing bool
}

// Status reports the passes so far.
func (r *Retention) Status() RetentionStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// record notes a pass's result.
func (r *Retention) record(res storage.PruneResult, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Deleted += uint64(max(res.Deleted, 0))
	r.status.Failing = err != nil
	if err == nil {
		r.status.HeldBack = res.HeldBack
	}
}

// StartRetention starts the passes.
func StartRetention(o RetentionOptions) (*Retention, error) {
	if o.Store == nil || o.Retention <= 0 {
		return nil, errors.New("audit retention: no store or no retention")
	}
	if o.Batch <= 0 {
		o.Batch = DefaultRetentionBatch
	}
	if o.Interval <= 0 {
		o.Interval = DefaultRetentionInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Retention{o: o, cancel: cancel}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			_, _ = r.pass(ctx) // a failure is logged; the next pass tries again
			if !sleep(ctx, o.Interval) {
				return
			}
		}
	}()
	return r, nil
}

// pass deletes what is past the retention now.
func (r *Retention) pass(ctx context.Context) (storage.PruneResult, error) {
	before := r.o.Now().Add(-r.o.Retention)
	res, err := r.o.Store.PruneAudit(ctx, before, r.o.Targets, r.o.Batch, RetentionActor)
	if ctx.Err() == nil {
		r.record(res, err)
	}
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case err != nil:
		r.o.Log.Warn("audit retention pass failed; the next pass tries again", zap.Int("deleted", res.Deleted), zap.Error(err))
		return res, err
	}
	if res.Deleted > 0 {
		r.o.Log.Info("audit records past the retention deleted", zap.Int("deleted", res.Deleted), zap.Time("before", before))
	}
	if res.HeldBack > 0 {
		r.o.Log.Warn("audit records past the retention kept: a forwarding target has not acknowledged them",
			zap.Int("held_back", res.HeldBack))
	}
	return res, nil
}

// Stop ends the passes (one in progress ends with its current batch).
func (r *Retention) Stop() {
	r.cancel()
	r.wg.Wait()
}
